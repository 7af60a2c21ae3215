//! A pipeline over fake models: real manifests, catalogs, decoding, stores and Parquet,
//! with the ONNX Runtime engine replaced by [`FakeInference`], whose outputs follow
//! simple rules on the input tensors.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use sightline_core::{CatalogConfig, Catalogs, ObjectRef, ResultRow, Settings};
use sightline_pipeline::redact::CopyLimit;
use sightline_pipeline::{BatchReport, Inference, ModelId, ModelSet, Pipeline};
use sightline_queue::{s3_event_body, Message};
use sightline_storage::{LocalStore, Store};
use sightline_vision::{ModelOutput, ModelRegistry, VisionError};

/// A catalog of the fake models that redacts faces: each image is kept until its
/// redacted copy is written.
pub const SECURITY: &str = r#"
name = "cams"
[classifier]
model = "fake_cls"
[detector]
model = "fake_det"
[detector.taxonomy]
people = ["person"]
[faces]
model = "fake_face"
within = ["person"]
redact = true
tags = ["face"]
"#;

/// The bucket name of the source folder.
pub const BUCKET: &str = "photos";
/// Input side of the fake detector (letterboxed).
pub const DET_SIZE: u32 = 16;
/// Input side of the fake face detector (BlazeFace's anchors need 256).
pub const FACE_SIZE: u32 = 256;

const MANIFESTS: [(&str, &str, &str); 3] = [
    (
        "fake_cls",
        "dark\nbright\n",
        r#"task = "classification"
[input]
name = "input"
layout = "nchw"
shape = [-1, 3, 8, 8]
[preprocess]
kind = "center_crop"
resize_shorter = 8
crop = 8
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
[outputs]
logits = "logits"
embedding = "embedding"
embedding_dim = 4
"#,
    ),
    (
        "fake_det",
        "person\ncup\n",
        r#"task = "detection"
[input]
name = "images"
layout = "nhwc"
shape = [1, 16, 16, 3]
[preprocess]
kind = "letterbox"
size = 16
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
[outputs]
detections = "detections"
"#,
    ),
    (
        "fake_face",
        "face\n",
        r#"task = "face_detection"
[input]
name = "input"
layout = "nhwc"
shape = [1, 256, 256, 3]
[preprocess]
kind = "letterbox"
size = 256
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
[outputs]
raw = ["scores_16", "regressors_16", "scores_32", "regressors_32"]
"#,
    ),
];

/// Writes the fake models' manifests, ONNX stand-ins (checksummed) and label files.
pub fn write_models(dir: &Path) {
    for (name, labels, body) in MANIFESTS {
        let onnx = format!("not a real model: {name}");
        let sha = hex::encode(Sha256::digest(onnx.as_bytes()));
        std::fs::write(dir.join(format!("{name}.onnx")), &onnx).unwrap();
        std::fs::write(dir.join(format!("{name}.txt")), labels).unwrap();
        let head = format!(
            "name = \"{name}\"\nversion = \"0.1\"\nfile = \"{name}.onnx\"\nsha256 = \"{sha}\"\n\
             labels = \"{name}.txt\"\nsource = \"test\"\nlicence = \"test\"\n"
        );
        std::fs::write(dir.join(format!("{name}.toml")), head + body).unwrap();
    }
}

/// What the fake does, per model name.
#[derive(Debug, Default)]
pub struct FakeInference {
    names: Vec<String>,
    /// Batched runs so far: (model name, images).
    pub runs: Mutex<Vec<(String, usize)>>,
    /// Runs whose input's mean is within 0.001 of this fail (a transient runtime error).
    pub fail_on_mean: Mutex<Option<f32>>,
    /// Face boxes (x1, y1, x2, y2 in the 256-px input) the face model reports.
    pub faces: Mutex<Vec<[f32; 4]>>,
    /// How long each run takes.
    pub delay: Mutex<std::time::Duration>,
    calls: AtomicUsize,
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

impl FakeInference {
    /// A fake for `models`, sharing its settings with the test through the `Arc`.
    pub fn new(models: &ModelSet) -> FakeInference {
        FakeInference {
            names: models
                .models()
                .iter()
                .map(|m| m.manifest.name.clone())
                .collect(),
            ..FakeInference::default()
        }
    }

    fn classify(per_image: &[&[f32]]) -> ModelOutput {
        let means: Vec<f32> = per_image.iter().map(|t| mean(t)).collect();
        ModelOutput {
            n: means.len(),
            logits: means
                .iter()
                .flat_map(|m| [10.0 * (0.5 - m), 10.0 * (m - 0.5)])
                .collect(),
            classes: 2,
            embedding: Some(means.iter().flat_map(|&m| [m; 4]).collect()),
            embedding_dim: 4,
            ..ModelOutput::default()
        }
    }

