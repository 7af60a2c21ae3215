//! Catalogs compiled against their models, once at start-up: each image then needs one
//! lookup of its catalog's [`CatalogPlan`], whose parts name the models they run.

use std::collections::HashMap;
use std::sync::Arc;

use sightline_core::{CatalogConfig, Catalogs, DecodeMode, DetectorConfig, FaceConfig, Redact};
use sightline_vision::classify::{Classification, ScoreKind};
use sightline_vision::face::FaceDecoder;
use sightline_vision::manifest::{LoadedModel, Task};
use sightline_vision::zero_shot::ZeroShot;
use sightline_vision::{
    Classifier, DetectionFilter, MinDecodeSize, ModelOutput, ModelRegistry, Preprocess, VisionError,
};

/// A model of the pipeline: its position in the [`ModelSet`] and in the inference backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(pub usize);

/// The models a pipeline runs, each loaded once however many catalogs use it.
#[derive(Debug, Default, Clone)]
pub struct ModelSet {
    models: Vec<Arc<LoadedModel>>,
}

impl ModelSet {
    /// The model called `name`, loaded from `registry` on first use; an error unless it
    /// does `task`.
    pub fn require(
        &mut self,
        registry: &ModelRegistry,
        name: &str,
        task: Task,
    ) -> Result<ModelId, VisionError> {
        let id = match self.models.iter().position(|m| m.manifest.name == name) {
            Some(i) => ModelId(i),
            None => self.insert(registry.load(name)?),
        };
        if self.get(id).manifest.task != task {
            return Err(VisionError::Model {
                model: name.to_string(),
                message: format!("is not a {task:?} model"),
            });
        }
        Ok(id)
    }

    /// Adds a loaded model (or finds the one of the same name).
    pub fn insert(&mut self, model: Arc<LoadedModel>) -> ModelId {
        if let Some(i) = self
            .models
            .iter()
            .position(|m| m.manifest.name == model.manifest.name)
        {
            return ModelId(i);
        }
        self.models.push(model);
        ModelId(self.models.len() - 1)
    }

    /// The model `id` (ids come from this set).
    pub fn get(&self, id: ModelId) -> &LoadedModel {
        &self.models[id.0]
    }

    /// Every model, in [`ModelId`] order.
    pub fn models(&self) -> &[Arc<LoadedModel>] {
        &self.models
    }
}

/// A catalog's classifier.
#[derive(Debug, Clone)]
pub struct ClassifierPlan {
    /// The model.
    pub model: ModelId,
    /// Softmax, top-k and tags.
    pub classifier: Classifier,
    /// Zero-shot classes, which replace the model's own (catalog `zero_shot`).
    pub zero_shot: Option<ZeroShot>,
}

impl ClassifierPlan {
    /// One image's classification from the model's output: its own classes, or the
    /// zero-shot classes scored on its embedding.
    pub fn classify(&self, output: &ModelOutput) -> Classification {
        match (&self.zero_shot, &output.embedding) {
            (Some(z), Some(e)) => self.classifier.classify(&z.logits(e)),
            _ => self.classifier.classify(&output.logits),
        }
    }
}

/// A catalog's object detector.
#[derive(Debug, Clone)]
pub struct DetectorPlan {
    /// The model.
    pub model: ModelId,
    /// Thresholds, NMS, cap.
    pub filter: DetectionFilter,
    /// Detector label → the catalog tags it gives.
    pub tags: HashMap<String, Vec<String>>,
}

/// A catalog's face detector.
#[derive(Debug, Clone)]
pub struct FacePlan {
    /// The model.
    pub model: ModelId,
    /// Threshold, NMS, cap.
    pub filter: DetectionFilter,
    /// Face class ids start here (after the detector's classes), so a class id names one
    /// class across a row's detections.
    pub class_offset: i32,
    /// The catalog's face settings (`within`, `redact`, `tags`).
    pub config: FaceConfig,
    /// How the model's outputs become boxes.
    pub decoder: FaceDecoder,
}

impl FacePlan {
    /// Whether a redacted copy may hide any detection whole (`redact_classes`, or unfaced
    /// people): only then are the detector's uncapped boxes kept for the redaction.
    pub fn hides_detections(&self) -> bool {
        self.config.redact.is_on()
            && (!self.config.redact_classes.is_empty()
                || self.config.redact == Redact::FacesAndUnfacedPeople)
    }

