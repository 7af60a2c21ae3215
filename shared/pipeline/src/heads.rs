//! Serving trained heads: each catalog with a classifier serves its registry champion (a
//! head on the classifier's embedding) when one exists, found in the registry of the
//! bucket its results go to and checked again at most every
//! [`Settings::head_refresh_secs`](sightline_core::Settings::head_refresh_secs). A
//! registry that cannot be read or a head that cannot be loaded never stops serving: the
//! catalog keeps what it served before (at first, its ImageNet classifier) and a warning
//! is logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_registry::{LoadedHead, Registry, RegistryError};
use sightline_storage::Store;
use sightline_vision::classify::Classification;
use sightline_vision::{Classifier, HeadSession, VisionError};
use tokio::sync::Mutex;

use crate::plan::CatalogPlan;

/// A champion head ready to run.
#[derive(Debug)]
pub struct ServedHead {
    /// Its registry version.
    pub version: String,
    /// The ONNX head.
    pub session: HeadSession,
    /// Top-k and tags over the head's classes.
    pub classifier: Classifier,
    /// What the head adds to the `model` column (`<backbone>+head`).
    pub model: String,
    /// What it adds to `model_version` (`<backbone version>+<head version>`).
    pub model_version: String,
}

impl ServedHead {
    /// Labels and tags of one embedding.
    pub fn classify(&self, embedding: &[f32]) -> Result<Classification, VisionError> {
        let probs = self.session.probabilities(embedding)?;
        Ok(self.classifier.classify_probabilities(&probs))
    }

    /// Builds a served head from a registry champion for `plan`'s classifier; an error
    /// when the head was trained on another backbone or embedding size.
    fn load(
        plan: &CatalogPlan,
        backbone: (&str, usize),
        head: LoadedHead,
        dylib: Option<&std::path::Path>,
    ) -> Result<ServedHead, VisionError> {
        let m = &head.manifest;
        let mismatch = |message: String| VisionError::Model {
            model: format!("head {} of {}", m.version, m.catalog),
            message,
        };
        if m.backbone.model != backbone.0 || m.backbone.embedding_dim != backbone.1 {
            return Err(mismatch(format!(
                "trained on {} ({} floats); the catalog's classifier is {} ({} floats)",
                m.backbone.model, m.backbone.embedding_dim, backbone.0, backbone.1
            )));
        }
        let Some(c) = &plan.classifier else {
            return Err(mismatch("the catalog has no classifier".into()));
        };
        let mut config = c.classifier.config().clone();
        config.model = m.model_name();
        let mut taxonomy: HashMap<String, Vec<String>> = HashMap::new();
        for (class, tags) in &m.tags {
            taxonomy
                .entry(class.clone())
                .or_default()
                .extend(tags.iter().cloned());
        }
        let classifier = Classifier::new(config, m.classes.clone(), &taxonomy)?;
        let session = HeadSession::from_bytes(
            &m.version,
            &head.onnx,
            m.backbone.embedding_dim,
            m.classes.len(),
            dylib,
        )?;
        Ok(ServedHead {
            version: m.version.clone(),
            session,
            classifier,
            model: m.model_name(),
            model_version: m.model_version(),
        })
    }
}

/// What is known of one catalog's champion in one bucket.
#[derive(Debug, Default)]
struct Entry {
    head: Option<Arc<ServedHead>>,
    checked: Option<Instant>,
}

/// The champions served, per (results bucket, catalog).
#[derive(Debug)]
pub struct Heads {
    store: Store,
    refresh: Duration,
    dylib: Option<std::path::PathBuf>,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl Heads {
    /// Champions read from `store` (the results store), checked every `refresh`.
    pub fn new(store: Store, refresh: Duration, dylib: Option<std::path::PathBuf>) -> Heads {
        Heads {
            store,
            refresh,
            dylib,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The head serving `plan`'s catalog for results in `bucket` (`None`: the catalog's
    /// own classifier). Reads the alias when the last check is older than the refresh
    /// interval, and loads a new champion when it changed.
    pub async fn current(
        &self,
        bucket: &str,
        plan: &CatalogPlan,
        backbone: (&str, usize),
    ) -> Option<Arc<ServedHead>> {
        plan.classifier.as_ref()?;
        let mut entries = self.entries.lock().await;
        let entry = entries
            .entry((bucket.to_string(), plan.name.clone()))
            .or_default();
        if entry.checked.is_some_and(|t| t.elapsed() < self.refresh) {
            return entry.head.clone();
        }
        entry.checked = Some(Instant::now());
        match self
            .champion(bucket, plan, backbone, entry.head.as_deref())
            .await
        {
            Ok(Some(head)) => {
                tracing::info!(catalog = %plan.name, version = %head.version, "serving head");
                entry.head = Some(Arc::new(head));
            }
            Ok(None) => {}
            Err(e) => {
                let serving = entry
                    .head
                    .as_ref()
                    .map_or("the catalog's classifier", |h| h.version.as_str());
                tracing::warn!(catalog = %plan.name, error = %e, serving, "cannot load the champion head; serving unchanged");
            }
        }
        entry.head.clone()
    }

    /// The champion if it differs from `serving` (`Ok(None)`: unchanged or none).
    async fn champion(
        &self,
        bucket: &str,
        plan: &CatalogPlan,
        backbone: (&str, usize),
        serving: Option<&ServedHead>,
    ) -> Result<Option<ServedHead>, HeadError> {
        let registry = Registry::new(self.store.clone(), bucket);
        let (alias, _) = registry.alias(&plan.name).await?;
        let Some(version) = alias.champion else {
            return Ok(None);
        };
        if serving.is_some_and(|s| s.version == version) {
            return Ok(None);
        }
        let loaded = registry
            .load(&plan.name, &version, sightline_registry::HeadFile::Served)
            .await?;
        Ok(Some(ServedHead::load(
            plan,
            backbone,
            loaded,
            self.dylib.as_deref(),
        )?))
    }
}

/// Why a champion could not be served.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Vision(#[from] VisionError),
}

/// The heads of one batch, by (results bucket, catalog), resolved once before it runs.
pub type BatchHeads = HashMap<(String, String), Arc<ServedHead>>;