    fn detect(n: usize) -> ModelOutput {
        // One person in the middle half of the input, one weak cup (below 0.3).
        let rows = [4.0, 4.0, 12.0, 12.0, 0.9, 0.0, 0.0, 0.0, 2.0, 2.0, 0.1, 1.0];
        ModelOutput {
            n,
            detections: rows.repeat(n),
            detection_rows: 2,
            ..ModelOutput::default()
        }
    }

    fn face(&self, n: usize) -> ModelOutput {
        let anchors = sightline_vision::face::anchors();
        let mut scores = vec![-10.0f32; 896];
        let mut regs = vec![0.0f32; 896 * 16];
        for [x1, y1, x2, y2] in self.faces.lock().unwrap().iter() {
            let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
            let nearest = (0..896)
                .min_by(|&a, &b| {
                    let d = |i: usize| (anchors[i].0 - cx).powi(2) + (anchors[i].1 - cy).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            scores[nearest] = 5.0;
            let r = &mut regs[nearest * 16..nearest * 16 + 4];
            r.copy_from_slice(&[
                cx - anchors[nearest].0,
                cy - anchors[nearest].1,
                x2 - x1,
                y2 - y1,
            ]);
        }
        let (s16, s32) = scores.split_at(512);
        let (r16, r32) = regs.split_at(512 * 16);
        ModelOutput {
            n,
            raw: vec![
                (512, s16.repeat(n)),
                (512 * 16, r16.repeat(n)),
                (384, s32.repeat(n)),
                (384 * 16, r32.repeat(n)),
            ],
            ..ModelOutput::default()
        }
    }

    /// Total batched runs so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Inference for FakeInference {
    fn execution_provider(&self) -> &str {
        "fake"
    }

    fn run(
        &self,
        model: ModelId,
        input: Vec<f32>,
        n: usize,
    ) -> BoxFuture<'_, Result<ModelOutput, VisionError>> {
        let name = self.names[model.0].clone();
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.runs.lock().unwrap().push((name.clone(), n));
        let per = input.len() / n.max(1);
        let per_image: Vec<&[f32]> = input.chunks(per.max(1)).collect();
        let fail = *self.fail_on_mean.lock().unwrap();
        let result = if per_image
            .iter()
            .any(|t| fail.is_some_and(|f| (mean(t) - f).abs() < 1e-3))
        {
            Err(VisionError::Inference {
                model: name,
                message: "injected failure".into(),
            })
        } else {
            Ok(match name.as_str() {
                "fake_cls" => Self::classify(&per_image),
                "fake_det" => Self::detect(n),
                _ => self.face(n),
            })
        };
        let delay = *self.delay.lock().unwrap();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            result
        })
    }
}

/// A pipeline over `source` (mounted at `incoming/<catalog>/`) writing under `output`.
pub struct Harness {
    pub pipeline: Pipeline,
    pub fake: Arc<FakeInference>,
    pub source: tempfile::TempDir,
    pub output: tempfile::TempDir,
    _models: tempfile::TempDir,
}

/// Builds a harness for `catalog` (TOML) with `settings`.
pub fn harness(catalog: &str, settings: Settings) -> Harness {
    harness_with(catalog, settings, CopyLimit::default())
}

/// [`harness`] with its own bound on redacted copies.
pub fn harness_with(catalog: &str, settings: Settings, copy_limit: CopyLimit) -> Harness {
    let models = tempfile::tempdir().unwrap();
    write_models(models.path());
    let config = CatalogConfig::from_toml(catalog, "test").unwrap();
    let (source, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = Store::Local(
        LocalStore::new(source.path()).mounted_at(format!("incoming/{}/", config.name)),
    );
    let sink = Store::Local(LocalStore::new(output.path()));
    let slot: Arc<Mutex<Option<Arc<FakeInference>>>> = Arc::default();
    let handle = Arc::clone(&slot);
    let pipeline = Pipeline::builder(settings, src, sink)
        .registry(ModelRegistry::new(models.path()))
        .catalogs(Catalogs::from_configs([config]))
        .copy_limit(copy_limit)
        .inference(move |_, models| {
            let fake = Arc::new(FakeInference::new(models));
            *handle.lock().unwrap() = Some(Arc::clone(&fake));
            Ok(fake as Arc<dyn Inference>)
        })
        .build()
        .unwrap();
    let fake = slot.lock().unwrap().take().unwrap();
    Harness {
        pipeline,
        fake,
        source,
        output,
        _models: models,
    }
}

/// Settings for tests: small batches, results in the source bucket.
pub fn settings(infer_batch: usize) -> Settings {
    Settings {
        infer_batch,
        infer_threads: 1,
        ..Settings::default()
    }
}

impl Harness {
    /// Writes `bytes` as `name` into the source folder.
    pub fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.source.path().join(name), bytes).unwrap();
    }

    /// One message per group of file names, each as an S3 notification of `catalog`.
    pub fn messages(&self, catalog: &str, groups: &[&[&str]]) -> Vec<Message> {
        groups
            .iter()
            .enumerate()
            .map(|(i, names)| {
                let objects: Vec<ObjectRef> = names
                    .iter()
                    .map(|n| ObjectRef::new(BUCKET, format!("incoming/{catalog}/{n}")))
                    .collect();
                Message {
                    id: format!("m{i}"),
                    receipt: format!("r{i}"),
                    body: s3_event_body(&objects),
                    receive_count: 1,
                }
            })
            .collect()
    }

    /// Processes `messages` as one batch.
    pub async fn process(&self, messages: &[Message]) -> BatchReport {
        self.pipeline.process_messages(messages).await
    }

    /// Every row of every results file under the output folder, read back from Parquet.
    pub fn rows_on_disk(&self) -> Vec<ResultRow> {
        let root = self.output.path();
        let mut rows = Vec::new();
        for path in files_under(&root.join("results")) {
            let key = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
            rows.extend(sightline_tables::read_rows(&key, bytes).unwrap());
        }
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows
    }
}

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A `w`×`h` PNG of one grey level.
pub fn png(w: u32, h: u32, level: u8) -> Vec<u8> {
    encode(image::RgbImage::from_pixel(w, h, image::Rgb([level; 3])))
}