    /// Whether a redacted copy may hide detections with this detector `label` whole
    /// (`redact_classes`; `person` when unfaced people are hidden).
    pub fn may_hide(&self, label: &str) -> bool {
        let people = self.config.redact == Redact::FacesAndUnfacedPeople;
        self.config.redact_classes.iter().any(|l| l == label) || (people && label == "person")
    }
}

/// A catalog ready to run.
#[derive(Debug, Clone)]
pub struct CatalogPlan {
    /// Catalog name.
    pub name: String,
    /// The classifier, if any.
    pub classifier: Option<ClassifierPlan>,
    /// The detector, if any.
    pub detector: Option<DetectorPlan>,
    /// The face detector, if any.
    pub faces: Option<FacePlan>,
    /// The models' names joined with `+` (the `model` column).
    pub model: String,
    /// Their versions joined with `+` (the `model_version` column).
    pub model_version: String,
    /// Values per row in the `embedding` column: the classifier manifest's
    /// `embedding_dim`, 0 when no model of the catalog gives an embedding.
    pub embedding_dim: usize,
    /// How far a JPEG may shrink while decoding ([`min_decode_size`]); `None`: full size.
    pub min_decode: Option<MinDecodeSize>,
}

impl CatalogPlan {
    /// Compiles `cfg`, loading its models into `models`. Every label the settings name
    /// must exist in the model's label file.
    pub fn compile(
        cfg: &CatalogConfig,
        models: &mut ModelSet,
        registry: &ModelRegistry,
    ) -> Result<CatalogPlan, VisionError> {
        let in_catalog = |e: VisionError| VisionError::Model {
            model: format!("catalog {}", cfg.name),
            message: e.to_string(),
        };
        let classifier = match &cfg.classifier {
            Some(c) => {
                let model = models.require(registry, &c.manifest_name(), Task::Classification);
                let model = model.map_err(in_catalog)?;
                let loaded = models.get(model);
                let zero_shot = match &c.zero_shot {
                    Some(file) => Some(zero_shot(registry, loaded, file).map_err(in_catalog)?),
                    None => None,
                };
                let (labels, scores) = match &zero_shot {
                    Some(z) => (z.labels.clone(), ScoreKind::Logits),
                    None => (loaded.labels.clone(), loaded.manifest.outputs.scores),
                };
                let classifier = Classifier::new(c.clone(), labels, &cfg.tags_by_label());
                Some(ClassifierPlan {
                    model,
                    classifier: classifier.map_err(in_catalog)?.reading(scores),
                    zero_shot,
                })
            }
            None => None,
        };
        let detector = match &cfg.detector {
            Some(d) => Some(detector_plan(d, models, registry).map_err(in_catalog)?),
            None => None,
        };
        let faces = match &cfg.faces {
            Some(f) => Some(face_plan(f, detector.as_ref(), models, registry).map_err(in_catalog)?),
            None => None,
        };
        let used: Vec<&LoadedModel> = [
            classifier.as_ref().map(|c| c.model),
            detector.as_ref().map(|d| d.model),
            faces.as_ref().map(|f| f.model),
        ]
        .into_iter()
        .flatten()
        .map(|id| models.get(id))
        .collect();
        let join = |f: fn(&LoadedModel) -> &str| used.iter().map(|m| f(m)).collect::<Vec<_>>();
        let embedding_dim = classifier
            .as_ref()
            .and_then(|c| models.get(c.model).manifest.outputs.embedding_dim)
            .unwrap_or(0);
        let redacts = faces.as_ref().is_some_and(|f| f.config.redact.is_on());
        let min_decode = (cfg.decode == DecodeMode::Scaled && !redacts)
            .then(|| min_decode_size(used.iter().map(|m| m.preprocess())));
        Ok(CatalogPlan {
            name: cfg.name.clone(),
            model: join(|m| &m.manifest.name).join("+"),
            model_version: join(|m| &m.manifest.version).join("+"),
            classifier,
            detector,
            faces,
            embedding_dim,
            min_decode,
        })
    }

