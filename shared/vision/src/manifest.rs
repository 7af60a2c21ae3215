//! Model manifests (`models/<name>.toml`): file, checksum, input, preprocessing, labels,
//! provenance. Loading a model verifies the checksum of the ONNX file and of the labels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use sightline_core::Precision;

use crate::classify::ScoreKind;
use crate::face::{FaceDecoder, FaceFormat};
use crate::preprocess::{Channels, Layout, Letterbox, Preprocess};
use crate::yolo::DetectionFormat;
use crate::{ClassifierPreprocess, VisionError};

/// What a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Image classification (logits over the label file, optional embedding).
    Classification,
    /// Object detection with decoding inside the graph (`outputs.detections`).
    Detection,
    /// Face detection from raw outputs (`outputs.raw`), decoded as `outputs.face_format`
    /// says: BlazeFace anchors or the CenterFace heatmap ([`crate::face::FaceDecoder`]).
    FaceDetection,
}

/// The model input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input tensor name.
    pub name: String,
    /// `nchw` or `nhwc`.
    pub layout: String,
    /// Shape; -1 marks a dynamic axis.
    pub shape: Vec<i64>,
    /// Colour order, `rgb` (default) or `bgr`; `mean` and `std` are in this order.
    #[serde(default)]
    pub channels: ChannelOrder,
}

/// `[input] channels` of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red.
    Bgr,
}

/// Preprocessing parameters, by `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PreprocessSpec {
    /// Shorter side to `resize_shorter`, centre crop `crop`, normalise, NCHW
    /// (see [`ClassifierPreprocess`]).
    CenterCrop {
        /// Shorter side after resizing.
        resize_shorter: u32,
        /// Centre-crop side.
        crop: u32,
        /// Mean per channel on the 0..1 scale.
        mean: [f32; 3],
        /// Std per channel on the 0..1 scale.
        std: [f32; 3],
    },
    /// Aspect-preserving resize into a `size` × `size` canvas, centred, normalise, in the
    /// input's layout (see [`crate::preprocess::Letterbox`]).
    Letterbox {
        /// Canvas side.
        size: u32,
        /// Mean per channel on the 0..1 scale.
        mean: [f32; 3],
        /// Std per channel on the 0..1 scale.
        std: [f32; 3],
        /// The padding's pixel value, 0..255 before normalisation (default 0: black;
        /// Ultralytics pads with 114).
        #[serde(default)]
        pad: u8,
    },
}

/// Output tensor names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Class scores, `[N, classes]` (classifiers), read as `scores` says.
    pub logits: Option<String>,
    /// What the `logits` output holds (default `logits`; `probabilities`; `sigmoid`).
    #[serde(default)]
    pub scores: ScoreKind,
    /// Embedding, `[N, dim]`, if the model exposes one.
    pub embedding: Option<String>,
    /// The embedding's width `dim` (required with `embedding`): the results table's
    /// `embedding` column has this many values per row for catalogs using this model.
    pub embedding_dim: Option<usize>,
    /// The detector's output (detectors), read as `detection_format` says.
    pub detections: Option<String>,
    /// How the `detections` output is laid out (default `rows`: decoded `[N, rows, 6]`).
    #[serde(default)]
    pub detection_format: DetectionFormat,
    /// Raw outputs returned as they are, in this order (face detectors).
    #[serde(default)]
    pub raw: Vec<String>,
    /// How a face detector's `raw` outputs are decoded (default `blazeface`).
    #[serde(default)]
    pub face_format: FaceFormat,
}

/// A model manifest as written in `models/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Model name (equals the manifest's file stem).
    pub name: String,
    /// Model version, stored in every results row.
    pub version: String,
    /// Numeric precision (default fp32). An int8 manifest is named `<fp32>_int8`.
    #[serde(default)]
    pub precision: Precision,
    /// For a quantized variant: the float32 model it was made from.
    pub fp32: Option<String>,
    /// What the model does.
    pub task: Task,
    /// ONNX file, relative to the models folder.
    pub file: String,
    /// Expected sha256 of the ONNX file (hex).
    pub sha256: String,
    /// Label file (one class per line), relative to the models folder.
    pub labels: String,
    /// Expected sha256 of the label file, if pinned.
    pub labels_sha256: Option<String>,
    /// Where the weights came from.
    pub source: String,
    /// Licence terms of code and weights.
    pub licence: String,
    /// Input tensor.
    pub input: InputSpec,
    /// Preprocessing.
    pub preprocess: PreprocessSpec,
    /// Output tensors.
    pub outputs: OutputSpec,
    /// Reference metrics from the source's evaluation.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// A manifest with its verified model bytes and labels.
