//! Preprocessing and inference parity with the reference implementation (PIL + ONNX
//! Runtime in Python): the project's own fixtures, and the reference tensors in the shared
//! folder's `models/reference` (`../shared` or `$SIGHTLINE_SHARED_DIR`; the tests that
//! need it fail without it unless `SIGHTLINE_SKIP_DATA_TESTS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sightline_tests::require_shared;
use sightline_vision::engine::EngineConfig;
use sightline_vision::manifest::LoadedModel;
use sightline_vision::{decode_image, runtime, DecodeLimits, Engine, ModelRegistry, Preprocess};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn decode(bytes: &[u8]) -> sightline_vision::RgbImage {
    decode_image(
        bytes,
        DecodeLimits {
            max_pixels: 100_000_000,
        },
    )
    .unwrap()
}

fn runtime_for_tests() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Largest absolute difference.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

fn registry() -> ModelRegistry {
    ModelRegistry::new(repo().join("models"))
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn preprocess(model: &LoadedModel, image: &Path) -> Vec<f32> {
    let bytes = std::fs::read(image).unwrap();
    let img = decode(&bytes);
    let pp = model.preprocess();
    let mut out = vec![0f32; pp.tensor_len()];
    pp.run(&img, &mut out);
    out
}

/// Mean and max absolute difference, in units of one 8-bit pixel level.
fn diff_levels(a: &[f32], b: &[f32], std: f32) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let scale = 255.0 * std;
    let (mut sum, mut max) = (0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs() * scale;
        sum += d;
        max = max.max(d);
    }
    (sum / a.len() as f32, max)
}

fn check_tensor(model: &LoadedModel, image: &Path, reference: &Path) {
    let ours = preprocess(model, image);
    let want = read_f32(reference);
    let std = match model.preprocess() {
        Preprocess::CenterCrop(p) => p.std[0],
        Preprocess::Letterbox(p) => p.std[0],
    };
    let (mean, max) = diff_levels(&ours, &want, std);
    println!(
        "{}: {} mean {mean:.3} max {max:.1} levels",
        model.manifest.name,
        image.display()
    );
    // libjpeg-turbo decoding + Pillow's resampling: the tensors are bit-exact (a float
    // rounding of 1e-5 levels at most); any decoder, filter, geometry or normalisation
    // change shows up as whole levels.
    assert!(
        max < 0.01,
        "max difference {max} levels (mean {mean}) for {}",
        image.display()
    );
}