    /// The models an image of this catalog goes through: classifier, detector, faces.
    pub fn model_ids(&self) -> Vec<ModelId> {
        let classifier = self.classifier.as_ref().map(|c| c.model);
        let detector = self.detector.as_ref().map(|d| d.model);
        let faces = self.faces.as_ref().map(|f| f.model);
        [classifier, detector, faces]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The classifier's embedding among one image's outputs.
    pub fn embedding_of<'a>(
        &self,
        outputs: &'a HashMap<ModelId, ModelOutput>,
    ) -> Option<&'a [f32]> {
        let c = self.classifier.as_ref()?;
        outputs.get(&c.model)?.embedding.as_deref()
    }

    /// The `model` and `model_version` columns when a head replaces the classifier's
    /// classes: the classifier's entry (the first) becomes the head's.
    pub fn columns_with_head(&self, head_model: &str, head_version: &str) -> (String, String) {
        let swap = |joined: &str, first: &str| {
            let mut parts: Vec<&str> = joined.split('+').collect();
            if let Some(p) = parts.first_mut() {
                *p = first;
            }
            parts.join("+")
        };
        (
            swap(&self.model, head_model),
            swap(&self.model_version, head_version),
        )
    }

    /// Whether the catalog writes face-redacted copies (the decoded image is kept).
    pub fn redacts(&self) -> bool {
        self.faces.as_ref().is_some_and(|f| f.config.redact.is_on())
    }
}

/// Decoded images keep at least this many times the pixels a model resizes them to, so
/// the antialiased resize still has room to average (and DCT-scaled decoding changes the
/// models' inputs only slightly).
pub const DECODE_MARGIN: u32 = 2;

/// The smallest decoded size that serves every model: a classifier that resizes the
/// shorter side to `s` needs a shorter side of `DECODE_MARGIN × s`; a letterboxed detector
/// of side `n` needs a longer side of `DECODE_MARGIN × n`.
pub fn min_decode_size(models: impl IntoIterator<Item = Preprocess>) -> MinDecodeSize {
    let mut min = MinDecodeSize::default();
    for p in models {
        match p {
            Preprocess::CenterCrop(c) => {
                min.short = min.short.max(DECODE_MARGIN * c.resize_shorter)
            }
            Preprocess::Letterbox(l) => min.long = min.long.max(DECODE_MARGIN * l.size),
        }
    }
    min
}

/// Checks every label the detector settings name against the model's label file.
fn detector_plan(
    cfg: &DetectorConfig,
    models: &mut ModelSet,
    registry: &ModelRegistry,
) -> Result<DetectorPlan, VisionError> {
    let model = models.require(registry, &cfg.manifest_name(), Task::Detection)?;
    let labels = &models.get(model).labels;
    let mut named: Vec<&String> = cfg.class_min_score.keys().collect();
    named.extend(cfg.classes.iter().flatten());
    named.extend(cfg.taxonomy.values().flatten());
    let unknown: Vec<&str> = named
        .iter()
        .filter(|l| !labels.contains(l))
        .map(|l| l.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(VisionError::Model {
            model: cfg.model.clone(),
            message: format!(
                "detector settings name labels that are not in the label file: {}",
                unknown.join(", ")
            ),
        });
    }
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for (tag, labels) in &cfg.taxonomy {
        for l in labels {
            tags.entry(l.clone()).or_default().push(tag.clone());
        }
    }
    Ok(DetectorPlan {
        model,
        filter: DetectionFilter::from(cfg),
        tags,
    })
}

/// A classifier's zero-shot classes from the prompts `file` (relative to the models folder),
/// for a model with an embedding output of the same width.
fn zero_shot(
    registry: &ModelRegistry,
    model: &LoadedModel,
    file: &str,
) -> Result<ZeroShot, VisionError> {
    let dim = model
        .manifest
        .outputs
        .embedding_dim
        .filter(|_| model.manifest.outputs.embedding.is_some());
    let Some(dim) = dim else {
        return Err(VisionError::Model {
            model: model.manifest.name.clone(),
            message: format!(
                "zero_shot = {file:?} needs an image encoder with an embedding output"
            ),
        });
    };
    ZeroShot::load(&registry.dir().join(file), dim)
}

