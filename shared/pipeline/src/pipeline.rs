//! The [`Pipeline`]: compiled catalogs, an inference backend, the stores; and the
//! [`PipelineBuilder`] that assembles one.

use std::sync::Arc;

use sightline_core::{route_key, Catalogs, ObjectRef, Route, Settings, WorkItem};
use sightline_storage::Store;
use sightline_vision::engine::EngineConfig;
use sightline_vision::{runtime, Engine, ModelRegistry};
use tokio::sync::Semaphore;

use crate::budget::MemoryBudget;
use crate::heads::Heads;
use crate::inference::Inference;
use crate::plan::{CatalogPlans, ModelSet};
use crate::redact::CopyLimit;
use crate::PipelineError;

/// Starts the inference backend over the pipeline's models.
pub type InferenceFactory =
    Box<dyn FnOnce(&Settings, &ModelSet) -> Result<Arc<dyn Inference>, PipelineError>>;

/// The batch processor shared by every run mode.
pub struct Pipeline {
    pub(crate) settings: Settings,
    pub(crate) plans: CatalogPlans,
    pub(crate) inference: Arc<dyn Inference>,
    pub(crate) source: Store,
    pub(crate) sink: Store,
    /// One permit per CPU: decodes running at once.
    pub(crate) cpu: Arc<Semaphore>,
    /// Memory for images being decoded and kept, shared by every batch.
    pub(crate) budget: MemoryBudget,
    /// The catalogs' champion heads, from the registry of the results bucket.
    pub(crate) heads: Heads,
    /// The bound on redacted copies.
    pub(crate) copy_limit: CopyLimit,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("catalogs", &self.plans.names())
            .field("execution_provider", &self.inference.execution_provider())
            .finish()
    }
}

impl Pipeline {
    /// Loads the catalogs and models from the models folder, starts the ONNX Runtime
    /// engine, and reads from `source` / writes results to `sink`.
    pub fn open(settings: Settings, source: Store, sink: Store) -> Result<Pipeline, PipelineError> {
        Pipeline::builder(settings, source, sink).build()
    }

    /// A builder: catalogs, models folder and inference backend can be replaced.
    pub fn builder(settings: Settings, source: Store, sink: Store) -> PipelineBuilder {
        PipelineBuilder {
            settings,
            source,
            sink,
            catalogs: None,
            registry: None,
            inference: None,
            copy_limit: CopyLimit::default(),
        }
    }

    /// An error naming the known catalogs unless `name` is one of them.
    pub fn require_catalog(&self, name: &str) -> Result<(), PipelineError> {
        if self.plans.get(name).is_some() {
            return Ok(());
        }
        Err(sightline_core::CoreError::UnknownCatalog {
            name: name.to_string(),
            known: self.plans.names().join(", "),
        }
        .into())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The compiled catalogs and their models.
    pub fn plans(&self) -> &CatalogPlans {
        &self.plans
    }

    /// The memory budget of the images being decoded and kept (its high-water mark is a
    /// metric).
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The inference backend.
    pub fn inference(&self) -> &dyn Inference {
        &*self.inference
    }

    /// Routes an object by its key: `None` when the key is not under the incoming prefix.
    pub fn route(&self, object: ObjectRef) -> Option<WorkItem> {
        match route_key(&self.settings.incoming_prefix, &object.key) {
            Route::Ignore => None,
            Route::Catalog(catalog) => Some(WorkItem { object, catalog }),
        }
    }
}

/// Assembles a [`Pipeline`]; see [`Pipeline::builder`].
pub struct PipelineBuilder {
    settings: Settings,
    source: Store,
    sink: Store,
    catalogs: Option<Catalogs>,
    registry: Option<ModelRegistry>,
    inference: Option<InferenceFactory>,
    copy_limit: CopyLimit,
}

impl PipelineBuilder {
    /// Catalogs given in memory (default: `catalogs/` of the models folder).
    pub fn catalogs(mut self, catalogs: Catalogs) -> Self {
        self.catalogs = Some(catalogs);
        self
    }

    /// The models folder (default: [`Settings::locate_models_dir`]).
    pub fn registry(mut self, registry: ModelRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The inference backend, started over the compiled models (default: the ONNX
    /// Runtime [`Engine`] with the settings' threads and execution provider).
    pub fn inference(
        mut self,
        start: impl FnOnce(&Settings, &ModelSet) -> Result<Arc<dyn Inference>, PipelineError> + 'static,
    ) -> Self {
        self.inference = Some(Box::new(start));
        self
    }

    /// The bound on redacted copies (default: [`CopyLimit::default`]).
    pub fn copy_limit(mut self, limit: CopyLimit) -> Self {
        self.copy_limit = limit;
        self
    }

    /// Compiles the catalogs, loads their models and starts the inference backend.
    pub fn build(self) -> Result<Pipeline, PipelineError> {
        let registry = match self.registry {
            Some(r) => r,
            None => ModelRegistry::new(self.settings.locate_models_dir()?),
        };
        let catalogs = match self.catalogs {
            Some(c) => c,
            None => Catalogs::load_dir(&registry.dir().join("catalogs"))?,
        };
        let plans = CatalogPlans::compile(&catalogs, &registry)?;
        let start = self.inference.unwrap_or_else(|| Box::new(start_engine));
        let inference = start(&self.settings, plans.models())?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let refresh = std::time::Duration::from_secs(self.settings.head_refresh_secs);
        let heads = Heads::new(self.sink.clone(), refresh, self.settings.ort_dylib.clone());
        let budget = memory_budget(&self.settings, plans.models());
        Ok(Pipeline {
            settings: self.settings,
            plans,
            inference,
            source: self.source,
            sink: self.sink,
            cpu: Arc::new(Semaphore::new(cpus)),
            budget,
            heads,
            copy_limit: self.copy_limit,
        })
    }
}

/// The memory budget of the settings. The models' resident memory is estimated as their
/// ONNX bytes times (inference threads + 1): one session per model per thread, and the
/// bytes loaded from the models folder.
fn memory_budget(settings: &Settings, models: &ModelSet) -> MemoryBudget {
    let onnx: u64 = models.models().iter().map(|m| m.onnx.len() as u64).sum();
    let resident_mb = (onnx * (settings.infer_threads as u64 + 1)).div_ceil(1 << 20);
    let choice = settings.memory_budget(resident_mb);
    tracing::info!(budget_mib = choice.mb, basis = %choice.basis, "memory budget");
    MemoryBudget::new(choice.mb << 20)
}

/// The default backend: ONNX Runtime sessions on inference threads.
fn start_engine(
    settings: &Settings,
    models: &ModelSet,
) -> Result<Arc<dyn Inference>, PipelineError> {
    let env = runtime::environment(settings.ort_dylib.as_deref())?;
    let config = EngineConfig {
        threads: settings.infer_threads,
        intra_threads: settings.intra_threads,
        execution_provider: settings.execution_provider.clone(),
    };
    Ok(Arc::new(Engine::start(
        env,
        models.models().to_vec(),
        config,
    )?))
}
