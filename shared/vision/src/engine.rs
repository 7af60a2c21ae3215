//! Inference threads. Each thread owns one ONNX Runtime session per model (`Session::run`
//! takes `&mut self`), and all threads take jobs from one queue, so a batch goes to
//! whichever thread is free. Callers are async; the threads are plain OS threads, so
//! model runs never block the async runtime.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use tokio::sync::oneshot;

use crate::manifest::LoadedModel;
use crate::yolo::pad_rows;
use crate::VisionError;

/// Outputs of one model run over a batch of `n` images. Outputs a model does not have
/// are empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOutput {
    /// Images in the batch.
    pub n: usize,
    /// `n × classes` raw scores, row-major.
    pub logits: Vec<f32>,
    /// Classes per image.
    pub classes: usize,
    /// `n × dim` embeddings, if the model has an embedding output.
    pub embedding: Option<Vec<f32>>,
    /// Embedding size.
    pub embedding_dim: usize,
    /// `n × detection_rows × 6` detector rows (`x1, y1, x2, y2, score, class`, input pixels).
    pub detections: Vec<f32>,
    /// Detector rows per image.
    pub detection_rows: usize,
    /// The manifest's `outputs.raw` tensors in order: (values per image, `n` × that many).
    pub raw: Vec<(usize, Vec<f32>)>,
    /// Wall time of the run in milliseconds.
    pub run_ms: f32,
}

impl ModelOutput {
    /// The outputs of image `k` of the batch alone.
    pub fn slice(&self, k: usize) -> ModelOutput {
        let part = |v: &[f32], width: usize| {
            v.get(k * width..(k + 1) * width)
                .map(<[f32]>::to_vec)
                .unwrap_or_default()
        };
        ModelOutput {
            n: 1,
            logits: part(&self.logits, self.classes),
            classes: self.classes,
            embedding: self.embedding.as_ref().map(|e| part(e, self.embedding_dim)),
            embedding_dim: self.embedding_dim,
            detections: part(&self.detections, self.detection_rows * 6),
            detection_rows: self.detection_rows,
            raw: self.raw.iter().map(|(w, v)| (*w, part(v, *w))).collect(),
            run_ms: self.run_ms / self.n.max(1) as f32,
        }
    }
}

struct Job {
    model: usize,
    input: Vec<f32>,
    n: usize,
    reply: oneshot::Sender<Result<ModelOutput, VisionError>>,
}

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Inference threads.
    pub threads: usize,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
    /// `cpu` or `cuda`.
    pub execution_provider: String,
}

/// A pool of inference threads over a fixed set of models.
pub struct Engine {
    tx: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    models: Vec<Arc<LoadedModel>>,
    provider: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("threads", &self.workers.len())
            .field(
                "models",
                &self
                    .models
                    .iter()
                    .map(|m| &m.manifest.name)
                    .collect::<Vec<_>>(),
            )
            .field("provider", &self.provider)
            .finish()
    }
}

/// Creates a CPU session for `model` and checks it against its manifest (what the engine
/// does for every model at start-up), for `sightline models import`.
pub fn check_model(env: &Environment, model: &LoadedModel) -> Result<(), VisionError> {
    let cfg = EngineConfig {
        threads: 1,
        intra_threads: 1,
        execution_provider: "cpu".into(),
    };
    let mut session = session(env, model, &cfg)?;
    probe_outputs(&mut session, model)
}

/// Runs `model` once on a constant input (0.5 in every element) and refuses outputs that
/// are NaN or +∞ (a broken export, an overflow): at start-up, not as a batch of error rows.
fn probe_outputs(session: &mut Session, model: &LoadedModel) -> Result<(), VisionError> {
    let len = model.preprocess().tensor_len();
    let out = run_one(session, model, &vec![0.5; len], 1)?;
    let named = [("logits", &out.logits), ("detections", &out.detections)];
    let embedding = out.embedding.iter().map(|e| ("embedding", e));
    let raw = out.raw.iter().map(|(_, v)| ("raw", v));
    for (what, values) in named.into_iter().chain(embedding).chain(raw) {
        // Padding rows of a YOLO output carry a score of -inf on purpose.
        let bad = values
            .iter()
            .filter(|v| v.is_nan() || **v == f32::INFINITY)
            .count();
        if bad > 0 {
            return Err(VisionError::Model {
                model: model.manifest.name.clone(),
                message: format!(
                    "its {what} output has {bad} NaN or infinite values on a constant test \
                     input: a broken export, or a normalisation the model was not trained with"
                ),
            });
        }
    }
    Ok(())
}