/// Face settings checked against the detector (`within`, `redact_classes` and, for
/// `redact = "faces_and_unfaced_people"`, `person` name detector labels).
fn face_plan(
    cfg: &FaceConfig,
    detector: Option<&DetectorPlan>,
    models: &mut ModelSet,
    registry: &ModelRegistry,
) -> Result<FacePlan, VisionError> {
    let model = models.require(registry, &cfg.model, Task::FaceDetection)?;
    let detector_labels = detector.map(|d| &models.get(d.model).labels);
    let people = (cfg.redact == Redact::FacesAndUnfacedPeople).then(|| "person".to_string());
    let named = [
        ("within", &cfg.within),
        ("redact_classes", &cfg.redact_classes),
    ];
    let named = named
        .into_iter()
        .flat_map(|(k, v)| v.iter().map(move |l| (k, l)));
    let named = named.chain(people.iter().map(|l| ("redact", l)));
    let unknown = named
        .into_iter()
        .find(|(_, l)| detector_labels.is_none_or(|labels| !labels.contains(l)));
    if let Some((setting, l)) = unknown {
        return Err(VisionError::Model {
            model: cfg.model.clone(),
            message: format!("faces.{setting} needs {l:?}, not a label of the catalog's detector"),
        });
    }
    Ok(FacePlan {
        model,
        filter: DetectionFilter::from(cfg),
        class_offset: detector_labels.map_or(0, |l| l.len() as i32),
        config: cfg.clone(),
        decoder: models.get(model).face_decoder(),
    })
}

/// Every catalog compiled, and the models they use.
#[derive(Debug, Clone, Default)]
pub struct CatalogPlans {
    plans: HashMap<String, CatalogPlan>,
    models: ModelSet,
}

impl CatalogPlans {
    /// Compiles every catalog, loading each model once from `registry`.
    pub fn compile(catalogs: &Catalogs, registry: &ModelRegistry) -> Result<Self, VisionError> {
        let mut models = ModelSet::default();
        let mut plans = HashMap::new();
        for c in catalogs.iter() {
            plans.insert(
                c.name.clone(),
                CatalogPlan::compile(c, &mut models, registry)?,
            );
        }
        Ok(CatalogPlans { plans, models })
    }

    /// The plan of catalog `name`.
    pub fn get(&self, name: &str) -> Option<&CatalogPlan> {
        self.plans.get(name)
    }

    /// Catalog names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.plans.keys().map(String::as_str).collect();
        names.sort();
        names
    }

    /// Each catalog's embedding width (see [`CatalogPlan::embedding_dim`]).
    pub fn embedding_dims(&self) -> HashMap<String, usize> {
        self.plans
            .iter()
            .map(|(name, p)| (name.clone(), p.embedding_dim))
            .collect()
    }

    /// The models the catalogs use.
    pub fn models(&self) -> &ModelSet {
        &self.models
    }
}

#[cfg(test)]
mod tests {
    use sightline_vision::{Channels, ClassifierPreprocess, Layout, Letterbox};

    use super::*;

    #[test]
    fn the_decode_bound_keeps_twice_what_each_model_resizes_to() {
        let classifier = Preprocess::CenterCrop(ClassifierPreprocess {
            resize_shorter: 256,
            crop: 224,
            mean: [0.5; 3],
            std: [0.5; 3],
            layout: Layout::Nchw,
            channels: Channels::Rgb,
        });
        let detector = |size| {
            Preprocess::Letterbox(Letterbox {
                size,
                mean: [0.0; 3],
                std: [1.0; 3],
                pad: 0,
                layout: Layout::Nhwc,
                channels: Channels::Rgb,
            })
        };
        let only = min_decode_size([classifier.clone()]);
        assert_eq!((only.short, only.long), (512, 0));
        let all = min_decode_size([classifier, detector(512), detector(256)]);
        assert_eq!((all.short, all.long), (512, 1024));
        // A 4032x3024 photo: 1/4 for the classifier alone, 1/2 with the detector.
        assert_eq!(only.jpeg_scale(4032, 3024), 2);
        assert_eq!(all.jpeg_scale(4032, 3024), 4);
    }
}
