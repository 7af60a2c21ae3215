//! A model's session checked against its manifest at start-up, so that a model that does
//! not fit its manifest stops the process with a clear error instead of turning a batch
//! into error rows: the input's name, rank and fixed sizes, every output named, and the
//! detector and classifier outputs' fixed sizes against the label count (a dynamic axis,
//! -1, is not checked).

use ort::session::Session;

use crate::manifest::LoadedModel;
use crate::yolo::DetectionFormat;

/// What does not fit, naming the tensor and what was expected.
pub(crate) fn check(session: &Session, model: &LoadedModel) -> Result<(), String> {
    let m = &model.manifest;
    let shape_of = |outlets: &[ort::value::Outlet], name: &str| -> Result<Vec<i64>, String> {
        let found = outlets.iter().find(|o| o.name() == name).ok_or_else(|| {
            let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
            format!("the graph has no tensor {name:?} (it has {names:?})")
        })?;
        Ok(found
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default())
    };
    let input = shape_of(session.inputs(), &m.input.name)?;
    if input.len() != m.input.shape.len() {
        return Err(format!(
            "input {:?} has rank {} ({input:?}), the manifest's input.shape {:?} has {}",
            m.input.name,
            input.len(),
            m.input.shape,
            m.input.shape.len()
        ));
    }
    let differs = input
        .iter()
        .zip(&m.input.shape)
        .any(|(&g, &w)| g > 0 && w > 0 && g != w);
    if differs {
        return Err(format!(
            "input {:?} has shape {input:?}, the manifest says {:?} ({} layout)",
            m.input.name, m.input.shape, m.input.layout
        ));
    }
    let o = &m.outputs;
    let named = [&o.logits, &o.embedding, &o.detections];
    for name in named.into_iter().flatten().chain(&o.raw) {
        shape_of(session.outputs(), name)?;
    }
    let classes = model.labels.len() as i64;
    if let Some(name) = &o.logits {
        let shape = shape_of(session.outputs(), name)?;
        if let Some(&n) = shape.last().filter(|&&n| n > 0 && n != classes) {
            return Err(format!(
                "output {name:?} has {n} classes, the label file {} has {classes}",
                m.labels
            ));
        }
    }
    if let Some(name) = &o.detections {
        let shape = shape_of(session.outputs(), name)?;
        let (axis, want, layout) = match o.detection_format {
            DetectionFormat::Rows => (2, 6, "[N, rows, 6]"),
            DetectionFormat::Yolov8 => (1, 4 + classes, "[N, 4 + classes, anchors]"),
            DetectionFormat::Yolov5 => (2, 5 + classes, "[N, anchors, 5 + classes]"),
        };
        let got = shape.get(axis).copied();
        if shape.len() != 3 || got.is_some_and(|g| g > 0 && g != want) {
            return Err(format!(
                "output {name:?} has shape {shape:?}; detection_format = {:?} reads {layout} \
                 with the {classes} labels of {}: {want} at axis {axis}",
                o.detection_format, m.labels
            ));
        }
    }
    Ok(())
}