fn session(
    env: &Environment,
    model: &LoadedModel,
    cfg: &EngineConfig,
) -> Result<Session, VisionError> {
    let err = |e: String| VisionError::Model {
        model: model.manifest.name.clone(),
        message: format!("cannot create session: {e}"),
    };
    let mut b = Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| err(e.to_string()))?
        .with_intra_threads(cfg.intra_threads)
        .map_err(|e| err(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.to_string()))?;
    match cfg.execution_provider.as_str() {
        "cpu" => {}
        #[cfg(feature = "cuda")]
        "cuda" => {
            b = b
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| err(e.to_string()))?;
        }
        other => {
            return Err(err(format!(
                "execution provider {other:?} is not available in this build (cpu{})",
                if cfg!(feature = "cuda") {
                    ", cuda"
                } else {
                    "; build with --features sightline-vision/cuda for cuda"
                }
            )))
        }
    }
    let session = b
        .commit_from_memory(&model.onnx)
        .map_err(|e| err(e.to_string()))?;
    crate::outlets::check(&session, model).map_err(|e| VisionError::Model {
        model: model.manifest.name.clone(),
        message: format!("does not fit its manifest: {e}"),
    })?;
    Ok(session)
}

fn run_one(
    session: &mut Session,
    model: &LoadedModel,
    input: &[f32],
    n: usize,
) -> Result<ModelOutput, VisionError> {
    let m = &model.manifest;
    let err = |e: String| VisionError::Inference {
        model: m.name.clone(),
        message: e,
    };
    let t = Instant::now();
    // Graphs with a fixed batch of 1 (the detectors) run once per image.
    let per_run = if m.input.shape.first() == Some(&1) {
        1
    } else {
        n.max(1)
    };
    let per_image = input.len() / n.max(1);
    let mut out = ModelOutput {
        n,
        ..ModelOutput::default()
    };
    let mut detections: Vec<Vec<f32>> = Vec::new();
    for (start, chunk) in input.chunks(per_run * per_image).enumerate() {
        let k = chunk.len() / per_image;
        let shape: Vec<usize> = m
            .input
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if i == 0 { k } else { d.max(1) as usize })
            .collect();
        if shape.iter().product::<usize>() != chunk.len() {
            return Err(err(format!(
                "input of {} floats does not fit shape {shape:?}",
                chunk.len()
            )));
        }
        let tensor = TensorRef::from_array_view((shape, chunk)).map_err(|e| err(e.to_string()))?;
        let outputs = session
            .run(ort::inputs![m.input.name.as_str() => tensor])
            .map_err(|e| err(format!("run {start}: {e}")))?;
        // Appends one output's values; returns its per-image width.
        let take = |name: &Option<String>, into: &mut Vec<f32>| -> Result<usize, VisionError> {
            let Some(name) = name else { return Ok(0) };
            let v = outputs
                .get(name.as_str())
                .ok_or_else(|| err(format!("no output named {name:?}")))?;
            let (shape, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| err(e.to_string()))?;
            into.extend_from_slice(data);
            Ok(shape.iter().skip(1).product::<i64>() as usize)
        };
        out.classes = take(&m.outputs.logits, &mut out.logits)?;
        let mut emb = out.embedding.take().unwrap_or_default();
        out.embedding_dim = take(&m.outputs.embedding, &mut emb)?;
        out.embedding = m.outputs.embedding.as_ref().map(|_| emb);
        if out.embedding.is_some() && m.outputs.embedding_dim != Some(out.embedding_dim) {
            return Err(err(format!(
                "the embedding output has {} values per image, the manifest says {:?}",
                out.embedding_dim, m.outputs.embedding_dim
            )));
        }
        if let Some(name) = &m.outputs.detections {
            detections.extend(detector_rows(&outputs, name, k, model).map_err(err)?);
        }
        out.raw.resize(m.outputs.raw.len(), (0, Vec::new()));
        for (name, (w, values)) in m.outputs.raw.iter().zip(out.raw.iter_mut()) {
            *w = take(&Some(name.clone()), values)?;
        }
    }
    (out.detections, out.detection_rows) = pad_rows(detections);
    out.run_ms = t.elapsed().as_secs_f32() * 1e3;
    Ok(out)
}

