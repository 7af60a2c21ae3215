//! `sightline models import` and `inspect`: what an ONNX file says about itself (its
//! tensors and the metadata exporters write) and the manifest that runs it. Ultralytics
//! exports need nothing but a name: their metadata gives the task, the class names and
//! the input size, and their tensor layouts are known (letterbox padded with 114, /255,
//! NCHW; YOLOv8/YOLO11 `[1, 4 + classes, anchors]`, YOLOv5 `[1, anchors, 5 + classes]`,
//! `nms=True` exports `[1, N, 6]`; classify: shorter side to the size, centre crop, /255,
//! probabilities). Other classifiers take their preprocessing from [`ImportOptions`].

use std::collections::BTreeMap;

use ort::environment::Environment;
use ort::session::Session;

use crate::classify::ScoreKind;
use crate::VisionError;

/// One graph input or output: its name and shape (-1 for a dynamic axis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Dimensions; -1 where dynamic.
    pub shape: Vec<i64>,
}

/// What an ONNX file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OnnxSignature {
    /// Graph inputs.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// The model's metadata properties (Ultralytics: `names`, `imgsz`, `task`, `stride`…).
    pub metadata: BTreeMap<String, String>,
}

/// Reads the tensors and metadata of an ONNX model through ONNX Runtime.
pub fn read_signature(env: &Environment, onnx: &[u8]) -> Result<OnnxSignature, VisionError> {
    let err = |e: String| VisionError::Model {
        model: "the ONNX file".into(),
        message: e,
    };
    let session = Session::builder(env)
        .and_then(|mut b| b.commit_from_memory(onnx))
        .map_err(|e| err(format!("ONNX Runtime cannot load it: {e}")))?;
    let info = |o: &ort::value::Outlet| TensorInfo {
        name: o.name().to_string(),
        shape: o
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default(),
    };
    let meta = session.metadata().map_err(|e| err(e.to_string()))?;
    let keys = meta.custom_keys().map_err(|e| err(e.to_string()))?;
    let metadata = keys
        .into_iter()
        .filter_map(|k| meta.custom(&k).map(|v| (k, v)))
        .collect();
    Ok(OnnxSignature {
        inputs: session.inputs().iter().map(info).collect(),
        outputs: session.outputs().iter().map(info).collect(),
        metadata,
    })
}

/// What `models import` is told besides the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Model name: the manifest is `<name>.toml`.
    pub name: String,
    /// The ONNX file's name in the models folder.
    pub file: String,
    /// The label file's name in the models folder.
    pub labels_file: String,
    /// Class names (one per class), when the file's metadata has none.
    pub labels: Option<Vec<String>>,
    /// `classification`, `detection` or `embedding` (an encoder without logits: rows store
    /// its embedding, heads train on it), when the metadata does not say.
    pub task: Option<String>,
    /// Classifiers: shorter side after the resize (default: the crop, Ultralytics' way).
    pub resize_shorter: Option<u32>,
    /// Classifiers: centre-crop side (default: the input's size).
    pub crop: Option<u32>,
    /// Mean per channel on the 0..1 scale (default 0).
    pub mean: Option<[f32; 3]>,
    /// Std per channel on the 0..1 scale (default 1).
    pub std: Option<[f32; 3]>,
    /// Classifiers: what the output holds (Ultralytics: probabilities; else logits).
    pub scores: Option<ScoreKind>,
    /// The input's colour order is blue, green, red (Caffe, OpenCV-trained models).
    pub bgr: bool,
}

/// A manifest ready to write, and the labels file's lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The manifest's TOML text.
    pub manifest: String,
    /// Class names, index = class id.
    pub labels: Vec<String>,
}

/// Ultralytics' `names` metadata, a Python dict literal `{0: 'person', 1: "it's", …}`:
/// the names in id order; `None` when it is not such a literal with ids 0..n.
pub fn parse_names(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = BTreeMap::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (id, after) = rest.split_once(':')?;
        let id: usize = id.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let mut name = String::new();
        let mut chars = after[1..].char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => name.push(chars.next()?.1),
                c if c == quote => break i + 2,
                c => name.push(c),
            }
        };
        names.insert(id, name);
        rest = after[end..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    let ordered: Vec<String> = names.values().cloned().collect();
    (names.keys().copied().eq(0..ordered.len()) && !ordered.is_empty()).then_some(ordered)
}

