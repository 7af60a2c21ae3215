//! Catalogs: which models run on a catalog's images and how their outputs become tags.
//! One TOML file per catalog under `models/catalogs/` (see `retail.toml` for every field).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::{CoreError, Redact, RedactLook};

/// Classifier settings of a catalog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Model name (a manifest `models/<model>.toml`).
    pub model: String,
    /// Which variant of the model runs (default: fp32); see [`Precision`].
    #[serde(default)]
    pub precision: Precision,
    /// How many classes to keep per image. Default: 5.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Classes below this probability are not stored (the top-1 class always is). Default: 0.0.
    #[serde(default)]
    pub min_score: f32,
    /// A label contributes its taxonomy tags only at or above this probability. Default: 0.2.
    #[serde(default = "default_tag_min_score")]
    pub tag_min_score: f32,
    /// Zero-shot classes: a prompts file (relative to the models folder; docs/models.md)
    /// holding each class's text embedding from the same CLIP-style model as the image
    /// encoder `model`; an image's labels are the classes by cosine similarity, scaled by
    /// the file's `logit_scale`, softmaxed. Default: none (the model's own classes).
    #[serde(default)]
    pub zero_shot: Option<String>,
}

/// Detector settings of a catalog. Post-processing (thresholds, class-aware NMS, cap)
/// happens in `sightline_vision::detect`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Model name (a manifest `models/<model>.toml` with `task = "detection"`).
    pub model: String,
    /// Which variant of the model runs (default: fp32); see [`Precision`].
    #[serde(default)]
    pub precision: Precision,
    /// Detections below this score are dropped. Default: 0.3.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Per-class score thresholds by detector label, overriding `min_score`.
    #[serde(default)]
    pub class_min_score: BTreeMap<String, f32>,
    /// Keep only these detector labels (default: all).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Class-aware non-maximum suppression IoU. Default: 0.5.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// At most this many detections per image. Default: 20.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// Tag → detector labels that produce it (a detection kept by the filters gives its tags).
    #[serde(default)]
    pub taxonomy: BTreeMap<String, Vec<String>>,
}

fn default_min_score() -> f32 {
    0.3
}

/// Face detection settings of a catalog (BlazeFace). Faces appear in the `detections`
/// column with the label `face`; they can also be redacted into a copy of the image.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceConfig {
    /// Model name (a manifest with `task = "face_detection"`).
    pub model: String,
    /// Faces below this score are dropped. Default: 0.5 (real frontal faces score
    /// 0.65–0.97 on the COCO dev images; animal faces and patterns reach 0.7, see `within`).
    #[serde(default = "default_face_min_score")]
    pub min_score: f32,
    /// The threshold of the passes over the image turned by 90, 180 and 270 degrees (a
    /// catalog that redacts). Default: `min_score`. A sideways face is usually a large one
    /// (a phone photo stored turned), and a low threshold there mostly finds textures.
    #[serde(default)]
    pub turned_min_score: Option<f32>,
    /// Non-maximum suppression IoU between faces. Default: 0.3.
    #[serde(default = "default_face_nms_iou")]
    pub nms_iou: f32,
    /// At most this many faces per image. Default: 20.
    #[serde(default = "default_max_detections")]
    pub max_faces: usize,
    /// Keep a face in the results only when its centre lies inside a detection with one
    /// of these detector labels (e.g. `["person"]`; needs a `[detector]`). Default: none,
    /// every face is kept. Redaction ignores this gate: it errs on the side of privacy.
    #[serde(default)]
    pub within: Vec<String>,
    /// Write a copy with every face above `min_score` hidden to `redacted/<key>` (the
    /// original is never modified): `true` / `"faces"`, or `"faces_and_unfaced_people"`
    /// (also every person box without a face). Default: false.
    #[serde(default)]
    pub redact: Redact,
    /// How the copy hides a region: `"fill"` (the default), `"pixelate"` or `"blur"`.
    #[serde(default)]
    pub redact_style: RedactLook,
    /// Detector labels whose boxes the copy hides too, like faces (e.g. a licence-plate
    /// class of your own detector; they must be kept by `[detector] classes`). Every box
    /// hidden is a detection of the row. Needs `redact`. Default: none.
    #[serde(default)]
    pub redact_classes: Vec<String>,
    /// Tags given to an image with at least one kept face (e.g. `["face"]`). Default: none.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl FaceConfig {
    /// The settings that need a detector, or a redacted copy, have them.
    fn check(&self, detector: Option<&DetectorConfig>) -> Result<(), String> {
        let needs_detector = |what: &str| {
            format!("faces.{what} names detector labels but the catalog has no [detector]")
        };
        if !self.within.is_empty() && detector.is_none() {
            return Err(needs_detector("within"));
        }
        if !self.redact_classes.is_empty() && !self.redact.is_on() {
            return Err("faces.redact_classes needs faces.redact".into());
        }
        let Some(d) = detector else {
            if !self.redact_classes.is_empty() {
                return Err(needs_detector("redact_classes"));
            }
            if self.redact == Redact::FacesAndUnfacedPeople {
                return Err(
                    "faces.redact = \"faces_and_unfaced_people\" needs a [detector] with a \
                     person label"
                        .into(),
                );
            }
            return Ok(());
        };
        let people = (self.redact == Redact::FacesAndUnfacedPeople).then_some("person");
        let hidden = self.redact_classes.iter().map(String::as_str).chain(people);
        for label in hidden {
            if d.classes
                .as_ref()
                .is_some_and(|kept| !kept.iter().any(|k| k == label))
            {
                return Err(format!(
                    "faces: {label:?} is to be redacted but [detector] classes does not keep it"
                ));
            }
        }
        Ok(())
    }
}