#[test]
fn own_fixture_tensors_match_reference_preprocessing() {
    let dir = repo().join("tests/fixtures/reference");
    let mut checked = 0;
    for name in ["efficientnet_lite0", "mobilenet_v2"] {
        let model = registry().load(name).unwrap();
        for stem in ["chelsea", "coffee"] {
            let reference = dir.join(format!("{stem}__{name}__input_f32_chw.bin"));
            check_tensor(
                &model,
                &repo().join(format!("tests/fixtures/images/{stem}.jpg")),
                &reference,
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}

#[test]
fn shared_reference_tensors_and_logits() {
    let Some(shared) = require_shared(&["models/reference", "data/imagenet-dev"]) else {
        return;
    };
    let cases = [
        ("n01440764_tench", "n01440764_tench.JPEG"),
        ("n03042490_cliff_dwelling", "n03042490_cliff_dwelling.JPEG"),
    ];
    let models: Vec<Arc<LoadedModel>> = ["efficientnet_lite0", "mobilenet_v2"]
        .iter()
        .map(|n| registry().load(n).unwrap())
        .collect();
    let engine = engine_for(models.clone());
    let rt = runtime_for_tests();
    for (i, model) in models.iter().enumerate() {
        let name = &model.manifest.name;
        for (stem, file) in cases {
            let refdir = shared.join("models/reference");
            let image = shared.join("data/imagenet-dev").join(file);
            check_tensor(
                model,
                &image,
                &refdir.join(format!("{stem}__{name}__input_f32_chw.bin")),
            );
            // The reference input through our engine gives the reference logits.
            let input = read_f32(&refdir.join(format!("{stem}__{name}__input_f32_chw.bin")));
            let want = read_f32(&refdir.join(format!("{stem}__{name}__logits_f32.bin")));
            let out = rt.block_on(engine.run(i, input, 1)).unwrap();
            assert_eq!(out.classes, 1000);
            assert_eq!(out.embedding_dim, 1280);
            let max = max_diff(&out.logits, &want);
            assert!(max < 1e-3, "{name} {stem}: max |Δlogit| {max}");
        }
    }
}

fn engine_for(models: Vec<Arc<LoadedModel>>) -> Engine {
    let env = runtime::environment(None).expect("ONNX Runtime (run scripts/setup.sh)");
    Engine::start(
        env,
        models,
        EngineConfig {
            threads: 1,
            intra_threads: 1,
            execution_provider: "cpu".into(),
        },
    )
    .unwrap()
}

#[test]
fn centernet_letterbox_and_detections_match_the_reference() {
    let Some(shared) = require_shared(&["models/reference", "data/coco-dev"]) else {
        return;
    };
    let model = registry().load("centernet_mbv3_coco").unwrap();
    let bytes = std::fs::read(shared.join("data/coco-dev/images/000000000025.jpg")).unwrap();
    let img = decode(&bytes);
    let pp = model.preprocess();
    let mut input = vec![0f32; pp.tensor_len()];
    let g = pp.run(&img, &mut input).expect("letterbox geometry");
    assert_eq!((g.scale, g.dx, g.dy), (0.8, 0.0, 85.0));
    let want = read_f32(
        &shared.join("models/reference/centernet__000000000025__letterbox_input_f32_nhwc.bin"),
    );
    let max = max_diff(&input, &want);
    assert!(max < 1e-3, "letterbox input differs by {max} levels");

    let engine = engine_for(vec![model.clone()]);
    let rt = runtime_for_tests();
    let out = rt.block_on(engine.run(0, input, 1)).unwrap();
    assert_eq!(out.detection_rows, 100);
    let want =
        read_f32(&shared.join("models/reference/centernet__000000000025__detections_f32.bin"));
    let max = max_diff(&out.detections, &want);
    assert!(max < 1e-2, "detections differ by {max}");
    let dets = sightline_vision::detect::decode_rows(
        &out.detections,
        g,
        (img.width, img.height),
        &model.labels,
    );
    assert_eq!(dets[0].label, "giraffe");
}

#[test]
fn centernet_finds_objects_in_own_fixtures() {
    let model = registry().load("centernet_mbv3_coco").unwrap();
    let engine = engine_for(vec![model.clone()]);
    let rt = runtime_for_tests();
    let pp = model.preprocess();
    // Two images in one call: the batch-1 graph runs once per image.
    let mut input = vec![0f32; 2 * pp.tensor_len()];
    let mut geometry = Vec::new();
    let mut sizes = Vec::new();
    for (i, name) in ["coffee", "camera"].iter().enumerate() {
        let bytes =
            std::fs::read(repo().join(format!("tests/fixtures/images/{name}.jpg"))).unwrap();
        let img = decode(&bytes);
        let len = pp.tensor_len();
        geometry.push(pp.run(&img, &mut input[i * len..(i + 1) * len]).unwrap());
        sizes.push((img.width, img.height));
    }
    let out = rt.block_on(engine.run(0, input, 2)).unwrap();
    assert_eq!(out.detections.len(), 2 * 100 * 6);
    let filter = sightline_vision::DetectionFilter {
        min_score: 0.3,
        nms_iou: 0.5,
        max_detections: 10,
        ..Default::default()
    };
    // The espresso cup (about x 112–278, y 10–182 of 400×267) and the photographer.
    for (i, (label, centre)) in [("cup", (195.0, 96.0)), ("person", (120.0, 223.0))]
        .iter()
        .enumerate()
    {
        let rows = &out.detections[i * 600..(i + 1) * 600];
        let dets = filter.apply(sightline_vision::detect::decode_rows(
            rows,
            geometry[i],
            sizes[i],
            &model.labels,
        ));
        let top = &dets[0];
        assert_eq!(top.label, *label, "{dets:?}");
        assert!(top.score > 0.5, "{top:?}");
        let (cx, cy) = ((top.x_min + top.x_max) / 2.0, (top.y_min + top.y_max) / 2.0);
        assert!(
            (cx - centre.0).abs() < 20.0 && (cy - centre.1).abs() < 20.0,
            "{top:?}"
        );
        for d in &dets {
            assert!(d.x_min >= 0.0 && d.x_max <= sizes[i].0 as f32 && d.y_max <= sizes[i].1 as f32);
        }
    }
}

#[test]
fn blazeface_outputs_match_the_reference() {
    let Some(shared) = require_shared(&["models/reference"]) else {
        return;
    };
    let model = registry().load("blazeface_256").unwrap();
    let engine = engine_for(vec![model]);
    let rt = runtime_for_tests();
    let r = shared.join("models/reference");
    let input = read_f32(&r.join("blazeface__000000000110__input_f32_nhwc.bin"));
    let out = rt.block_on(engine.run(0, input, 1)).unwrap();
    for (i, name) in ["scores_16", "regressors_16", "scores_32", "regressors_32"]
        .iter()
        .enumerate()
    {
        let want = read_f32(&r.join(format!("blazeface__000000000110__{name}_f32.bin")));
        assert_eq!(out.raw[i].1.len(), want.len(), "{name}");
        let max = max_diff(&out.raw[i].1, &want);
        assert!(max < 1e-2, "{name} differs by {max}");
    }
}

#[test]
fn blazeface_finds_the_face_in_own_fixture() {
    let model = registry().load("blazeface_256").unwrap();
    let engine = engine_for(vec![model.clone()]);
    let rt = runtime_for_tests();
    let bytes = std::fs::read(repo().join("tests/fixtures/images/camera.jpg")).unwrap();
    let img = decode(&bytes);
    let pp = model.preprocess();
    let mut input = vec![0f32; pp.tensor_len()];
    let g = pp.run(&img, &mut input).unwrap();
    let out = rt.block_on(engine.run(0, input, 1)).unwrap();
    let faces = sightline_vision::face::decode_blazeface(&out.raw, g, (img.width, img.height), 0.5);
    let faces = sightline_vision::DetectionFilter {
        nms_iou: 0.3,
        ..Default::default()
    }
    .apply(faces);
    // One face: the photographer's, about (142, 99)–(199, 156) of the 400×400 image.
    assert_eq!(faces.len(), 1, "{faces:?}");
    let f = &faces[0];
    let (cx, cy) = ((f.x_min + f.x_max) / 2.0, (f.y_min + f.y_max) / 2.0);
    assert!(
        (cx - 170.0).abs() < 15.0 && (cy - 127.0).abs() < 15.0,
        "{f:?}"
    );
    assert!(
        f.x_max - f.x_min > 35.0 && f.x_max - f.x_min < 90.0,
        "{f:?}"
    );
}