/// Drafts the manifest of a model from its signature, its sha256 and `opts`. Errors say
/// what could not be told and which flag tells it.
pub fn draft_manifest(
    sig: &OnnxSignature,
    sha256: &str,
    opts: &ImportOptions,
) -> Result<Draft, String> {
    let [input] = sig.inputs.as_slice() else {
        return Err(format!(
            "the graph has {} inputs; one image input is supported",
            sig.inputs.len()
        ));
    };
    let [b, d1, d2, d3] = input.shape[..] else {
        return Err(format!(
            "input {:?} has shape {:?}; an image input has rank 4",
            input.name, input.shape
        ));
    };
    let nchw = d1 == 3;
    let (h, w) = if nchw { (d2, d3) } else { (d1, d2) };
    let size = match imgsz(&sig.metadata).or((h > 0 && h == w).then_some(h as u32)) {
        Some(s) => s,
        None => {
            return Err(format!(
                "input {:?} has shape {:?}: no square size to run at",
                input.name, input.shape
            ))
        }
    };
    let named = sig.metadata.get("names").and_then(|n| parse_names(n));
    let task = opts
        .task
        .clone()
        .or_else(|| sig.metadata.get("task").cloned());
    let encoder = task.as_deref() == Some("embedding");
    let Some(labels) = opts.labels.clone().or(named).or(encoder.then(Vec::new)) else {
        return Err(
            "the file has no `names` metadata: give --labels FILE (one class per line)".into(),
        );
    };
    let ultralytics = sig.metadata.contains_key("names") && sig.metadata.contains_key("imgsz");
    let task = opts
        .task
        .clone()
        .or_else(|| sig.metadata.get("task").cloned());
    let layout = if nchw { "nchw" } else { "nhwc" };
    let mean = opts.mean.unwrap_or([0.0; 3]);
    let std = opts.std.unwrap_or([1.0; 3]);
    let batch = if b > 0 { b } else { -1 };
    let shape = if nchw {
        format!("[{batch}, 3, {size}, {size}]")
    } else {
        format!("[{batch}, {size}, {size}, 3]")
    };
    let channels = if opts.bgr { "channels = \"bgr\"\n" } else { "" };
    let [output] = sig.outputs.as_slice() else {
        return Err(format!("the graph has {} outputs; import reads one (write the manifest by hand: docs/models.md)", sig.outputs.len()));
    };
    let body = match task.as_deref() {
        Some("detect" | "detection") => {
            let format = detection_format(&output.shape, labels.len())?;
            let pad = if ultralytics { 114 } else { 0 };
            format!(
                "task = \"detection\"\n{head}\n[input]\nname = {:?}\nlayout = \"{layout}\"\nshape = {shape}\n{channels}\n\
                 [preprocess]\nkind = \"letterbox\"\nsize = {size}\nmean = {mean:?}\nstd = {std:?}\npad = {pad}\n\n\
                 [outputs]\ndetections = {:?}\ndetection_format = \"{format}\"\n",
                input.name, output.name, head = "{head}"
            )
        }
        Some("classify" | "classification") => {
            let crop = opts.crop.unwrap_or(size);
            let resize = opts.resize_shorter.unwrap_or(crop);
            let scores = opts.scores.unwrap_or(if ultralytics {
                ScoreKind::Probabilities
            } else {
                ScoreKind::Logits
            });
            let scores = match scores {
                ScoreKind::Logits => "logits",
                ScoreKind::Probabilities => "probabilities",
                ScoreKind::Sigmoid => "sigmoid",
            };
            if output
                .shape
                .last()
                .is_some_and(|&n| n > 0 && n as usize != labels.len())
            {
                return Err(format!(
                    "output {:?} has shape {:?} but there are {} labels",
                    output.name,
                    output.shape,
                    labels.len()
                ));
            }
            format!(
                "task = \"classification\"\n{head}\n[input]\nname = {:?}\nlayout = \"{layout}\"\nshape = {shape}\n{channels}\n\
                 [preprocess]\nkind = \"center_crop\"\nresize_shorter = {resize}\ncrop = {crop}\nmean = {mean:?}\nstd = {std:?}\n\n\
                 [outputs]\nlogits = {:?}\nscores = \"{scores}\"\n",
                input.name, output.name, head = "{head}"
            )
        }
        Some("embedding") => {
            let crop = opts.crop.unwrap_or(size);
            let resize = opts.resize_shorter.unwrap_or(crop);
            let dim = match output.shape[..] {
                [_, d] if d > 0 => d,
                _ => {
                    return Err(format!(
                        "output {:?} has shape {:?}: an embedding is [N, dim] with a fixed dim",
                        output.name, output.shape
                    ))
                }
            };
            format!(
                "task = \"classification\"\n{head}\n[input]\nname = {:?}\nlayout = \"{layout}\"\nshape = {shape}\n{channels}\n\
                 [preprocess]\nkind = \"center_crop\"\nresize_shorter = {resize}\ncrop = {crop}\nmean = {mean:?}\nstd = {std:?}\n\n\
                 [outputs]\n# No logits: rows store the embedding; `sightline retrain` trains a head on it.\n\
                 embedding = {:?}\nembedding_dim = {dim}\n",
                input.name, output.name, head = "{head}"
            )
        }
        Some(other) => {
            return Err(format!(
                "task {other:?}: import knows classify / classification, detect / detection and embedding"
            ))
        }
        None => {
            return Err(
                "the file does not say its task: give --task classification, detection or embedding"
                    .into(),
            )
        }
    };
    let source = match sig.metadata.get("description") {
        Some(d) => format!("Imported by `sightline models import`; the file says: {d}"),
        None => "Imported by `sightline models import`".into(),
    };
    let head = format!(
        "file = {:?}\nsha256 = \"{sha256}\"\nlabels = {:?}\nsource = {source:?}\n\
         licence = \"Not stated by the file: write the weights' licence here (Ultralytics models: AGPL-3.0 or an Enterprise licence)\"\n",
        opts.file, opts.labels_file
    );
    let manifest = format!(
        "# Written by `sightline models import` (docs/models.md: every field).\nname = {:?}\nversion = \"1.0.0\"\n{}",
        opts.name,
        body.replace("{head}", &head)
    );
    Ok(Draft { manifest, labels })
}

