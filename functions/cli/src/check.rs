//! `sightline models check NAME --images DIR`: a model of the models folder run alone, as a
//! one-model catalog, over a few images through the embedded pipeline: what it predicts for
//! each and how long it takes, to see that an imported model reads its inputs right before
//! a catalog relies on it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use sightline_core::{CatalogConfig, ResultRow, Settings};
use sightline_vision::manifest::{ModelRegistry, Task};

use crate::folder::{open_with_catalog, run_folder};

/// Arguments of `sightline models check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Model name (a manifest `<name>.toml` of the models folder).
    name: String,
    /// Folder of images to run it on.
    #[arg(long)]
    images: PathBuf,
    /// Predictions printed per image.
    #[arg(long, default_value_t = 3)]
    top: usize,
}

/// Runs `sightline models check`.
pub async fn check(settings: Settings, a: &CheckArgs) -> Result<()> {
    let registry = ModelRegistry::new(settings.locate_models_dir()?);
    let manifest = registry.manifest(&a.name)?;
    let section = match manifest.task {
        Task::Classification => "classifier",
        Task::Detection => "detector",
        Task::FaceDetection => "faces",
    };
    let toml = format!(
        "name = \"check\"\n[{section}]\nmodel = \"{}\"\n{}",
        a.name,
        if section == "classifier" {
            format!("top_k = {}\n", a.top.max(1))
        } else {
            String::new()
        }
    );
    let catalog = CatalogConfig::from_toml(&toml, "models check")?;
    let output = tempfile::tempdir().context("a folder for the check's rows")?;
    let started = Instant::now();
    let pipeline = open_with_catalog(settings, &a.images, catalog, output.path())?;
    let load = started.elapsed();
    let run = run_folder(pipeline, 64, false).await?;
    for row in &run.rows {
        println!("{}", describe(row, a.top));
    }
    let n = run.rows.len().max(1) as f64;
    let infer: f64 = run.rows.iter().map(|r| f64::from(r.timings.infer_ms)).sum();
    println!(
        "{} images: {:.1} ms of model time per image; loading and start-up {:.2} s",
        run.rows.len(),
        infer / n,
        load.as_secs_f64()
    );
    Ok(())
}

/// One row in a line: the file, then its top labels, boxes or embedding, or its error.
fn describe(row: &ResultRow, top: usize) -> String {
    let file = row.key.rsplit('/').next().unwrap_or(&row.key);
    if let Some(kind) = row.error_kind {
        return format!(
            "{file}: error {kind:?}: {}",
            row.error.as_deref().unwrap_or("")
        );
    }
    let mut parts: Vec<String> = row
        .labels
        .iter()
        .take(top)
        .map(|l| format!("{} {:.3}", l.label, l.score))
        .collect();
    parts.extend(row.detections.iter().take(top).map(|d| {
        format!(
            "{} {:.3} [{:.0}, {:.0}, {:.0}, {:.0}]",
            d.label, d.score, d.x_min, d.y_min, d.x_max, d.y_max
        )
    }));
    if parts.is_empty() {
        if let Some(e) = &row.embedding {
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
            parts.push(format!("embedding of {} values, norm {norm:.3}", e.len()));
        } else {
            parts.push("nothing found".into());
        }
    }
    format!("{file}: {}", parts.join("; "))
}
