//! Stage 3: one image's model outputs → labels, tags, detections and faces, as the
//! catalog's plan says. Pure: no I/O, testable with hand-made outputs.

use std::collections::HashMap;

use sightline_core::Detection;
use sightline_vision::classify::Classification;
use sightline_vision::detect::decode_rows;
use sightline_vision::preprocess::LetterboxGeometry;
use sightline_vision::{ModelOutput, QuarterTurn};

use crate::plan::{CatalogPlan, FacePlan, ModelId, ModelSet};
use crate::rows::Analysis;

/// One image as the models saw it.
#[derive(Debug, Clone, Copy)]
pub struct ImageFrame {
    /// Upright image size in pixels.
    pub size: (u32, u32),
    /// Where the image sat in the detector's letterboxed input.
    pub detector: Option<LetterboxGeometry>,
    /// Where the image sat in the face detector's letterboxed input.
    pub faces: Option<LetterboxGeometry>,
}

/// What the models found in one image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// What the row reports (without a redacted key yet).
    pub analysis: Analysis,
    /// Every face of the upright pass above the catalog's threshold, gate or not (after
    /// NMS and cap). Redaction covers these and more: see [`crate::turns`].
    pub faces: Vec<Detection>,
    /// A redacting catalog's detections that its copy may hide whole, uncapped: the boxes
    /// of `redact_classes` and, with `redact = "faces_and_unfaced_people"`, the people
    /// (those without a face: [`regions_to_hide`]).
    pub redactable: Vec<Detection>,
}

/// Turns one image's model outputs into findings. A model of the plan without an output
/// in `outputs` contributes nothing. `head`: the catalog's trained head's classification
/// of the embedding, which replaces the classifier's own labels and tags.
pub fn analyze(
    plan: &CatalogPlan,
    models: &ModelSet,
    outputs: &HashMap<ModelId, ModelOutput>,
    frame: ImageFrame,
    head: Option<Classification>,
) -> Findings {
    let mut a = Analysis::default();
    let mut redactable = Vec::new();
    if let Some(c) = &plan.classifier {
        if let Some(out) = outputs.get(&c.model) {
            let classification = head.unwrap_or_else(|| c.classify(out));
            (a.labels, a.tags) = (classification.labels, classification.tags);
            a.embedding = out.embedding.clone();
        }
    }
    if let (Some(d), Some(geometry)) = (&plan.detector, frame.detector) {
        if let Some(out) = outputs.get(&d.model) {
            let labels = &models.get(d.model).labels;
            let rows = decode_rows(&out.detections, geometry, frame.size, labels);
            if let Some(f) = plan.faces.as_ref().filter(|f| f.hides_detections()) {
                let uncapped = d.filter.uncapped().apply(rows.clone()).into_iter();
                redactable = uncapped.filter(|det| f.may_hide(&det.label)).collect();
            }
            a.detections = d.filter.apply(rows);
            let tags = a.detections.iter().filter_map(|det| d.tags.get(&det.label));
            a.tags.extend(tags.flatten().cloned());
        }
    }
    let mut faces = Vec::new();
    if let (Some(f), Some(geometry)) = (&plan.faces, frame.faces) {
        if let Some(out) = outputs.get(&f.model) {
            faces = detect_faces(f, out, geometry, frame.size);
            let kept = faces_within(&faces, &a.detections, &f.config.within);
            if !kept.is_empty() {
                a.tags.extend(f.config.tags.iter().cloned());
            }
            a.detections.extend(kept);
        }
    }
    a.tags.sort();
    a.tags.dedup();
    Findings {
        analysis: a,
        faces,
        redactable,
    }
}

/// Faces above the threshold after NMS and cap, class ids after the detector's.
fn detect_faces(
    plan: &FacePlan,
    output: &ModelOutput,
    geometry: LetterboxGeometry,
    size: (u32, u32),
) -> Vec<Detection> {
    let decoded = (plan.decoder).decode(
        &output.raw,
        geometry,
        QuarterTurn::R0,
        size,
        plan.config.min_score,
    );
    let mut faces = plan.filter.apply(decoded);
    for f in &mut faces {
        f.class_id += plan.class_offset;
    }
    faces
}

/// The faces whose centre lies inside a detection labelled with one of `within` (all
/// faces when `within` is empty).
pub fn faces_within(
    faces: &[Detection],
    detections: &[Detection],
    within: &[String],
) -> Vec<Detection> {
    let inside = |f: &Detection| {
        let (cx, cy) = ((f.x_min + f.x_max) / 2.0, (f.y_min + f.y_max) / 2.0);
        detections.iter().any(|d| {
            within.contains(&d.label)
                && (d.x_min..=d.x_max).contains(&cx)
                && (d.y_min..=d.y_max).contains(&cy)
        })
    };
    faces
        .iter()
        .filter(|f| within.is_empty() || inside(f))
        .cloned()
        .collect()
}

/// The detector boxes a redacting catalog hides whole, of its `redactable` ones: every box
/// of `redact_classes`, and every person whose box holds the centre of none of `faces`
/// (the faces about to be hidden, any pass).
pub fn regions_to_hide(
    plan: &FacePlan,
    redactable: &[Detection],
    faces: &[Detection],
) -> Vec<Detection> {
    let wanted = |d: &&Detection| {
        plan.config.redact_classes.contains(&d.label)
            || faces_within(
                faces,
                std::slice::from_ref(*d),
                std::slice::from_ref(&d.label),
            )
            .is_empty()
    };
    redactable.iter().filter(wanted).cloned().collect()
}

/// Every region a redacting catalog hid is a detection of its row: those its detector
/// cap left out are added (the others are there already).
pub fn report_redacted_regions(analysis: &mut Analysis, regions: &[Detection]) {
    for r in regions {
        if !analysis.detections.contains(r) {
            analysis.detections.push(r.clone());
        }
    }
}

/// A redacting catalog's row reports every face it redacted (any turn, any re-check,
/// inside a person box or not) as its `face` detections, in place of the upright pass's
/// gated faces, their number in `faces_redacted`, and the catalog's face tags when there
/// is one.
pub fn report_redacted_faces(analysis: &mut Analysis, plan: &FacePlan, faces: Vec<Detection>) {
    analysis.faces_redacted = Some(i32::try_from(faces.len()).unwrap_or(i32::MAX));
    analysis
        .detections
        .retain(|d| !(d.class_id == plan.class_offset && d.label == "face"));
    if !faces.is_empty() {
        analysis.tags.extend(plan.config.tags.iter().cloned());
        analysis.tags.sort();
        analysis.tags.dedup();
    }
    analysis.detections.extend(faces.into_iter().map(|mut f| {
        f.class_id += plan.class_offset;
        f
    }));
}