/// Ultralytics' `imgsz` metadata (`[640, 640]`) when square.
fn imgsz(metadata: &BTreeMap<String, String>) -> Option<u32> {
    let text = metadata.get("imgsz")?;
    let dims: Vec<u32> = text
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|d| d.trim().parse().ok())
        .collect::<Option<_>>()?;
    match dims[..] {
        [s] => Some(s),
        [h, w] if h == w => Some(h),
        _ => None,
    }
}

/// Which detector layout an output of `shape` is, for `classes` labels.
fn detection_format(shape: &[i64], classes: usize) -> Result<&'static str, String> {
    let n = classes as i64;
    match shape {
        // Two classes: [1, 6, anchors] is YOLOv8's, not rows of 6.
        [_, 6, a] if *a > 6 && n == 2 => Ok("yolov8"),
        [_, _, 6] => Ok("rows"),
        [_, c, _] if *c == 4 + n => Ok("yolov8"),
        [_, _, c] if *c == 5 + n => Ok("yolov5"),
        _ => Err(format!(
            "output shape {shape:?} is none of the known detector layouts for {classes} classes: \
             [1, 4 + classes, anchors] (YOLOv8/YOLO11), [1, anchors, 5 + classes] (YOLOv5), \
             [1, N, 6] (decoded rows)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_parse_in_id_order() {
        assert_eq!(
            parse_names("{0: 'person', 1: \"it's\", 2: 'a, b', 3: 'x\\'y'}").unwrap(),
            ["person", "it's", "a, b", "x'y"]
        );
        assert!(parse_names("{1: 'a'}").is_none(), "ids start at 0");
        assert!(parse_names("['a']").is_none());
        assert!(parse_names("{}").is_none());
    }

    fn signature(output: Vec<i64>, task: &str) -> OnnxSignature {
        let t = |name: &str, shape: Vec<i64>| TensorInfo {
            name: name.into(),
            shape,
        };
        OnnxSignature {
            inputs: vec![t("images", vec![1, 3, 640, 640])],
            outputs: vec![t("output0", output)],
            metadata: [
                ("names", "{0: 'a', 1: 'b', 2: 'c'}"),
                ("imgsz", "[640, 640]"),
                ("task", task),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    fn opts() -> ImportOptions {
        ImportOptions {
            name: "mine".into(),
            file: "mine.onnx".into(),
            labels_file: "mine_labels.txt".into(),
            labels: None,
            task: None,
            resize_shorter: None,
            crop: None,
            mean: None,
            std: None,
            scores: None,
            bgr: false,
        }
    }

    #[test]
    fn ultralytics_layouts_are_recognised() {
        for (shape, want) in [
            (vec![1, 7, 8400], "yolov8"),
            (vec![1, 25200, 8], "yolov5"),
            (vec![1, 300, 6], "rows"),
        ] {
            let d = draft_manifest(&signature(shape, "detect"), "ab", &opts()).unwrap();
            assert!(
                d.manifest
                    .contains(&format!("detection_format = \"{want}\"")),
                "{}",
                d.manifest
            );
            assert!(d.manifest.contains("pad = 114") && d.manifest.contains("layout = \"nchw\""));
            assert_eq!(d.labels, ["a", "b", "c"]);
        }
        let e = draft_manifest(&signature(vec![1, 9, 8400], "detect"), "ab", &opts()).unwrap_err();
        assert!(e.contains("none of the known detector layouts"), "{e}");
        let bgr = ImportOptions {
            bgr: true,
            ..opts()
        };
        let d = draft_manifest(&signature(vec![1, 7, 8400], "detect"), "ab", &bgr).unwrap();
        let m: crate::manifest::ModelManifest = toml::from_str(&d.manifest).unwrap();
        assert_eq!(m.input.channels, crate::manifest::ChannelOrder::Bgr);
        let c = draft_manifest(&signature(vec![1, 3], "classify"), "ab", &opts()).unwrap();
        let m: crate::manifest::ModelManifest = toml::from_str(&c.manifest).unwrap();
        assert_eq!(m.outputs.scores, ScoreKind::Probabilities);
        assert!(
            c.manifest.contains("scores = \"probabilities\"") && c.manifest.contains("crop = 640")
        );
        let e = draft_manifest(&signature(vec![1, 8], "embedding"), "ab", &opts()).unwrap();
        assert!(e.manifest.contains("embedding_dim = 8") && !e.manifest.contains("logits ="));
        let mut no_task = signature(vec![1, 3], "");
        no_task.metadata.remove("task");
        assert!(draft_manifest(&no_task, "ab", &opts())
            .unwrap_err()
            .contains("--task"));
    }
}