fn default_face_min_score() -> f32 {
    0.5
}
fn default_face_nms_iou() -> f32 {
    0.3
}
fn default_nms_iou() -> f32 {
    0.5
}
fn default_max_detections() -> usize {
    20
}

fn default_top_k() -> usize {
    5
}
fn default_tag_min_score() -> f32 {
    0.2
}

/// The numeric precision of a model variant (`precision = "fp32" | "int8"` in a catalog's
/// `[classifier]` or `[detector]`, and in a model manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The float32 model as published. The default.
    #[default]
    Fp32,
    /// A statically quantized INT8 variant (`models/<model>_int8.toml`, made by
    /// `models/quantize/quantize.py`): smaller, and faster on CPUs with VNNI.
    Int8,
}

impl Precision {
    /// The manifest that holds `model` at this precision: `model` itself for fp32,
    /// `<model>_int8` for int8.
    pub fn manifest_name(self, model: &str) -> String {
        match self {
            Precision::Fp32 => model.to_string(),
            Precision::Int8 => format!("{model}_int8"),
        }
    }
}

impl ClassifierConfig {
    /// The manifest this classifier runs (see [`Precision::manifest_name`]).
    pub fn manifest_name(&self) -> String {
        self.precision.manifest_name(&self.model)
    }
}

impl DetectorConfig {
    /// The manifest this detector runs (see [`Precision::manifest_name`]).
    pub fn manifest_name(&self) -> String {
        self.precision.manifest_name(&self.model)
    }
}

/// How a catalog's JPEGs are decoded for its models (`decode = "scaled" | "full"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecodeMode {
    /// libjpeg-turbo shrinks a large JPEG while decoding it (DCT scaling: 1/2, 1/4 or
    /// 1/8) as far as every model of the catalog keeps twice the pixels its preprocessing
    /// resizes to. Rows still report the original width, height and boxes. The default.
    /// (A catalog that redacts faces decodes at full size: its copy needs every pixel.)
    #[default]
    Scaled,
    /// Every pixel decoded: tensors bit-exact with the models' reference preprocessing.
    Full,
}

/// One catalog (`retail`, `security`, `medical`, …).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Catalog name; must equal the file stem and the `incoming/<name>/` key prefix.
    pub name: String,
    /// What the catalog is for.
    #[serde(default)]
    pub description: String,
    /// The classifier, if the catalog classifies.
    pub classifier: Option<ClassifierConfig>,
    /// The object detector, if the catalog detects.
    pub detector: Option<DetectorConfig>,
    /// The face detector, if the catalog looks for faces.
    #[serde(default)]
    pub faces: Option<FaceConfig>,
    /// Tag → model labels that produce it (exact label-file names). Labels not listed
    /// produce no tag.
    #[serde(default)]
    pub taxonomy: BTreeMap<String, Vec<String>>,
    /// How JPEGs are decoded for the models (default: scaled).
    #[serde(default)]
    pub decode: DecodeMode,
}