/// Each of the `k` images' detector rows from the output `name`, read as the manifest's
/// `outputs.detection_format` says ([`crate::yolo::DetectionFormat::rows`]).
fn detector_rows(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    k: usize,
    model: &LoadedModel,
) -> Result<Vec<Vec<f32>>, String> {
    let v = outputs
        .get(name)
        .ok_or_else(|| format!("no output named {name:?}"))?;
    let (shape, data) = v.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
    let dims: Vec<usize> = shape.iter().skip(1).map(|&d| d.max(0) as usize).collect();
    let width: usize = dims.iter().product();
    if shape.first().map(|&b| b as usize) != Some(k) || data.len() != k * width {
        return Err(format!(
            "output {name:?} has shape {shape:?} for a batch of {k}"
        ));
    }
    let format = model.manifest.outputs.detection_format;
    data.chunks_exact(width.max(1))
        .map(|image| format.rows(image, &dims, model.labels.len()))
        .map(|r| r.map_err(|e| format!("output {name:?}: {e}")))
        .collect()
}

impl Engine {
    /// Starts `cfg.threads` threads, each creating a session for every model; returns
    /// once all sessions exist, or the first error.
    pub fn start(
        env: &'static Environment,
        models: Vec<Arc<LoadedModel>>,
        cfg: EngineConfig,
    ) -> Result<Engine, VisionError> {
        let threads = cfg.threads.max(1);
        let (tx, rx) = sync_channel::<Job>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), VisionError>>();
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (rx, models, cfg, ready) = (
                Arc::clone(&rx),
                models.clone(),
                cfg.clone(),
                ready_tx.clone(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("sightline-infer-{i}"))
                .spawn(move || worker(env, rx, models, cfg, ready, i == 0))
                .map_err(|e| VisionError::Engine(format!("cannot spawn inference thread: {e}")))?;
            workers.push(handle);
        }
        drop(ready_tx);
        let mut engine = Engine {
            tx: Some(tx),
            workers,
            models,
            provider: cfg.execution_provider.clone(),
        };
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    engine.shutdown();
                    return Err(e);
                }
                Err(_) => {
                    engine.shutdown();
                    return Err(VisionError::Engine(
                        "an inference thread died while starting".into(),
                    ));
                }
            }
        }
        Ok(engine)
    }

    /// The models, in the order given to [`Engine::start`].
    pub fn models(&self) -> &[Arc<LoadedModel>] {
        &self.models
    }

    /// Execution provider the sessions run on (`cpu`, `cuda`).
    pub fn execution_provider(&self) -> &str {
        &self.provider
    }

    /// Runs model `model` on `n` images whose tensors are concatenated in `input`.
    pub async fn run(
        &self,
        model: usize,
        input: Vec<f32>,
        n: usize,
    ) -> Result<ModelOutput, VisionError> {
        let (reply, rx) = oneshot::channel();
        let tx = self
            .tx
            .clone()
            .ok_or_else(|| VisionError::Engine("engine is shut down".into()))?;
        let job = Job {
            model,
            input,
            n,
            reply,
        };
        // The queue holds a few jobs; wait for room off the async threads.
        tokio::task::spawn_blocking(move || tx.send(job))
            .await
            .map_err(|e| VisionError::Engine(e.to_string()))?
            .map_err(|_| VisionError::Engine("inference threads stopped".into()))?;
        rx.await
            .map_err(|_| VisionError::Engine("inference thread dropped the job".into()))?
    }

    fn shutdown(&mut self) {
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker(
    env: &'static Environment,
    rx: Arc<Mutex<Receiver<Job>>>,
    models: Vec<Arc<LoadedModel>>,
    cfg: EngineConfig,
    ready: std::sync::mpsc::Sender<Result<(), VisionError>>,
    probe: bool,
) {
    let sessions: Result<Vec<Session>, VisionError> = models
        .iter()
        .map(|m| {
            let mut s = session(env, m, &cfg)?;
            if probe {
                probe_outputs(&mut s, m)?;
            }
            Ok(s)
        })
        .collect();
    let mut sessions = match sessions {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    drop(ready);
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = match (sessions.get_mut(job.model), models.get(job.model)) {
            (Some(s), Some(m)) => run_one(s, m, &job.input, job.n),
            _ => Err(VisionError::Engine(format!(
                "no model with index {}",
                job.model
            ))),
        };
        let _ = job.reply.send(result);
    }
}