#[derive(Debug)]
pub struct LoadedModel {
    /// The manifest.
    pub manifest: ModelManifest,
    /// The ONNX file's bytes (checksum verified).
    pub onnx: Arc<[u8]>,
    /// Class names, index = class id.
    pub labels: Vec<String>,
}

impl LoadedModel {
    /// The preprocessing this model expects.
    pub fn preprocess(&self) -> Preprocess {
        let input = &self.manifest.input;
        let layout = match input.layout.as_str() {
            "nchw" => Layout::Nchw,
            _ => Layout::Nhwc,
        };
        let channels = match input.channels {
            ChannelOrder::Rgb => Channels::Rgb,
            ChannelOrder::Bgr => Channels::Bgr,
        };
        match self.manifest.preprocess {
            PreprocessSpec::CenterCrop {
                resize_shorter,
                crop,
                mean,
                std,
            } => Preprocess::CenterCrop(ClassifierPreprocess {
                resize_shorter,
                crop,
                mean,
                std,
                layout,
                channels,
            }),
            PreprocessSpec::Letterbox {
                size,
                mean,
                std,
                pad,
            } => Preprocess::Letterbox(Letterbox {
                size,
                mean,
                std,
                pad,
                layout,
                channels,
            }),
        }
    }

    /// How a face detector's outputs are decoded (its format and input side).
    pub fn face_decoder(&self) -> FaceDecoder {
        let side = match self.manifest.preprocess {
            PreprocessSpec::Letterbox { size, .. } => size,
            PreprocessSpec::CenterCrop { crop, .. } => crop,
        };
        FaceDecoder {
            format: self.manifest.outputs.face_format,
            side,
        }
    }
}

