//! Ultralytics YOLO exports through the real pipeline (ONNX Runtime in process,
//! loaded from `.cache/onnxruntime` or `SIGHTLINE_ORT_DYLIB`): the fixtures of
//! `tests/fixtures/models` have a real export's tensor layout (NCHW input padded with 114;
//! YOLOv8 `[1, 4 + classes, 8400]`, YOLOv5 `[1, 6300, 5 + classes]`) and planted outputs,
//! and every row's detections equal what Ultralytics' own `non_max_suppression` and
//! `scale_boxes` give for them (`expected_yolo.json`, computed by
//! `make_model_fixtures.py`): boxes within 1 px in original pixels, scores within 1e-4.
//! The classify fixture (a real graph: channel means, a linear layer, softmax) labels the
//! fixture photos as Ultralytics' `classify_transforms` and its in-graph softmax do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sightline_core::CatalogConfig;
use support::{repo, success_rows, RealPipeline};

/// One expected detection.
#[derive(Debug, serde::Deserialize)]
struct Expected {
    label: String,
    score: f32,
    #[serde(rename = "box", default)]
    bbox: [f32; 4],
}

/// A detector-only catalog over `model` with Ultralytics' prediction thresholds.
fn catalog(model: &str) -> CatalogConfig {
    let toml = format!(
        "name = \"{model}\"\n[detector]\nmodel = \"{model}\"\nmin_score = 0.25\n\
         nms_iou = 0.45\nmax_detections = 300\n"
    );
    CatalogConfig::from_toml(&toml, "test").unwrap()
}

