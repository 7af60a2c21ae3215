//! The batch processor shared by every run mode.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use sightline_core::{
    route_key, Catalogs, Disposition, ErrorKind, ObjectRef, ResultRow, Route, Settings, WorkItem,
    UNROUTED_CATALOG,
};
use sightline_queue::{parse_body, Message};
use sightline_storage::Store;
use sightline_tables::result_files;
use sightline_vision::engine::EngineConfig;
use sightline_vision::manifest::LoadedModel;
use sightline_vision::{
    decode_image, runtime, Classifier, DecodeLimits, Engine, ModelRegistry, VisionError,
};
use tokio::sync::Semaphore;

use crate::rows::{build_row, RowContent, RowContext};
use crate::PipelineError;

/// A catalog ready to run: its classifier and the engine's index of its model.
struct CatalogRuntime {
    classifier: Option<(usize, Classifier, Arc<LoadedModel>)>,
}

/// What happened to one work item.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    /// A result or error row.
    Row(Box<ResultRow>),
    /// A transient failure: the message must be retried; no row is written.
    Retry(String),
}

/// The outcome of one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Ids of messages to retry (transient failures, unparseable bodies, failed writes).
    pub failed: Vec<String>,
    /// Rows written (success and error rows).
    pub rows: usize,
    /// Error rows among them.
    pub error_rows: usize,
    /// Objects skipped: keys outside the incoming prefix, test events.
    pub skipped: usize,
    /// Keys of the Parquet files written.
    pub files: Vec<String>,
    /// The rows written, for callers that show or check them (not kept by the worker).
    pub written: Vec<ResultRow>,
}

/// Decoded and preprocessed, waiting for inference.
struct Prepared {
    index: usize,
    ctx: RowContext,
    model: usize,
    tensor: Vec<f32>,
}

enum Stage {
    Ready(Prepared),
    Done(usize, ItemOutcome),
}

/// The pipeline: catalogs, models, stores.
pub struct Pipeline {
    settings: Settings,
    catalogs: HashMap<String, CatalogRuntime>,
    engine: Engine,
    source: Store,
    sink: Store,
    cpu: Arc<Semaphore>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("catalogs", &self.catalogs.keys().collect::<Vec<_>>())
            .field("engine", &self.engine)
            .finish()
    }
}

impl Pipeline {
    /// Loads the catalogs and models from the models folder, starts the inference
    /// engine, and reads from `source` / writes results to `sink`.
    pub fn open(settings: Settings, source: Store, sink: Store) -> Result<Pipeline, PipelineError> {
        let dir = settings.locate_models_dir()?;
        let catalogs = Catalogs::load_dir(&dir.join("catalogs"))?;
        Self::with_catalogs(settings, &ModelRegistry::new(dir), catalogs, source, sink)
    }

