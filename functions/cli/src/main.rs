//! `sightline`: the command line. Embedded runs (`run`, `demo`), the container worker
//! (`worker`), `backfill`, and `eval`. All logic lives in the `shared/` crates.

mod annotate;
mod bench;
mod eval;
mod report;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sightline_core::{ResultRow, Settings};
use sightline_pipeline::embedded;
use sightline_pipeline::{run_worker, Pipeline, WorkerOptions};
use sightline_queue::{s3_event_body, Queue, SqsQueue};
use sightline_storage::{S3Store, Store};

/// Sightline: images in a bucket → ONNX classification → Parquet.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format: `text` for people, `json` for log collectors; `auto` = json for `worker`.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Process every file under a folder as if uploaded to `incoming/<catalog>/`.
    Run {
        /// Folder of images (the "bucket").
        #[arg(long)]
        source: PathBuf,
        /// Catalog (a file under models/catalogs/).
        #[arg(long, default_value = "retail")]
        catalog: String,
        /// Folder the results tree (`results/catalog=…/date=…/*.parquet`) is written under.
        #[arg(long)]
        output: PathBuf,
        /// Messages (images) per batch, i.e. per Parquet file.
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
    /// Run the retail and security catalogs on the project's sample images and show the results.
    Demo {
        /// Folder of images; default: the project's sample images.
        #[arg(long)]
        source: Option<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "out/demo")]
        output: PathBuf,
    },
    /// Long-poll an SQS queue of S3 notifications (any endpoint via AWS_ENDPOINT_URL).
    Worker {
        /// Queue URL.
        #[arg(long, env = "SIGHTLINE_QUEUE_URL")]
        queue_url: String,
        /// Exit after the queue has been empty for this many seconds (default: never).
        #[arg(long)]
        exit_when_idle: Option<u64>,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 2)]
        concurrent_batches: usize,
        /// Seconds before a failed message is retried, times its receive count.
        #[arg(long, default_value_t = 5)]
        retry_delay: u64,
    },
    /// Enqueue objects that already exist under a prefix, as S3 notifications.
    Backfill {
        /// Bucket.
        #[arg(long)]
        bucket: String,
        /// Key prefix, e.g. `incoming/retail/`.
        #[arg(long, default_value = "incoming/")]
        prefix: String,
        /// Queue URL.
        #[arg(long, env = "SIGHTLINE_QUEUE_URL")]
        queue_url: String,
    },
    /// Draw the results' detection boxes and top-1 labels onto the source images.
    Annotate(annotate::AnnotateArgs),
    /// Top-1 accuracy against labels and agreement with reference predictions.
    Eval(eval::EvalArgs),
    /// Detector mAP (COCO-style, pycocotools-compatible) against YOLO labels.
    EvalDetect(eval::EvalDetectArgs),
    /// Model-quality report: metrics against labels, drift between two windows, HTML +
    /// JSON + Parquet outputs, a retrain request when quality drops.
    Report(report::ReportArgs),
    /// Inference alone on preprocessed tensors, all inference threads busy: the ceiling
    /// for end-to-end throughput.
    BenchInfer {
        /// Model.
        #[arg(long, default_value = "efficientnet_lite0")]
        model: String,
        /// Images to run.
        #[arg(long, default_value_t = 512)]
        images: usize,
        /// Images per model run.
        #[arg(long, default_value_t = 16)]
        batch: usize,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| if json { "info" } else { "warn" }.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let json = match cli.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => matches!(cli.command, Command::Worker { .. }),
    };
    init_logging(json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async_main(cli.command))
}

