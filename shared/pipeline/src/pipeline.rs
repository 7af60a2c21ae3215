//! The batch processor shared by every run mode.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use sightline_core::{
    route_key, Catalogs, Detection, DetectorConfig, Disposition, ErrorKind, FaceConfig, ObjectRef,
    ResultRow, Route, Settings, WorkItem, UNROUTED_CATALOG,
};
use sightline_queue::{parse_body, Message};
use sightline_storage::Store;
use sightline_tables::result_files;
use sightline_vision::detect::decode_rows;
use sightline_vision::engine::EngineConfig;
use sightline_vision::face::decode_blazeface;
use sightline_vision::manifest::LoadedModel;
use sightline_vision::manifest::Task;
use sightline_vision::preprocess::LetterboxGeometry;
use sightline_vision::{
    decode_image, encode_image, redact, runtime, Classifier, DecodeLimits, DetectionFilter,
    EncodeFormat, Engine, ModelOutput, ModelRegistry, Preprocess, RedactStyle, RgbImage,
    VisionError,
};
use tokio::sync::Semaphore;

use crate::rows::{build_row, RowContent, RowContext};
use crate::PipelineError;

/// A catalog ready to run: its models (engine indices), post-processing and row labels.
struct CatalogRuntime {
    /// Classifier: engine index and post-processing.
    classifier: Option<(usize, Classifier)>,
    /// Detector: engine index, filter, detector label → tags.
    detector: Option<(usize, DetectionFilter, HashMap<String, Vec<String>>)>,
    /// Face detector: engine index, NMS/cap filter, settings.
    faces: Option<(usize, DetectionFilter, FaceConfig)>,
    /// The models' names joined with `+` (the `model` column) and their versions.
    model: String,
    model_version: String,
}

/// Loads `name` into `models` once; returns its engine index.
fn model_index(
    models: &mut Vec<Arc<LoadedModel>>,
    registry: &ModelRegistry,
    name: &str,
    task: Task,
) -> Result<usize, VisionError> {
    let idx = match models.iter().position(|m| m.manifest.name == name) {
        Some(i) => i,
        None => {
            models.push(registry.load(name)?);
            models.len() - 1
        }
    };
    if models[idx].manifest.task != task {
        return Err(VisionError::Model {
            model: name.to_string(),
            message: format!("is not a {task:?} model"),
        });
    }
    Ok(idx)
}

/// The detector's filter and tags, every label checked against the label file.
fn detector_runtime(
    cfg: &DetectorConfig,
    labels: &[String],
) -> Result<(DetectionFilter, HashMap<String, Vec<String>>), VisionError> {
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
    let filter = DetectionFilter {
        min_score: cfg.min_score,
        class_min_score: cfg
            .class_min_score
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        classes: cfg.classes.clone(),
        nms_iou: cfg.nms_iou,
        max_detections: cfg.max_detections,
    };
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for (tag, ls) in &cfg.taxonomy {
        for l in ls {
            tags.entry(l.clone()).or_default().push(tag.clone());
        }
    }
    Ok((filter, tags))
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
    /// Per model of the catalog: engine index, input tensor, and where the image sits in
    /// a letterboxed input.
    tensors: Vec<(usize, Vec<f32>, Option<LetterboxGeometry>)>,
    /// The decoded image, kept only when the catalog writes redacted copies.
    image: Option<RgbImage>,
}

impl Prepared {
    fn geometry(&self, model: usize) -> Option<LetterboxGeometry> {
        self.tensors.iter().find(|t| t.0 == model).and_then(|t| t.2)
    }
}

/// Where a redacted copy of `key` is written (the original is never touched).
pub fn redacted_key(key: &str) -> String {
    format!("redacted/{key}")
}

