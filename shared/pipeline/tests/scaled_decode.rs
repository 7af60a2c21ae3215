//! DCT-scaled JPEG decoding with the real models in process: a phone-sized photo decoded
//! at a fraction of its size (the shipped `retail` catalog: classifier + detector) gives
//! the same top-1 and the same boxes, in original pixels, as the same catalog with
//! `decode = "full"`; the row reports the original width and height.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use sightline_core::CatalogConfig;
use support::{repo, success_rows, RealPipeline};

/// The shipped retail catalog under `name`, with `decode = "<mode>"`.
fn retail(name: &str, mode: &str) -> CatalogConfig {
    let text = std::fs::read_to_string(repo().join("models/catalogs/retail.toml")).unwrap();
    let text: String = (text.lines())
        .filter(|l| !l.starts_with("decode ="))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.replace(
        "name = \"retail\"",
        &format!("name = \"{name}\"\ndecode = \"{mode}\""),
    );
    CatalogConfig::from_toml(&text, name).unwrap()
}

/// `fixture` upscaled `factor` times (Lanczos) and saved as a q92 JPEG under `key`.
fn put_upscaled(dir: &Path, key: &str, fixture: &str, factor: u32) {
    let img = image::open(repo().join("tests/fixtures/images").join(fixture))
        .unwrap()
        .to_rgb8();
    let (w, h) = (img.width() * factor, img.height() * factor);
    let big = image::imageops::resize(&img, w, h, image::imageops::FilterType::Lanczos3);
    let path = dir.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::fs::File::create(&path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&big)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_decoding_keeps_labels_and_boxes_in_original_pixels() {
    let real = RealPipeline::new([retail("scaled", "scaled"), retail("exact", "full")], 8);
    // Upscaled 8x to phone sizes: decoded at 1/2 (the detector needs a longer side of
    // 1024); coffee.jpg has a cup the retail detector keeps.
    let photos = [("camera.jpg", 8), ("coffee.jpg", 8)];
    let mut keys = Vec::new();
    for catalog in ["scaled", "exact"] {
        for (fixture, factor) in photos {
            let key = format!("incoming/{catalog}/{fixture}");
            put_upscaled(real.source.path(), &key, fixture, factor);
            keys.push(key);
        }
    }
    let rows = success_rows(&real.pipeline, &keys).await;
    for (fixture, factor) in photos {
        let scaled = &rows[&format!("incoming/scaled/{fixture}")];
        let exact = &rows[&format!("incoming/exact/{fixture}")];
        let original =
            image::image_dimensions(repo().join("tests/fixtures/images").join(fixture)).unwrap();
        let want = (original.0 * factor, original.1 * factor);
        for r in [scaled, exact] {
            assert_eq!(
                (r.width, r.height),
                (Some(want.0 as i32), Some(want.1 as i32))
            );
        }
        assert_eq!(
            scaled.labels[0].class_id, exact.labels[0].class_id,
            "{fixture}: {:?} vs {:?}",
            scaled.labels[0], exact.labels[0]
        );
        // The same objects, boxes within 1 % of the image side of each other.
        assert_eq!(scaled.detections.len(), exact.detections.len(), "{fixture}");
        let tolerance = 0.01 * want.0.max(want.1) as f32;
        for (s, e) in scaled.detections.iter().zip(&exact.detections) {
            assert_eq!(s.label, e.label, "{fixture}");
            for (a, b) in [
                (s.x_min, e.x_min),
                (s.y_min, e.y_min),
                (s.x_max, e.x_max),
                (s.y_max, e.y_max),
            ] {
                assert!((a - b).abs() < tolerance, "{fixture}: {s:?} vs {e:?}");
            }
        }
    }
    // Boxes were compared: the full decode's are in original pixels, so the scaled
    // decode's are too.
    let coffee = &rows["incoming/exact/coffee.jpg"];
    assert!(
        coffee.detections.iter().any(|d| d.label == "cup"),
        "{:?}",
        coffee.detections
    );
}