/// A `w`×`h` PNG with a fine checkerboard (pixelation visibly changes it).
pub fn checker_png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([if (x + y) % 2 == 0 { 250 } else { 5 }; 3])
    });
    encode(img)
}

/// A 1 × `height` PNG of one grey level, 8-bit grey at the best compression: a few bytes
/// per thousand rows.
pub fn tall_png(height: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        &vec![90u8; height as usize],
        1,
        height,
        image::ExtendedColorType::L8,
    )
    .unwrap();
    out
}

fn encode(img: image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The repository root (models, fixtures).
pub fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A pipeline over the shipped models and the real ONNX Runtime (one inference thread),
/// reading a temporary source folder and writing a temporary output folder.
pub struct RealPipeline {
    pub pipeline: Pipeline,
    pub source: tempfile::TempDir,
    pub output: tempfile::TempDir,
}

impl RealPipeline {
    /// Runs `catalogs` over the shipped models, with `infer_batch` images per model run.
    pub fn new(catalogs: impl IntoIterator<Item = CatalogConfig>, infer_batch: usize) -> Self {
        Self::with_models(repo().join("models"), catalogs, infer_batch)
    }

    /// Runs `catalogs` over the models folder `models`.
    pub fn with_models(
        models: std::path::PathBuf,
        catalogs: impl IntoIterator<Item = CatalogConfig>,
        infer_batch: usize,
    ) -> Self {
        Self::try_with_models(models, catalogs, infer_batch).unwrap()
    }

    /// As [`RealPipeline::with_models`], or the error that stops the pipeline's start.
    pub fn try_with_models(
        models: std::path::PathBuf,
        catalogs: impl IntoIterator<Item = CatalogConfig>,
        infer_batch: usize,
    ) -> Result<Self, sightline_pipeline::PipelineError> {
        let (source, output) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let settings = Settings {
            infer_batch,
            infer_threads: 1,
            ort_dylib: std::env::var_os("SIGHTLINE_ORT_DYLIB").map(std::path::PathBuf::from),
            ..Settings::default()
        };
        let pipeline = Pipeline::builder(
            settings,
            Store::Local(LocalStore::new(source.path())),
            Store::Local(LocalStore::new(output.path())),
        )
        .registry(ModelRegistry::new(models))
        .catalogs(Catalogs::from_configs(catalogs))
        .build()?;
        Ok(RealPipeline {
            pipeline,
            source,
            output,
        })
    }
}

impl RealPipeline {
    /// Copies the fixture photos `names` (`tests/fixtures/images`) under
    /// `incoming/<catalog>/` of the source folder; their keys.
    pub fn put_fixture_images<'a>(
        &self,
        catalog: &str,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Vec<String> {
        let mut keys = Vec::new();
        for name in names {
            let key = format!("incoming/{catalog}/{name}");
            let path = self.source.path().join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(repo().join("tests/fixtures/images").join(name), path).unwrap();
            keys.push(key);
        }
        keys
    }
}

/// Processes `keys` of bucket `b` as one message through a pipeline of real models and
/// returns the rows by key; every row must be a success row.
pub async fn success_rows(
    pipeline: &Pipeline,
    keys: &[String],
) -> std::collections::HashMap<String, ResultRow> {
    let objects: Vec<ObjectRef> = keys.iter().map(|k| ObjectRef::new("b", k)).collect();
    let message = Message {
        id: "m0".into(),
        receipt: "r0".into(),
        body: s3_event_body(&objects),
        receive_count: 1,
    };
    let report = pipeline.process_messages(&[message]).await;
    assert!(report.failed.is_empty(), "{report:?}");
    report
        .written
        .into_iter()
        .inspect(|r| assert!(r.error_kind.is_none(), "{r:?}"))
        .map(|r| (r.key.clone(), r))
        .collect()
}
