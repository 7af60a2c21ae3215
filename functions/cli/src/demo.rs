//! `sightline demo`: the retail and security catalogs on the sample images, as a table.

use std::path::{Path, PathBuf};

use anyhow::Result;
use sightline_core::{ResultRow, Settings};

use crate::folder::run_embedded;
use crate::outcome::Outcome;

/// Runs both catalogs, prints their rows and where to look next.
pub async fn run(settings: Settings, source: Option<PathBuf>, output: &Path) -> Result<Outcome> {
    let source = match source {
        Some(s) => s,
        None => {
            let models = settings.locate_models_dir()?;
            let images = models.join("../tests/fixtures/images");
            std::fs::canonicalize(&images).unwrap_or(images)
        }
    };
    let mut outcome = Outcome::Done;
    for catalog in ["retail", "security"] {
        let run = run_embedded(settings.clone(), &source, catalog, output, 64, false).await?;
        if run.outcome() != Outcome::Done {
            outcome = run.outcome();
        }
        println!("catalog {catalog}:");
        println!(
            "  {:<16} {:<20} {:>6}  {:<12} detections",
            "image", "top-1", "score", "tags"
        );
        for r in &run.rows {
            print_row(r);
        }
        println!();
    }
    print_next_steps(&source, output);
    Ok(outcome)
}

/// One line of the table: top-1, score, tags and boxes, or the error.
fn print_row(r: &ResultRow) {
    let name = r.key.rsplit('/').next().unwrap_or(&r.key);
    let dets: Vec<String> = r
        .detections
        .iter()
        .map(|d| {
            format!(
                "{} {:.2} [{:.0},{:.0},{:.0},{:.0}]",
                d.label, d.score, d.x_min, d.y_min, d.x_max, d.y_max
            )
        })
        .collect();
    match (&r.error_kind, r.labels.first()) {
        (None, Some(l)) => println!(
            "  {:<16} {:<20} {:>6.3}  {:<12} {}",
            name,
            l.label,
            l.score,
            r.tags.join(","),
            dets.join("; ")
        ),
        (Some(k), _) => println!(
            "  {name:<16} error: {k}: {}",
            r.error.as_deref().unwrap_or("")
        ),
        (None, None) => println!("  {name:<16} (no labels) {}", dets.join("; ")),
    }
}

/// Where the Parquet and redacted copies went, and commands to look at them.
fn print_next_steps(source: &Path, output: &Path) {
    let results = output.join("results");
    println!("Parquet written under {}", results.display());
    let redacted = output.join("redacted");
    if redacted.is_dir() {
        println!(
            "Face-redacted copies (security catalog) under {}",
            redacted.display()
        );
    }
    println!(
        "Boxes drawn onto copies:\n  sightline annotate --results {} --source {} --output {}",
        results.display(),
        source.display(),
        output.join("annotated").display()
    );
    println!("Try:\n  duckdb -c \"SELECT catalog, key, labels[1].label AS top1, labels[1].score AS score, tags, len(detections) AS boxes FROM read_parquet('{}/**/*.parquet', hive_partitioning=true) ORDER BY key\"", results.display());
}