impl CatalogConfig {
    /// Parses one catalog from TOML text; `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, CoreError> {
        let c: CatalogConfig = toml::from_str(text).map_err(|e| CoreError::Invalid {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        if c.name.is_empty() || c.name.contains('/') || c.name.contains('=') {
            return Err(CoreError::Invalid {
                origin: origin.to_string(),
                message: format!(
                    "catalog name {:?} must be non-empty without '/' or '='",
                    c.name
                ),
            });
        }
        if c.classifier.is_none() && c.detector.is_none() && c.faces.is_none() {
            return Err(CoreError::Invalid {
                origin: origin.to_string(),
                message: "a catalog needs a [classifier], a [detector] or [faces]".into(),
            });
        }
        if let Some(f) = &c.faces {
            f.check(c.detector.as_ref())
                .map_err(|message| CoreError::Invalid {
                    origin: origin.to_string(),
                    message,
                })?;
        }
        if let Some(cl) = &c.classifier {
            if cl.top_k == 0 {
                return Err(CoreError::Invalid {
                    origin: origin.to_string(),
                    message: "classifier.top_k must be at least 1".into(),
                });
            }
        }
        Ok(c)
    }

    /// Label → tags, the inverse of [`CatalogConfig::taxonomy`].
    pub fn tags_by_label(&self) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (tag, labels) in &self.taxonomy {
            for l in labels {
                m.entry(l.clone()).or_default().push(tag.clone());
            }
        }
        m
    }

    /// The manifest of every model the catalog runs (classifier first), precision applied.
    pub fn model_names(&self) -> Vec<String> {
        let c = self.classifier.iter().map(|c| c.manifest_name());
        c.chain(self.detector.iter().map(|d| d.manifest_name()))
            .chain(self.faces.iter().map(|f| f.model.clone()))
            .collect()
    }
}

/// All catalogs known to a deployment, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    by_name: BTreeMap<String, CatalogConfig>,
}

