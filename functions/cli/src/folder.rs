//! `sightline run`: a local folder through the embedded pipeline (the folder is the
//! bucket, the in-process queue the queue), and the helpers `demo` and `eval` share.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sightline_core::{CatalogConfig, Catalogs, ResultRow, Settings};
use sightline_pipeline::{embedded, Pipeline, WorkerStats};
use sightline_storage::Store;
use sightline_vision::manifest::ModelRegistry;

use crate::outcome::Outcome;

/// Arguments of `sightline run`.
#[derive(Args)]
pub struct RunArgs {
    /// Folder of images (the "bucket").
    #[arg(long)]
    source: PathBuf,
    /// Catalog: a name (a file under models/catalogs/), or the path of a catalog file of
    /// your own (anything ending in `.toml`, e.g. `./my.toml`; its `name` routes it).
    #[arg(long, default_value = "retail")]
    catalog: String,
    /// Folder the results tree (`results/catalog=…/date=…/*.parquet`) is written under.
    #[arg(long)]
    output: PathBuf,
    /// Messages (images) per batch, i.e. per Parquet file (at least 1).
    #[arg(long, default_value_t = 64, value_parser = crate::at_least_one())]
    batch: usize,
    /// Print one JSON line (rows, errors, dead_letters, files, seconds, images_per_s)
    /// instead of the sentence.
    #[arg(long)]
    json: bool,
}

/// The totals `run --json` prints, one line.
#[derive(Serialize)]
struct RunSummary<'a> {
    rows: usize,
    errors: usize,
    dead_letters: &'a [String],
    files: usize,
    seconds: f64,
    images_per_s: f64,
}

/// An embedded run of a folder: the rows written (sorted by key), the worker's totals
/// and the keys that were dead-lettered.
pub struct FolderRun {
    /// Rows written, sorted by key.
    pub rows: Vec<ResultRow>,
    /// Worker totals.
    pub stats: WorkerStats,
    /// Keys of objects that failed every delivery.
    pub dead_letters: Vec<String>,
}

impl FolderRun {
    /// [`Outcome::Partial`] when an object was dead-lettered.
    pub fn outcome(&self) -> Outcome {
        if self.dead_letters.is_empty() {
            Outcome::Done
        } else {
            Outcome::Partial
        }
    }
}

/// `sightline run`: processes the folder, prints the totals.
pub async fn run(settings: Settings, a: RunArgs) -> Result<Outcome> {
    let run = run_embedded(settings, &a.source, &a.catalog, &a.output, a.batch, true).await?;
    let rows = run.rows.len();
    let errors = run.rows.iter().filter(|r| r.error_kind.is_some()).count();
    let seconds = run.stats.busy_seconds;
    let images_per_s = rows as f64 / seconds.max(1e-9);
    if a.json {
        let summary = RunSummary {
            rows,
            errors,
            dead_letters: &run.dead_letters,
            files: run.stats.files,
            seconds,
            images_per_s,
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{rows} rows ({errors} errors) under {} in {seconds:.2} s ({images_per_s:.1} images/s)",
            a.output.join("results").display(),
        );
    }
    Ok(run.outcome())
}

/// Loads catalogs and models and starts the engine.
pub fn open(settings: Settings, source: Store, sink: Store) -> Result<Pipeline> {
    Pipeline::open(settings, source, sink).context("starting the pipeline")
}

/// Runs a folder through the embedded pipeline.
pub async fn run_embedded(
    settings: Settings,
    source: &Path,
    catalog: &str,
    output: &Path,
    batch: usize,
    progress: bool,
) -> Result<FolderRun> {
    let pipeline = open_embedded(settings, source, catalog, output)?;
    run_folder(pipeline, batch, progress).await
}

/// The pipeline of an embedded run over `source` for `catalog` (a name, or a catalog
/// file's path), and its source store.
pub fn open_embedded(
    settings: Settings,
    source: &Path,
    catalog: &str,
    output: &Path,
) -> Result<(Arc<Pipeline>, Store)> {
    match own_catalog(catalog)? {
        Some(own) => open_with_catalog(settings, source, own, output),
        None => {
            check_folders(source, output)?;
            let (src, sink) = embedded::stores(source, catalog, &settings, output);
            let pipeline = Arc::new(open(settings, src.clone(), sink)?);
            pipeline.require_catalog(catalog)?;
            Ok((pipeline, src))
        }
    }
}

