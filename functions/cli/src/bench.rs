//! `sightline bench-infer`: model runs alone, the ceiling of end-to-end throughput.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use sightline_core::Settings;
use sightline_vision::engine::EngineConfig;
use sightline_vision::{runtime, Engine, ModelRegistry};

/// Runs `images` images through `model` in batches of `batch`, keeping every inference
/// thread busy, and prints one JSON line.
pub async fn inference(settings: Settings, model: &str, images: usize, batch: usize) -> Result<()> {
    let registry = ModelRegistry::new(settings.locate_models_dir()?);
    let loaded = registry.load(model)?;
    let per = loaded.preprocess().tensor_len();
    let env = runtime::environment(settings.ort_dylib.as_deref())?;
    let threads = settings.infer_threads;
    let engine = Arc::new(Engine::start(
        env,
        vec![loaded],
        EngineConfig {
            threads,
            intra_threads: settings.intra_threads,
            execution_provider: settings.execution_provider.clone(),
        },
    )?);
    // A fixed pseudo-random input in the normalised range.
    let input: Vec<f32> = (0..per * batch)
        .map(|i| ((i * 7919 % 2000) as f32 / 1000.0) - 1.0)
        .collect();
    for _ in 0..threads {
        engine.run(0, input.clone(), batch).await?; // warm-up
    }
    let batches = images.div_ceil(batch);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..threads {
        let (engine, input) = (Arc::clone(&engine), input.clone());
        let mine = (t..batches).step_by(threads).count();
        tasks.spawn(async move {
            for _ in 0..mine {
                engine.run(0, input.clone(), batch).await?;
            }
            Ok::<_, sightline_vision::VisionError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let secs = start.elapsed().as_secs_f64();
    let done = batches * batch;
    println!(
        "{}",
        serde_json::json!({
            "mode": "ceiling", "model": model, "images": done, "batch": batch, "threads": threads,
            "intra_threads": settings.intra_threads, "provider": engine.execution_provider(),
            "seconds": secs, "images_per_s": done as f64 / secs,
        })
    );
    Ok(())
}