    /// Like [`Pipeline::open`] with catalogs given in memory.
    pub fn with_catalogs(
        settings: Settings,
        registry: &ModelRegistry,
        catalogs: Catalogs,
        source: Store,
        sink: Store,
    ) -> Result<Pipeline, PipelineError> {
        let mut models: Vec<Arc<LoadedModel>> = Vec::new();
        let mut runtimes = HashMap::new();
        for c in catalogs.iter() {
            let classifier = match &c.classifier {
                Some(cfg) => {
                    let idx = match models.iter().position(|m| m.manifest.name == cfg.model) {
                        Some(i) => i,
                        None => {
                            models.push(registry.load(&cfg.model)?);
                            models.len() - 1
                        }
                    };
                    let model = Arc::clone(&models[idx]);
                    if model.manifest.task != sightline_vision::manifest::Task::Classification {
                        return Err(VisionError::Model {
                            model: format!("catalog {}", c.name),
                            message: format!(
                                "classifier.model {:?} is not a classifier",
                                cfg.model
                            ),
                        }
                        .into());
                    }
                    let cl = Classifier::new(cfg.clone(), model.labels.clone(), &c.tags_by_label())
                        .map_err(|e| VisionError::Model {
                            model: format!("catalog {}", c.name),
                            message: e.to_string(),
                        })?;
                    Some((idx, cl, model))
                }
                None => None,
            };
            runtimes.insert(c.name.clone(), CatalogRuntime { classifier });
        }
        let env = runtime::environment(settings.ort_dylib.as_deref())?;
        let engine = Engine::start(
            env,
            models,
            EngineConfig {
                threads: settings.infer_threads,
                intra_threads: settings.intra_threads,
                execution_provider: settings.execution_provider.clone(),
            },
        )?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Pipeline {
            cpu: Arc::new(Semaphore::new(cpus)),
            settings,
            catalogs: runtimes,
            engine,
            source,
            sink,
        })
    }

    /// An error naming the known catalogs unless `name` is one of them.
    pub fn require_catalog(&self, name: &str) -> Result<(), PipelineError> {
        if self.catalogs.contains_key(name) {
            return Ok(());
        }
        let mut known: Vec<&str> = self.catalogs.keys().map(String::as_str).collect();
        known.sort();
        Err(sightline_core::CoreError::UnknownCatalog {
            name: name.to_string(),
            known: known.join(", "),
        }
        .into())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The inference engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Routes an object by its key: `None` when the key is not under the incoming prefix.
    pub fn route(&self, object: ObjectRef) -> Option<WorkItem> {
        match route_key(&self.settings.incoming_prefix, &object.key) {
            Route::Ignore => None,
            Route::Catalog(catalog) => Some(WorkItem { object, catalog }),
        }
    }

    /// Processes one batch of queue messages: every object routed to a catalog ends as a
    /// row in this batch's Parquet file(s), or its message is reported in
    /// [`BatchReport::failed`] for retry (then nothing of that message is written, so a
    /// retry never duplicates rows).
    pub async fn process_messages(&self, messages: &[Message]) -> BatchReport {
        let mut report = BatchReport::default();
        let mut items = Vec::new();
        let mut owner = Vec::new();
        for (m, msg) in messages.iter().enumerate() {
            match parse_body(&msg.body) {
                Ok(objects) => {
                    if objects.is_empty() {
                        report.skipped += 1; // s3:TestEvent and friends
                    }
                    for o in objects {
                        match self.route(o) {
                            Some(item) => {
                                items.push(item);
                                owner.push(m);
                            }
                            None => report.skipped += 1,
                        }
                    }
                }
                Err(e) => {
                    // No object to write a row for: let the queue redeliver it and, after
                    // maxReceiveCount, dead-letter it.
                    tracing::warn!(message_id = %msg.id, error = %e, "unparseable message");
                    report.failed.push(msg.id.clone());
                }
            }
        }
        let outcomes = self.process_items(items).await;
        let mut retry: HashSet<usize> = HashSet::new();
        for (o, &m) in outcomes.iter().zip(&owner) {
            if let ItemOutcome::Retry(reason) = o {
                tracing::warn!(message_id = %messages[m].id, %reason, "transient failure, will retry");
                retry.insert(m);
            }
        }
        let rows: Vec<ResultRow> = outcomes
            .into_iter()
            .zip(&owner)
            .filter(|(_, m)| !retry.contains(m))
            .filter_map(|(o, _)| match o {
                ItemOutcome::Row(r) => Some(*r),
                ItemOutcome::Retry(_) => None,
            })
            .collect();
        match self.write_rows(&rows).await {
            Ok(files) => {
                report.files = files;
                report.rows = rows.len();
                report.error_rows = rows.iter().filter(|r| r.error_kind.is_some()).count();
                report.written = rows;
            }
            Err(e) => {
                tracing::error!(error = %e, "writing results failed; the batch will be retried");
                retry.extend(owner.iter().copied());
            }
        }
        let mut failed: Vec<usize> = retry.into_iter().collect();
        failed.sort();
        report
            .failed
            .extend(failed.into_iter().map(|m| messages[m].id.clone()));
        report
    }

    /// Runs every item through fetch → decode → inference → row, overlapping the stages:
    /// while one micro-batch runs on the engine, the next images are fetched and decoded.
    pub async fn process_items(&self, items: Vec<WorkItem>) -> Vec<ItemOutcome> {
        let n = items.len();
        let mut out: Vec<Option<ItemOutcome>> = vec![None; n];
        let (fetch, batch) = (
            self.settings.fetch_concurrency.max(1),
            self.settings.infer_batch.max(1),
        );
        // One run per inference thread plus one queued, so a thread never waits for work.
        let slots = self.settings.infer_threads.max(1) + 1;
        let mut next = 0;
        let mut preparing = FuturesUnordered::new();
        let mut inferring = FuturesUnordered::new();
        let mut ready: Vec<Prepared> = Vec::new();
        // Both sets are polled in one loop, so downloads and decodes keep going while
        // the engine is busy; images decoded meanwhile form the next, larger batch.
        loop {
            while next < n && preparing.len() < fetch && ready.len() < batch * slots {
                preparing.push(self.prepare(next, &items[next]));
                next += 1;
            }
            while !ready.is_empty() && inferring.len() < slots {
                let take = ready.len().min(batch);
                inferring.push(self.infer(ready.drain(..take).collect(), &items));
            }
            if preparing.is_empty() && inferring.is_empty() {
                break;
            }
            tokio::select! {
                Some(stage) = preparing.next(), if !preparing.is_empty() => match stage {
                    Stage::Ready(p) => ready.push(p),
                    Stage::Done(i, o) => out[i] = Some(o),
                },
                Some(done) = inferring.next(), if !inferring.is_empty() => {
                    for (i, o) in done {
                        out[i] = Some(o);
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| ItemOutcome::Retry("item was not processed".into())))
            .collect()
    }

    fn model_ctx(&self, catalog: &str) -> RowContext {
        let model = self
            .catalogs
            .get(catalog)
            .and_then(|c| c.classifier.as_ref());
        RowContext {
            model: model
                .map(|(_, _, m)| m.manifest.name.clone())
                .unwrap_or_default(),
            model_version: model
                .map(|(_, _, m)| m.manifest.version.clone())
                .unwrap_or_default(),
            ..RowContext::default()
        }
    }

    fn fail(
        &self,
        index: usize,
        item: &WorkItem,
        ctx: RowContext,
        disposition: Disposition,
        message: String,
    ) -> Stage {
        match disposition {
            Disposition::Transient => Stage::Done(index, ItemOutcome::Retry(message)),
            Disposition::Permanent(kind) => {
                let row = build_row(item, ctx, RowContent::Failed { kind, message });
                Stage::Done(index, ItemOutcome::Row(Box::new(row)))
            }
        }
    }

    async fn prepare(&self, index: usize, item: &WorkItem) -> Stage {
        let Some(catalog) = self.catalogs.get(&item.catalog) else {
            let mut item = item.clone();
            let message = format!(
                "no catalog named {:?} (key {:?})",
                item.catalog, item.object.key
            );
            item.catalog = UNROUTED_CATALOG.to_string();
            return self.fail(
                index,
                &item,
                RowContext::default(),
                Disposition::Permanent(ErrorKind::UnknownCatalog),
                message,
            );
        };
        let mut ctx = self.model_ctx(&item.catalog);
        let t = Instant::now();
        let object = match self
            .source
            .get(
                &item.object.bucket,
                &item.object.key,
                self.settings.max_object_bytes,
            )
            .await
        {
            Ok(o) => o,
            Err(e) => return self.fail(index, item, ctx, e.disposition(), e.to_string()),
        };
        ctx.timings.fetch_ms = ms(t);
        ctx.etag = item.object.etag.clone().or(object.etag.clone());
        ctx.size = Some(object.size);
        ctx.created = item.object.event_time.or(object.last_modified);
        let Some((model, _, loaded)) = &catalog.classifier else {
            return self.fail(
                index,
                item,
                ctx,
                Disposition::Permanent(ErrorKind::UnsupportedFormat),
                "catalog runs no model".into(),
            );
        };
        let pp = loaded.preprocess();
        let limits = DecodeLimits {
            max_pixels: self.settings.max_image_pixels,
        };
        let Ok(_permit) = self.cpu.acquire().await else {
            return Stage::Done(index, ItemOutcome::Retry("shutting down".into()));
        };
        let bytes: Bytes = object.bytes;
        let t = Instant::now();
        let decoded = tokio::task::spawn_blocking(move || {
            let img = decode_image(&bytes, limits)?;
            let mut tensor = vec![0f32; pp.tensor_len()];
            pp.run(&img, &mut tensor);
            Ok::<_, VisionError>(((img.width, img.height), tensor))
        })
        .await;
        ctx.timings.decode_ms = ms(t);
        match decoded {
            Ok(Ok((size_px, tensor))) => {
                ctx.size_px = Some(size_px);
                Stage::Ready(Prepared {
                    index,
                    ctx,
                    model: *model,
                    tensor,
                })
            }
            Ok(Err(e)) => self.fail(index, item, ctx, e.disposition(), e.to_string()),
            Err(join) => {
                // A panic inside a decoder is a bug triggered by this input: permanent.
                let msg = format!("decoder panicked: {join}");
                self.fail(
                    index,
                    item,
                    ctx,
                    Disposition::Permanent(ErrorKind::CorruptImage),
                    msg,
                )
            }
        }
    }

    async fn infer(&self, chunk: Vec<Prepared>, items: &[WorkItem]) -> Vec<(usize, ItemOutcome)> {
        let mut done = Vec::with_capacity(chunk.len());
        let mut by_model: HashMap<usize, Vec<Prepared>> = HashMap::new();
        for p in chunk {
            by_model.entry(p.model).or_default().push(p);
        }
        for (model, group) in by_model {
            let n = group.len();
            let mut input = Vec::with_capacity(n * group[0].tensor.len());
            for p in &group {
                input.extend_from_slice(&p.tensor);
            }
            match self.engine.run(model, input, n).await {
                Ok(out) => {
                    let per_image = out.run_ms / n as f32;
                    for (j, mut p) in group.into_iter().enumerate() {
                        let item = &items[p.index];
                        let Some((_, classifier, _)) = self
                            .catalogs
                            .get(&item.catalog)
                            .and_then(|c| c.classifier.as_ref())
                        else {
                            continue;
                        };
                        let logits = &out.logits[j * out.classes..(j + 1) * out.classes];
                        let embedding = out.embedding.as_ref().map(|e| {
                            e[j * out.embedding_dim..(j + 1) * out.embedding_dim].to_vec()
                        });
                        p.ctx.execution_provider = self.engine.execution_provider().to_string();
                        p.ctx.timings.infer_ms = per_image;
                        let content = RowContent::Classified {
                            classification: classifier.classify(logits),
                            embedding,
                        };
                        done.push((
                            p.index,
                            ItemOutcome::Row(Box::new(build_row(item, p.ctx, content))),
                        ));
                    }
                }
                Err(e) => {
                    for p in group {
                        let stage = self.fail(
                            p.index,
                            &items[p.index],
                            p.ctx,
                            e.disposition(),
                            e.to_string(),
                        );
                        if let Stage::Done(i, o) = stage {
                            done.push((i, o));
                        }
                    }
                }
            }
        }
        done
    }

    /// Writes rows as Parquet: one file per (results bucket, catalog, date), named by
    /// content. Duplicate objects in one batch (at-least-once delivery) keep one row.
    pub async fn write_rows(&self, rows: &[ResultRow]) -> Result<Vec<String>, PipelineError> {
        let mut seen = HashSet::new();
        let mut by_bucket: HashMap<String, Vec<ResultRow>> = HashMap::new();
        for r in rows {
            if seen.insert((r.bucket.clone(), r.key.clone(), r.etag.clone())) {
                let bucket = self
                    .settings
                    .results_bucket
                    .clone()
                    .unwrap_or_else(|| r.bucket.clone());
                by_bucket.entry(bucket).or_default().push(r.clone());
            }
        }
        let mut keys = Vec::new();
        for (bucket, rows) in by_bucket {
            let prefix = self.settings.results_prefix.clone();
            let files = tokio::task::spawn_blocking(move || result_files(&prefix, &rows))
                .await
                .map_err(|e| VisionError::Runtime(format!("encoder task failed: {e}")))??;
            for f in files {
                self.sink
                    .put(&bucket, &f.key, f.bytes, "application/vnd.apache.parquet")
                    .await?;
                tracing::info!(bucket = %bucket, key = %f.key, rows = f.rows, "wrote results");
                keys.push(f.key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1e3
}