async fn async_main(command: Command) -> Result<()> {
    let settings = Settings::from_env()?;
    match command {
        Command::Run {
            source,
            catalog,
            output,
            batch,
        } => {
            let (rows, stats) =
                run_embedded(settings, &source, &catalog, &output, batch, true).await?;
            let errors = rows.iter().filter(|r| r.error_kind.is_some()).count();
            println!(
                "{} rows ({} errors) under {} in {:.2} s ({:.1} images/s)",
                rows.len(),
                errors,
                output.join("results").display(),
                stats.busy_seconds,
                rows.len() as f64 / stats.busy_seconds.max(1e-9)
            );
            Ok(())
        }
        Command::Demo { source, output } => demo(settings, source, &output).await,
        Command::Worker {
            queue_url,
            exit_when_idle,
            concurrent_batches,
            retry_delay,
        } => {
            let store = Store::S3(S3Store::from_env().await);
            let queue = Queue::Sqs(SqsQueue::from_env(queue_url).await);
            let pipeline = Arc::new(open(settings, store.clone(), store)?);
            let options = WorkerOptions {
                exit_when_idle: exit_when_idle.map(Duration::from_secs),
                concurrent_batches,
                retry_delay: Duration::from_secs(retry_delay),
                ..WorkerOptions::default()
            };
            let stats = run_worker(pipeline, queue, options, shutdown_signal(), |_| {}).await?;
            tracing::info!(?stats, "worker stopped");
            println!("{}", summary_json(&stats));
            Ok(())
        }
        Command::Backfill {
            bucket,
            prefix,
            queue_url,
        } => {
            let store = S3Store::from_env().await;
            let queue = Queue::Sqs(SqsQueue::from_env(queue_url).await);
            let objects = Store::S3(store).list(&bucket, &prefix).await?;
            let bodies: Vec<String> = objects
                .iter()
                .map(|o| s3_event_body(std::slice::from_ref(o)))
                .collect();
            queue.send(bodies).await?;
            println!(
                "enqueued {} objects from s3://{bucket}/{prefix}",
                objects.len()
            );
            Ok(())
        }
        Command::Annotate(args) => annotate::run(&settings, args),
        Command::Eval(args) => eval::run(settings, args).await,
        Command::EvalDetect(args) => eval::detect(settings, args).await,
        Command::Report(args) => report::run(settings, args).await,
        Command::BenchInfer {
            model,
            images,
            batch,
        } => bench::inference(settings, &model, images, batch).await,
    }
}

/// One JSON line with a worker's totals and throughput (for scripts and benchmarks).
fn summary_json(s: &sightline_pipeline::WorkerStats) -> String {
    serde_json::json!({
        "images": s.rows,
        "errors": s.error_rows,
        "retried": s.retried,
        "files": s.files,
        "seconds": s.busy_seconds,
        "images_per_s": s.rows as f64 / s.busy_seconds.max(1e-9),
    })
    .to_string()
}

/// Loads catalogs and models and starts the engine, off the async threads.
fn open(settings: Settings, source: Store, sink: Store) -> Result<Pipeline> {
    Pipeline::open(settings, source, sink).context("starting the pipeline")
}

/// SIGTERM (container stop, Lambda shutdown) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs a folder through the embedded pipeline; returns the rows written.
pub(crate) async fn run_embedded(
    settings: Settings,
    source: &Path,
    catalog: &str,
    output: &Path,
    batch: usize,
    progress: bool,
) -> Result<(Vec<ResultRow>, sightline_pipeline::WorkerStats)> {
    let pipeline = open_embedded(settings, source, catalog, output)?;
    run_pipeline(pipeline, batch, progress).await
}

pub(crate) fn open_embedded(
    settings: Settings,
    source: &Path,
    catalog: &str,
    output: &Path,
) -> Result<(Arc<Pipeline>, Store)> {
    if !source.is_dir() {
        bail!("source folder {} does not exist", source.display());
    }
    let (src, sink) = embedded::stores(source, catalog, &settings, output);
    let pipeline = Arc::new(open(settings, src.clone(), sink)?);
    pipeline.require_catalog(catalog)?;
    Ok((pipeline, src))
}

pub(crate) async fn run_pipeline(
    (pipeline, source): (Arc<Pipeline>, Store),
    batch: usize,
    progress: bool,
) -> Result<(Vec<ResultRow>, sightline_pipeline::WorkerStats)> {
    let bar = if progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images {per_sec} eta {eta}")
            .expect("valid template"),
    );
    let rows = Arc::new(Mutex::new(Vec::new()));
    let (b, r) = (bar.clone(), Arc::clone(&rows));
    let run = embedded::run_folder(
        pipeline,
        &source,
        batch,
        |n| bar.set_length(n as u64),
        move |report| {
            b.inc((report.rows + report.skipped) as u64);
            r.lock()
                .expect("rows lock")
                .extend(report.written.iter().cloned());
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
    let mut rows = std::mem::take(&mut *rows.lock().expect("rows lock"));
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((rows, run.stats))
}

async fn demo(settings: Settings, source: Option<PathBuf>, output: &Path) -> Result<()> {
    let source = match source {
        Some(s) => s,
        None => {
            let models = settings.locate_models_dir()?;
            let images = models.join("../tests/fixtures/images");
            std::fs::canonicalize(&images).unwrap_or(images)
        }
    };
    for catalog in ["retail", "security"] {
        let (rows, _) = run_embedded(settings.clone(), &source, catalog, output, 64, false).await?;
        println!("catalog {catalog}:");
        println!(
            "  {:<16} {:<20} {:>6}  {:<12} detections",
            "image", "top-1", "score", "tags"
        );
        for r in &rows {
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
        println!();
    }
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
    Ok(())
}