/// Keeps the faces whose centre lies inside one of `within`'s labels among `detections`
/// (all faces when `within` is empty).
fn faces_within(
    faces: &[Detection],
    detections: &[Detection],
    within: &[String],
) -> Vec<Detection> {
    faces
        .iter()
        .filter(|f| {
            let (cx, cy) = ((f.x_min + f.x_max) / 2.0, (f.y_min + f.y_max) / 2.0);
            within.is_empty()
                || detections.iter().any(|d| {
                    within.contains(&d.label)
                        && (d.x_min..=d.x_max).contains(&cx)
                        && (d.y_min..=d.y_max).contains(&cy)
                })
        })
        .cloned()
        .collect()
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
            let in_catalog = |e: VisionError| VisionError::Model {
                model: format!("catalog {}", c.name),
                message: e.to_string(),
            };
            let classifier = match &c.classifier {
                Some(cfg) => {
                    let idx = model_index(&mut models, registry, &cfg.model, Task::Classification)
                        .map_err(in_catalog)?;
                    let cl = Classifier::new(
                        cfg.clone(),
                        models[idx].labels.clone(),
                        &c.tags_by_label(),
                    )
                    .map_err(in_catalog)?;
                    Some((idx, cl))
                }
                None => None,
            };
            let detector = match &c.detector {
                Some(cfg) => {
                    let idx = model_index(&mut models, registry, &cfg.model, Task::Detection)
                        .map_err(in_catalog)?;
                    let (filter, tags) =
                        detector_runtime(cfg, &models[idx].labels).map_err(in_catalog)?;
                    Some((idx, filter, tags))
                }
                None => None,
            };
            let faces = match &c.faces {
                Some(cfg) => {
                    let idx = model_index(&mut models, registry, &cfg.model, Task::FaceDetection)
                        .map_err(in_catalog)?;
                    if let Some(d) = &c.detector {
                        let labels = &models[detector.as_ref().map_or(idx, |d| d.0)].labels;
                        if let Some(l) = cfg.within.iter().find(|l| !labels.contains(l)) {
                            return Err(in_catalog(VisionError::Model {
                                model: d.model.clone(),
                                message: format!("faces.within names {l:?}, not a detector label"),
                            })
                            .into());
                        }
                    }
                    let filter = DetectionFilter {
                        min_score: cfg.min_score,
                        nms_iou: cfg.nms_iou,
                        max_detections: cfg.max_faces,
                        ..DetectionFilter::default()
                    };
                    Some((idx, filter, cfg.clone()))
                }
                None => None,
            };
            let used: Vec<&LoadedModel> = classifier
                .iter()
                .map(|c| c.0)
                .chain(detector.iter().map(|d| d.0))
                .chain(faces.iter().map(|f| f.0))
                .map(|i| &*models[i])
                .collect();
            let join = |f: fn(&LoadedModel) -> &str| {
                used.iter().map(|m| f(m)).collect::<Vec<_>>().join("+")
            };
            let rt = CatalogRuntime {
                model: join(|m| &m.manifest.name),
                model_version: join(|m| &m.manifest.version),
                classifier,
                detector,
                faces,
            };
            runtimes.insert(c.name.clone(), rt);
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
        let c = self.catalogs.get(catalog);
        RowContext {
            model: c.map(|c| c.model.clone()).unwrap_or_default(),
            model_version: c.map(|c| c.model_version.clone()).unwrap_or_default(),
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
        let inputs: Vec<(usize, Preprocess)> = catalog
            .classifier
            .iter()
            .map(|c| c.0)
            .chain(catalog.detector.iter().map(|d| d.0))
            .chain(catalog.faces.iter().map(|f| f.0))
            .map(|m| (m, self.engine.models()[m].preprocess()))
            .collect();
        let keep_image = catalog.faces.as_ref().is_some_and(|f| f.2.redact);
        let limits = DecodeLimits {
            max_pixels: self.settings.max_image_pixels,
        };
        let Ok(_permit) = self.cpu.acquire().await else {
            return Stage::Done(index, ItemOutcome::Retry("shutting down".into()));
        };
        let bytes: Bytes = object.bytes;
        let t = Instant::now();
        // One decode, then each model's own preprocessing.
        let decoded = tokio::task::spawn_blocking(move || {
            let img = decode_image(&bytes, limits)?;
            let tensors = inputs
                .into_iter()
                .map(|(m, pp)| {
                    let mut tensor = vec![0f32; pp.tensor_len()];
                    let geometry = pp.run(&img, &mut tensor);
                    (m, tensor, geometry)
                })
                .collect();
            let stats = img.stats();
            let size = (img.width, img.height);
            Ok::<_, VisionError>((size, stats, tensors, keep_image.then_some(img)))
        })
        .await;
        ctx.timings.decode_ms = ms(t);
        match decoded {
            Ok(Ok((size_px, stats, tensors, image))) => {
                ctx.size_px = Some(size_px);
                ctx.stats = Some(stats);
                Stage::Ready(Prepared {
                    index,
                    ctx,
                    tensors,
                    image,
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

    /// Runs every model on the images of `chunk` (one batched run per model) and builds
    /// their rows once all of an image's models have answered.
    async fn infer(&self, chunk: Vec<Prepared>, items: &[WorkItem]) -> Vec<(usize, ItemOutcome)> {
        let mut outputs: Vec<HashMap<usize, ModelOutput>> = vec![HashMap::new(); chunk.len()];
        let mut failed: Vec<Option<VisionError>> = (0..chunk.len()).map(|_| None).collect();
        let mut infer_ms = vec![0f32; chunk.len()];
        let mut by_model: HashMap<usize, Vec<(usize, &[f32])>> = HashMap::new();
        for (j, p) in chunk.iter().enumerate() {
            for (m, t, _) in &p.tensors {
                by_model.entry(*m).or_default().push((j, t));
            }
        }
        for (model, members) in by_model {
            let n = members.len();
            let input: Vec<f32> = members
                .iter()
                .flat_map(|(_, t)| t.iter().copied())
                .collect();
            match self.engine.run(model, input, n).await {
                Ok(out) => {
                    for (k, (j, _)) in members.iter().enumerate() {
                        infer_ms[*j] += out.run_ms / n as f32;
                        outputs[*j].insert(model, out.slice(k));
                    }
                }
                Err(e) => {
                    for (j, _) in members {
                        failed[j] = Some(VisionError::Inference {
                            model: self.engine.models()[model].manifest.name.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        let mut done = Vec::with_capacity(chunk.len());
        for (j, mut p) in chunk.into_iter().enumerate() {
            let item = &items[p.index];
            if let Some(e) = failed[j].take() {
                if let Stage::Done(i, o) =
                    self.fail(p.index, item, p.ctx, e.disposition(), e.to_string())
                {
                    done.push((i, o));
                }
                continue;
            }
            let Some(catalog) = self.catalogs.get(&item.catalog) else {
                continue;
            };
            p.ctx.execution_provider = self.engine.execution_provider().to_string();
            p.ctx.timings.infer_ms = infer_ms[j];
            let (mut labels, mut tags, mut detections, mut embedding) =
                (Vec::new(), Vec::new(), Vec::new(), None);
            if let Some((m, classifier)) = &catalog.classifier {
                let out = &outputs[j][m];
                let c = classifier.classify(&out.logits);
                (labels, tags) = (c.labels, c.tags);
                embedding = out.embedding.clone();
            }
            let geometry = |m: Option<usize>| m.and_then(|m| p.geometry(m)).zip(p.ctx.size_px);
            if let (Some((m, filter, det_tags)), Some((geometry, size))) = (
                &catalog.detector,
                geometry(catalog.detector.as_ref().map(|d| d.0)),
            ) {
                let model = &self.engine.models()[*m];
                detections = filter.apply(decode_rows(
                    &outputs[j][m].detections,
                    geometry,
                    size,
                    &model.labels,
                ));
                tags.extend(
                    detections
                        .iter()
                        .flat_map(|d| det_tags.get(&d.label))
                        .flatten()
                        .cloned(),
                );
            }
            let mut redacted_key = None;
            if let (Some((m, filter, cfg)), Some((geometry, size))) = (
                &catalog.faces,
                geometry(catalog.faces.as_ref().map(|f| f.0)),
            ) {
                // Face classes are numbered after the detector's, so a class id names
                // one class across the row's detections.
                let offset = catalog
                    .detector
                    .as_ref()
                    .map_or(0, |d| self.engine.models()[d.0].labels.len() as i32);
                let mut faces = filter.apply(decode_blazeface(
                    &outputs[j][m].raw,
                    geometry,
                    size,
                    cfg.min_score,
                ));
                for f in &mut faces {
                    f.class_id += offset;
                }
                if let Some(img) = p.image.take() {
                    match self.write_redacted(item, img, &faces).await {
                        Ok(key) => redacted_key = Some(key),
                        Err(e) => {
                            if let Stage::Done(i, o) =
                                self.fail(p.index, item, p.ctx, e.disposition(), e.to_string())
                            {
                                done.push((i, o));
                            }
                            continue;
                        }
                    }
                }
                let kept = faces_within(&faces, &detections, &cfg.within);
                if !kept.is_empty() {
                    tags.extend(cfg.tags.iter().cloned());
                }
                detections.extend(kept);
            }
            tags.sort();
            tags.dedup();
            let content = RowContent::Analyzed {
                labels,
                tags,
                detections,
                embedding,
                redacted_key,
            };
            done.push((
                p.index,
                ItemOutcome::Row(Box::new(build_row(item, p.ctx, content))),
            ));
        }
        done
    }

    /// Pixelates `faces` in `img` and writes it to `redacted/<key>` in the results bucket,
    /// in the original's format family (JPEG stays JPEG, everything else becomes PNG).
    async fn write_redacted(
        &self,
        item: &WorkItem,
        mut img: RgbImage,
        faces: &[Detection],
    ) -> Result<String, PipelineError> {
        let key = redacted_key(&item.object.key);
        let lower = item.object.key.to_ascii_lowercase();
        let (format, content_type) = if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
            (EncodeFormat::Jpeg { quality: 90 }, "image/jpeg")
        } else {
            (EncodeFormat::Png, "image/png")
        };
        let boxes: Vec<[f32; 4]> = faces
            .iter()
            .map(|f| [f.x_min, f.y_min, f.x_max, f.y_max])
            .collect();
        let bytes = tokio::task::spawn_blocking(move || {
            redact(&mut img, &boxes, RedactStyle::default(), REDACT_MARGIN);
            encode_image(&img, format)
        })
        .await
        .map_err(|e| VisionError::Runtime(format!("redaction task failed: {e}")))?
        .map_err(|e| VisionError::Runtime(format!("encoding the redacted copy: {e}")))?;
        let bucket = self
            .settings
            .results_bucket
            .clone()
            .unwrap_or_else(|| item.object.bucket.clone());
        self.sink
            .put(&bucket, &key, Bytes::from(bytes), content_type)
            .await?;
        Ok(key)
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

/// Each face box grows by this fraction of its size on every side before redaction
/// (BlazeFace boxes are tight around eyes–mouth; hair, ears and chin lie outside).
const REDACT_MARGIN: f32 = 0.25;

fn ms(t: Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1e3
}