#[tokio::test]
async fn yolo_exports_give_the_rows_of_ultralytics_post_processing() {
    let fixtures = repo().join("tests/fixtures/models");
    let expected: std::collections::HashMap<String, Vec<Expected>> = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("expected_yolo.json")).unwrap(),
    )
    .unwrap();
    let models = ["yolov8_fixture", "yolov5_fixture"];
    let real = RealPipeline::with_models(fixtures, models.map(catalog), 4);
    let sizes = [(500u32, 375u32), (300, 480)];
    let mut keys = Vec::new();
    for model in models {
        for (w, h) in sizes {
            let key = format!("incoming/{model}/{w}x{h}.png");
            let path = real.source.path().join(&key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            image::RgbImage::from_pixel(w, h, image::Rgb([90, 140, 200]))
                .save(&path)
                .unwrap();
            keys.push(key);
        }
    }
    let rows = success_rows(&real.pipeline, &keys).await;
    let mut checked = 0;
    for model in models {
        for (w, h) in sizes {
            let row = &rows[&format!("incoming/{model}/{w}x{h}.png")];
            let want = &expected[&format!("{model}/{w}x{h}")];
            assert_eq!(
                row.detections.len(),
                want.len(),
                "{model} {w}x{h}: {:?}",
                row.detections
            );
            for (got, want) in row.detections.iter().zip(want) {
                let b = [got.x_min, got.y_min, got.x_max, got.y_max];
                let close = b.iter().zip(want.bbox).all(|(g, e)| (g - e).abs() <= 1.0);
                assert!(
                    got.label == want.label && (got.score - want.score).abs() <= 1e-4 && close,
                    "{model} {w}x{h}: got {got:?}, want {want:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 20, "five rows per image, four images");
}

/// The YOLOv8 fixture in a models folder of its own, its manifest edited by `edit`, with
/// an 80-label file beside the fixture's 3 labels; the error that stops the start.
fn start_error(edit: impl Fn(String) -> String) -> String {
    let fixtures = repo().join("tests/fixtures/models");
    let dir = tempfile::tempdir().unwrap();
    for f in ["yolov8_fixture.onnx", "yolo_labels.txt"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let coco = repo().join("models/coco_labels.txt");
    std::fs::copy(coco, dir.path().join("coco_labels.txt")).unwrap();
    let manifest = std::fs::read_to_string(fixtures.join("yolov8_fixture.toml")).unwrap();
    std::fs::write(dir.path().join("yolov8_fixture.toml"), edit(manifest)).unwrap();
    let started = RealPipeline::try_with_models(dir.path().into(), [catalog("yolov8_fixture")], 1);
    chain(&started.err().expect("the start must fail"))
}

/// The error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[test]
fn a_model_that_does_not_fit_its_manifest_stops_the_start_with_a_clear_error() {
    let labels = start_error(|m| m.replace("yolo_labels.txt", "coco_labels.txt"));
    assert!(
        labels.contains("yolov8_fixture")
            && labels.contains("\"output0\"")
            && labels.contains("84 at axis 1"),
        "{labels}"
    );
    let shape = start_error(|m| m.replace("shape = [1, 3, 640, 640]", "shape = [1, 3, 320, 320]"));
    assert!(
        shape.contains("\"images\" has shape [1, 3, 640, 640]"),
        "{shape}"
    );
    let rank = start_error(|m| m.replace("shape = [1, 3, 640, 640]", "shape = [1, 640, 640]"));
    assert!(rank.contains("rank 4"), "{rank}");
    let output = start_error(|m| m.replace("detections = \"output0\"", "detections = \"boxes\""));
    assert!(
        output.contains("no tensor \"boxes\"") && output.contains("output0"),
        "{output}"
    );
    let format = start_error(|m| m.replace("\"yolov8\"", "\"yolov5\""));
    assert!(format.contains("[N, anchors, 5 + classes]"), "{format}");
}

#[tokio::test]
async fn a_yolo_classify_export_gives_its_own_probabilities() {
    let fixtures = repo().join("tests/fixtures/models");
    let expected: std::collections::HashMap<String, Vec<Expected>> = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("expected_yolo_cls.json")).unwrap(),
    )
    .unwrap();
    let toml = "name = \"cls\"\n[classifier]\nmodel = \"yolov8cls_fixture\"\ntop_k = 4\n";
    let catalog = CatalogConfig::from_toml(toml, "test").unwrap();
    let real = RealPipeline::with_models(fixtures, [catalog], 4);
    let keys = real.put_fixture_images("cls", expected.keys());
    let rows = success_rows(&real.pipeline, &keys).await;
    for (name, want) in &expected {
        let row = &rows[&format!("incoming/cls/{name}")];
        assert_eq!(row.labels.len(), 4, "{name}");
        for (got, want) in row.labels.iter().zip(want) {
            assert!(
                got.label == want.label && (got.score - want.score).abs() <= 1e-4,
                "{name}: got {got:?}, want {want:?} (all: {:?})",
                row.labels
            );
        }
    }
}

#[test]
fn a_model_with_nan_outputs_stops_the_start() {
    let fixtures = repo().join("tests/fixtures/models");
    let dir = tempfile::tempdir().unwrap();
    for f in ["nan_fixture.onnx", "yolo_cls_labels.txt"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(fixtures.join("nan_fixture.onnx")).unwrap(),
        ))
    };
    let manifest = format!(
        "name = \"broken\"\nversion = \"1\"\ntask = \"classification\"\nfile = \"nan_fixture.onnx\"\n\
         sha256 = \"{sha}\"\nlabels = \"yolo_cls_labels.txt\"\nsource = \"t\"\nlicence = \"t\"\n\
         [input]\nname = \"images\"\nlayout = \"nchw\"\nshape = [1, 3, 224, 224]\n\
         [preprocess]\nkind = \"center_crop\"\nresize_shorter = 224\ncrop = 224\n\
         mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n[outputs]\nlogits = \"output0\"\n"
    );
    std::fs::write(dir.path().join("broken.toml"), manifest).unwrap();
    let toml = "name = \"b\"\n[classifier]\nmodel = \"broken\"\n";
    let catalog = CatalogConfig::from_toml(toml, "test").unwrap();
    let started = RealPipeline::try_with_models(dir.path().into(), [catalog], 1);
    let e = chain(&started.err().expect("the start must fail"));
    assert!(
        e.contains("broken") && e.contains("logits output has 1 NaN"),
        "{e}"
    );
}
