//! What rotation-robust redaction costs: the face pass (letterbox, BlazeFace, decoding)
//! upright only, and at the four quarter turns (three turned copies of the same tensor),
//! on one image (default `tests/fixtures/images/camera.jpg`, 400 × 400); and the PNG
//! encoding of that image and of a 1 × 1,000,000 grey one at several levels.
//!
//! `cargo run -p sightline-vision --example face_turns_cost [image] [runs]`
//! (ONNX Runtime from `.cache/onnxruntime` or `SIGHTLINE_ORT_DYLIB`; one inference thread,
//! one intra-op thread, as the pipeline's defaults).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use sightline_vision::engine::EngineConfig;
use sightline_vision::face::decode_blazeface_turned;
use sightline_vision::turn::turn_square_nhwc;
use sightline_vision::{
    decode_image, encode_image, runtime, DecodeLimits, EncodeFormat, Engine, ModelRegistry,
    Preprocess, QuarterTurn, RgbImage,
};

/// Median of `runs` timings of `f`, in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// One face pass over `img` at `turns`: tensors, one batched run, decoding. Returns the
/// number of boxes at or above 0.5 (before NMS).
fn face_pass(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    pp: &Preprocess,
    img: &RgbImage,
    turns: &[QuarterTurn],
) -> usize {
    let Preprocess::Letterbox(lb) = pp else {
        panic!("BlazeFace letterboxes");
    };
    let mut upright = vec![0f32; pp.tensor_len()];
    let geometry = pp.run(img, &mut upright).unwrap();
    let mut batch = Vec::with_capacity(upright.len() * turns.len());
    for &t in turns {
        batch.extend(turn_square_nhwc(&upright, lb.size as usize, 3, t).unwrap());
    }
    let out = rt
        .block_on(engine.run(0, batch, turns.len()))
        .expect("face model run");
    turns
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let raw = out.slice(k).raw;
            decode_blazeface_turned(&raw, geometry, t, (img.width, img.height), 0.5).len()
        })
        .sum()
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args().skip(1);
    let path = args.next().map_or_else(
        || repo.join("tests/fixtures/images/camera.jpg"),
        PathBuf::from,
    );
    let runs: usize = args.next().map_or(50, |r| r.parse().unwrap());
    let img = decode_image(
        &std::fs::read(&path).unwrap(),
        DecodeLimits {
            max_pixels: 100_000_000,
        },
    )
    .unwrap();
    let model = ModelRegistry::new(repo.join("models"))
        .load("blazeface_256")
        .unwrap();
    let pp = model.preprocess();
    let dylib = std::env::var_os("SIGHTLINE_ORT_DYLIB").map(PathBuf::from);
    let env = runtime::environment(dylib.as_deref()).unwrap();
    let config = EngineConfig {
        threads: 1,
        intra_threads: 1,
        execution_provider: "cpu".into(),
    };
    let engine = Engine::start(env, vec![model], config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let one = [QuarterTurn::R0];
    let all = QuarterTurn::ALL;
    // Warm-up (session creation, first-run allocations).
    face_pass(&rt, &engine, &pp, &img, &all);
    let faces = (
        face_pass(&rt, &engine, &pp, &img, &one),
        face_pass(&rt, &engine, &pp, &img, &all),
    );
    let t1 = median_ms(runs, || {
        face_pass(&rt, &engine, &pp, &img, &one);
    });
    let t4 = median_ms(runs, || {
        face_pass(&rt, &engine, &pp, &img, &all);
    });
    println!(
        "{} ({}x{}), median of {runs}: face pass upright {t1:.1} ms ({} boxes >= 0.5 before NMS), 4 turns {t4:.1} ms ({} boxes), x{:.2}",
        path.display(),
        img.width,
        img.height,
        faces.0,
        faces.1,
        t4 / t1
    );
    let level = |img: &RgbImage, c: CompressionType| {
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, c, FilterType::Adaptive)
            .write_image(&img.pixels, img.width, img.height, ExtendedColorType::Rgb8)
            .unwrap();
        out.len()
    };
    let used = |img: &RgbImage| encode_image(img, EncodeFormat::Png).unwrap().len();
    let png_runs = runs.clamp(1, 10);
    let tall = RgbImage::filled(1, 1_000_000, [90, 90, 90]);
    for (name, c) in [
        ("fast", CompressionType::Fast),
        ("level 1", CompressionType::Level(1)),
        ("level 3", CompressionType::Level(3)),
        ("default (zlib 6)", CompressionType::Default),
    ] {
        let t = median_ms(png_runs, || {
            level(&img, c);
        });
        let tt = median_ms(png_runs, || {
            level(&tall, c);
        });
        println!(
            "PNG {name}: {t:.1} ms, {} bytes; 1 x 1,000,000 grey: {tt:.1} ms, {} bytes",
            level(&img, c),
            level(&tall, c)
        );
    }
    let t = median_ms(png_runs, || {
        used(&img);
    });
    let tt = median_ms(png_runs, || {
        used(&tall);
    });
    println!(
        "PNG as encode_image does it: {t:.1} ms, {} bytes; 1 x 1,000,000 grey: {tt:.1} ms, {} bytes",
        used(&img),
        used(&tall)
    );
}