impl Catalogs {
    /// Loads every `*.toml` in `dir`. A file whose `name` differs from its stem is an error.
    pub fn load_dir(dir: &Path) -> Result<Self, CoreError> {
        let io = |e| CoreError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        let mut by_name = BTreeMap::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let origin = p.display().to_string();
            let text = std::fs::read_to_string(&p).map_err(|e| CoreError::Io {
                path: origin.clone(),
                source: e,
            })?;
            let c = CatalogConfig::from_toml(&text, &origin)?;
            if p.file_stem().and_then(|s| s.to_str()) != Some(c.name.as_str()) {
                return Err(CoreError::Invalid {
                    origin,
                    message: format!("catalog name {:?} must match the file name", c.name),
                });
            }
            by_name.insert(c.name.clone(), c);
        }
        Ok(Catalogs { by_name })
    }

    /// Reads one catalog file (any path; the catalog is called by its `name`).
    pub fn load_file(path: &Path) -> Result<CatalogConfig, CoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        CatalogConfig::from_toml(&text, &path.display().to_string())
    }

    /// Adds `config`, replacing a catalog of the same name.
    pub fn insert(&mut self, config: CatalogConfig) {
        self.by_name.insert(config.name.clone(), config);
    }

    /// Builds a set from configs already in memory.
    pub fn from_configs(configs: impl IntoIterator<Item = CatalogConfig>) -> Self {
        Catalogs {
            by_name: configs.into_iter().map(|c| (c.name.clone(), c)).collect(),
        }
    }

    /// The catalog called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&CatalogConfig> {
        self.by_name.get(name)
    }

    /// The catalog called `name`, or an error listing the known names.
    pub fn require(&self, name: &str) -> Result<&CatalogConfig, CoreError> {
        self.get(name).ok_or_else(|| CoreError::UnknownCatalog {
            name: name.to_string(),
            known: self.names().collect::<Vec<_>>().join(", "),
        })
    }

    /// Catalog names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// All catalogs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &CatalogConfig> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_inverts_taxonomy() {
        let c = CatalogConfig::from_toml(
            "name = \"retail\"\n[classifier]\nmodel = \"m\"\n[taxonomy]\nfootwear = [\"clog\", \"sandal\"]\nsports = [\"sandal\"]\n",
            "t",
        )
        .unwrap();
        let cl = c.classifier.as_ref().unwrap();
        assert_eq!((cl.top_k, cl.min_score, cl.tag_min_score), (5, 0.0, 0.2));
        let inv = c.tags_by_label();
        assert_eq!(
            inv["sandal"],
            vec!["footwear".to_string(), "sports".to_string()]
        );
        assert_eq!(inv["clog"], vec!["footwear".to_string()]);
    }

    #[test]
    fn detector_defaults_and_model_names() {
        let c = CatalogConfig::from_toml("name = \"s\"\n[detector]\nmodel = \"d\"\n", "t").unwrap();
        let d = c.detector.as_ref().unwrap();
        assert_eq!((d.min_score, d.nms_iou, d.max_detections), (0.3, 0.5, 20));
        assert_eq!(c.model_names(), vec!["d"]);
        let f = CatalogConfig::from_toml(
            "name = \"s\"\n[detector]\nmodel = \"d\"\n[faces]\nmodel = \"f\"\nwithin = [\"person\"]\n",
            "t",
        )
        .unwrap();
        let fc = f.faces.as_ref().unwrap();
        assert_eq!(
            (fc.min_score, fc.nms_iou, fc.max_faces, fc.redact),
            (0.5, 0.3, 20, Redact::Off)
        );
        assert_eq!(fc.redact_style, RedactLook::Fill);
        assert_eq!(f.model_names(), vec!["d", "f"]);
        let q = CatalogConfig::from_toml(
            "name = \"s\"\n[classifier]\nmodel = \"c\"\nprecision = \"int8\"\n[detector]\nmodel = \"d\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(q.model_names(), vec!["c_int8", "d"]);
        assert_eq!(q.detector.as_ref().unwrap().precision, Precision::Fp32);
        assert!(
            CatalogConfig::from_toml(
                "name = \"s\"\n[classifier]\nmodel = \"c\"\nprecision = \"int4\"\n",
                "t"
            )
            .is_err(),
            "an unknown precision"
        );
        assert!(
            CatalogConfig::from_toml(
                "name = \"s\"\n[faces]\nmodel = \"f\"\nwithin = [\"person\"]\n",
                "t"
            )
            .is_err(),
            "within without a detector"
        );
        assert!(
            CatalogConfig::from_toml("name = \"s\"\n", "t").is_err(),
            "a catalog without models"
        );
        let faces = |detector: &str, faces: &str| {
            let text = format!("name = \"s\"\n{detector}[faces]\nmodel = \"f\"\n{faces}\n");
            CatalogConfig::from_toml(&text, "t").map_err(|e| e.to_string())
        };
        let detector = "[detector]\nmodel = \"d\"\nclasses = [\"person\", \"plate\"]\n";
        let ok = faces(detector, "redact = true\nredact_classes = [\"plate\"]").unwrap();
        assert_eq!(ok.faces.unwrap().redact_classes, ["plate"]);
        faces(detector, "redact = \"faces_and_unfaced_people\"").unwrap();
        for (d, f, want) in [
            (
                "",
                "redact = true\nredact_classes = [\"plate\"]",
                "no [detector]",
            ),
            (
                detector,
                "redact_classes = [\"plate\"]",
                "needs faces.redact",
            ),
            (
                detector,
                "redact = true\nredact_classes = [\"car\"]",
                "does not keep",
            ),
            ("", "redact = \"faces_and_unfaced_people\"", "person label"),
            (
                "[detector]\nmodel = \"d\"\nclasses = [\"car\"]\n",
                "redact = \"faces_and_unfaced_people\"",
                "\"person\" is to be redacted",
            ),
        ] {
            let e = faces(d, f).unwrap_err();
            assert!(e.contains(want), "{f}: {e}");
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_names() {
        assert!(CatalogConfig::from_toml("name = \"r\"\nbogus = 1\n", "t").is_err());
        assert!(
            CatalogConfig::from_toml("name = \"a/b\"\n[classifier]\nmodel=\"m\"\n", "t").is_err()
        );
        assert!(CatalogConfig::from_toml(
            "name = \"r\"\n[classifier]\nmodel=\"m\"\ntop_k = 0\n",
            "t"
        )
        .is_err());
    }
}