/// The pipeline of an embedded run over `source` for a catalog of the caller's, beside the
/// models folder's own catalogs (it replaces one of the same name).
pub fn open_with_catalog(
    settings: Settings,
    source: &Path,
    own: CatalogConfig,
    output: &Path,
) -> Result<(Arc<Pipeline>, Store)> {
    check_folders(source, output)?;
    let name = own.name.clone();
    let (src, sink) = embedded::stores(source, &name, &settings, output);
    let dir = settings.locate_models_dir()?;
    let shipped = dir.join("catalogs");
    let mut catalogs = match shipped.is_dir() {
        true => Catalogs::load_dir(&shipped)?,
        false => Catalogs::default(),
    };
    catalogs.insert(own);
    let pipeline = Pipeline::builder(settings, src.clone(), sink)
        .registry(ModelRegistry::new(dir))
        .catalogs(catalogs)
        .build()
        .context("starting the pipeline")?;
    let pipeline = Arc::new(pipeline);
    pipeline.require_catalog(&name)?;
    Ok((pipeline, src))
}

/// The source is a folder, apart from the output.
fn check_folders(source: &Path, output: &Path) -> Result<()> {
    if !source.exists() {
        bail!("source folder {} does not exist", source.display());
    }
    if !source.is_dir() {
        bail!("source {} is not a folder", source.display());
    }
    separate_folders(source, output)
}

/// The catalog file `--catalog` names, when it names a file (it ends in `.toml`) rather
/// than a catalog of the models folder.
fn own_catalog(catalog: &str) -> Result<Option<CatalogConfig>> {
    if !catalog.ends_with(".toml") {
        return Ok(None);
    }
    let config = Catalogs::load_file(Path::new(catalog))
        .with_context(|| format!("--catalog {catalog}: not a catalog file"))?;
    Ok(Some(config))
}

/// Refuses an `output` folder equal to, inside, or containing `source` (links
/// resolved): outputs written into the source would be read back as inputs on the next
/// run, and could replace source files.
pub fn separate_folders(source: &Path, output: &Path) -> Result<()> {
    let (src, out) = (resolved(source)?, resolved(output)?);
    if out.starts_with(&src) || src.starts_with(&out) {
        bail!(
            "--output {} and --source {} overlap: outputs inside the source would be read back \
             as inputs and could replace source files; use a folder beside the source",
            output.display(),
            source.display()
        );
    }
    Ok(())
}

/// `path` made absolute with links resolved, for the part of it that exists.
fn resolved(path: &Path) -> Result<std::path::PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(parent) = existing.parent() else {
            break;
        };
        rest.push(existing.file_name().unwrap_or_default().to_owned());
        existing = parent;
    }
    let mut out = std::fs::canonicalize(existing).unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    Ok(out)
}

/// [`run_folder`] for callers that want only the rows and totals (dead-lettered keys
/// are still listed on stderr).
pub async fn run_pipeline(
    opened: (Arc<Pipeline>, Store),
    batch: usize,
    progress: bool,
) -> Result<(Vec<ResultRow>, WorkerStats)> {
    let run = run_folder(opened, batch, progress).await?;
    Ok((run.rows, run.stats))
}

/// Processes every file of the source store, with a progress bar on stderr if asked;
/// lists dead-lettered keys on stderr.
pub async fn run_folder(
    (pipeline, source): (Arc<Pipeline>, Store),
    batch: usize,
    progress: bool,
) -> Result<FolderRun> {
    let bar = if progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} images {per_sec} eta {eta}",
    )?);
    let (tx, written) = std::sync::mpsc::channel::<Vec<ResultRow>>();
    let b = bar.clone();
    let run = embedded::run_folder(
        pipeline,
        &source,
        batch,
        |n| bar.set_length(n as u64),
        move |report| {
            b.inc((report.rows + report.skipped) as u64);
            // The receiver outlives the run: sending cannot fail.
            let _ = tx.send(report.written.clone());
        },
    )
    .await?;
    bar.finish_and_clear();
    if !run.dead_letters.is_empty() {
        eprintln!(
            "{} objects failed {} times and were dead-lettered:",
            run.dead_letters.len(),
            embedded::MAX_RECEIVES
        );
        for k in &run.dead_letters {
            eprintln!("  {k}");
        }
    }
    let mut rows: Vec<ResultRow> = written.try_iter().flatten().collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(FolderRun {
        rows,
        stats: run.stats,
        dead_letters: run.dead_letters,
    })
}