/// The models folder: manifests, ONNX files, label files, `catalogs/`.
#[derive(Debug, Clone)]
pub struct ModelRegistry {
    dir: PathBuf,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ModelRegistry {
    /// A registry over `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelRegistry { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `<dir>/<name>.toml`.
    pub fn manifest(&self, name: &str) -> Result<ModelManifest, VisionError> {
        let err = |message: String| VisionError::Model {
            model: name.to_string(),
            message,
        };
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(err("invalid model name".into()));
        }
        let path = self.dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let hint = if name.ends_with("_int8") {
                " (precision = \"int8\" runs models/<model>_int8.toml: see models/quantize/README.md)"
            } else {
                ""
            };
            err(format!("cannot read manifest {}: {e}{hint}", path.display()))
        })?;
        let m: ModelManifest = toml::from_str(&text)
            .map_err(|e| err(format!("invalid manifest {}: {e}", path.display())))?;
        if m.name != name {
            return Err(err(format!(
                "manifest {} names itself {:?}",
                path.display(),
                m.name
            )));
        }
        let variant_of = m.fp32.as_deref().map(|f| m.precision.manifest_name(f));
        if m.precision != Precision::Fp32 && variant_of.as_deref() != Some(name) {
            return Err(err(format!(
                "manifest {}: a {:?} manifest names its float32 model (fp32 = \"<model>\") and is called <model>_int8",
                path.display(),
                m.precision
            )));
        }
        if m.precision == Precision::Fp32 && m.fp32.is_some() {
            return Err(err(format!(
                "manifest {}: fp32 = … belongs only in a quantized variant's manifest",
                path.display()
            )));
        }
        Ok(m)
    }

    /// Reads the manifest, the ONNX file and the labels, verifying both checksums.
    pub fn load(&self, name: &str) -> Result<Arc<LoadedModel>, VisionError> {
        let manifest = self.manifest(name)?;
        let err = |message: String| VisionError::Model {
            model: name.to_string(),
            message,
        };
        let path = self.dir.join(&manifest.file);
        let onnx = std::fs::read(&path)
            .map_err(|e| err(format!("cannot read model file {}: {e}", path.display())))?;
        let got = sha256_hex(&onnx);
        if !got.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(err(format!(
                "checksum mismatch for {}: manifest says sha256 {}, file has {got}; the file is corrupt or not the model the manifest describes",
                path.display(),
                manifest.sha256
            )));
        }
        let lpath = self.dir.join(&manifest.labels);
        let ltext = std::fs::read_to_string(&lpath)
            .map_err(|e| err(format!("cannot read labels {}: {e}", lpath.display())))?;
        if let Some(want) = &manifest.labels_sha256 {
            let got = sha256_hex(ltext.as_bytes());
            if !got.eq_ignore_ascii_case(want) {
                return Err(err(format!(
                    "checksum mismatch for {}: expected {want}, got {got}",
                    lpath.display()
                )));
            }
        }
        let labels: Vec<String> = ltext.lines().map(|l| l.trim().to_string()).collect();
        let o = &manifest.outputs;
        let consistent = match (manifest.task, &manifest.preprocess) {
            (Task::Classification, PreprocessSpec::CenterCrop { .. }) => {
                ["nchw", "nhwc"].contains(&manifest.input.layout.as_str())
                    && (o.logits.is_some() || o.embedding.is_some())
            }
            (Task::Detection, PreprocessSpec::Letterbox { .. }) => {
                ["nhwc", "nchw"].contains(&manifest.input.layout.as_str()) && o.detections.is_some()
            }
            (Task::FaceDetection, PreprocessSpec::Letterbox { size, .. }) => {
                manifest.input.layout == "nhwc"
                    && match o.face_format {
                        FaceFormat::Blazeface => o.raw.len() == 4 && *size == 256,
                        FaceFormat::Centerface => o.raw.len() >= 3 && size % 32 == 0,
                    }
            }
            _ => false,
        };
        if o.embedding.is_some() != o.embedding_dim.is_some_and(|d| d > 0) {
            return Err(err(
                "outputs.embedding and a positive outputs.embedding_dim go together".into(),
            ));
        }
        if !consistent {
            return Err(err("task, preprocessing kind, layout and outputs do not fit together \
                 (classification: center_crop, nchw or nhwc, logits or an embedding; detection: letterbox, nhwc or nchw, detections; \
                 face_detection: letterbox, nhwc, raw: 4 BlazeFace outputs at size 256 or 3 \
                 CenterFace outputs, heatmap, scale, offset, at a size that is a multiple of 32)"
                .into()));
        }
        Ok(Arc::new(LoadedModel {
            manifest,
            onnx: onnx.into(),
            labels,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> ModelRegistry {
        ModelRegistry::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
    }

    #[test]
    fn shipped_manifests_load_and_verify() {
        for name in ["efficientnet_lite0", "mobilenet_v2"] {
            let m = shipped().load(name).unwrap();
            assert_eq!(m.labels.len(), 1000);
            assert_eq!(m.manifest.outputs.embedding.as_deref(), Some("embedding"));
            assert_eq!(m.manifest.outputs.embedding_dim, Some(1280));
        }
        let d = shipped().load("centernet_mbv3_coco").unwrap();
        assert_eq!((d.manifest.task, d.labels.len()), (Task::Detection, 80));
        let f = shipped().load("blazeface_256").unwrap();
        assert_eq!(f.manifest.task, Task::FaceDetection);
        let want = FaceDecoder {
            format: FaceFormat::Blazeface,
            side: 256,
        };
        assert_eq!(f.face_decoder(), want);
        let c = shipped().load("centerface").unwrap();
        let want = FaceDecoder {
            format: FaceFormat::Centerface,
            side: 640,
        };
        assert_eq!(
            (c.manifest.task, c.face_decoder()),
            (Task::FaceDetection, want)
        );
        let q = shipped().load("efficientnet_lite0_int8").unwrap();
        assert_eq!(q.manifest.precision, Precision::Int8);
        assert_eq!(q.manifest.fp32.as_deref(), Some("efficientnet_lite0"));
        assert_eq!(q.manifest.outputs.embedding_dim, Some(1280));
        assert_eq!(q.labels.len(), 1000);
    }

    #[test]
    fn checksum_mismatch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let src = shipped();
        let text = std::fs::read_to_string(src.dir().join("mobilenet_v2.toml")).unwrap();
        std::fs::write(dir.path().join("mobilenet_v2.toml"), text).unwrap();
        std::fs::write(dir.path().join("mobilenet_v2_embed.onnx"), b"not the model").unwrap();
        std::fs::copy(
            src.dir().join("imagenet_labels.txt"),
            dir.path().join("imagenet_labels.txt"),
        )
        .unwrap();
        let e = ModelRegistry::new(dir.path())
            .load("mobilenet_v2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        let e = ModelRegistry::new(dir.path())
            .load("nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read manifest"), "{e}");
    }

    #[test]
    fn a_quantized_manifest_must_name_its_float_model() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            std::fs::read_to_string(shipped().dir().join("efficientnet_lite0_int8.toml")).unwrap();
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
            ModelRegistry::new(dir.path()).manifest(name)
        };
        assert!(write("efficientnet_lite0_int8", &text).is_ok());
        let other = text.replace("fp32 = \"efficientnet_lite0\"", "fp32 = \"mobilenet_v2\"");
        let e = write("efficientnet_lite0_int8", &other)
            .unwrap_err()
            .to_string();
        assert!(e.contains("<model>_int8"), "{e}");
        let orphan = text.replace("fp32 = \"efficientnet_lite0\"", "");
        assert!(write("efficientnet_lite0_int8", &orphan).is_err());
        let float = text.replace("precision = \"int8\"", "precision = \"fp32\"");
        let e = write("efficientnet_lite0_int8", &float)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only in a quantized"), "{e}");
    }
}
