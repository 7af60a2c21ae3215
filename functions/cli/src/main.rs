//! `sightline`: the command line. Embedded runs (`run`, `demo`), the container worker
//! (`worker`), `backfill`, `annotate`, `eval`, `report`, `retrain`, `models`, `compact`
//! and `bench-infer`. All logic
//! lives in the `shared/` crates; each command has its module here.
//!
//! Exit status: 0 done, 1 error, 2 usage (clap), 3 partial failure (objects
//! dead-lettered), 4 `report --fail-on` level reached (see [`outcome`]).

mod annotate;
mod bench;
mod bucket;
mod check;
mod compact;
mod demo;
mod eval;
mod folder;
mod import;
mod logging;
mod models;
mod outcome;
mod report;
mod retrain;
mod sqs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use sightline_core::Settings;

// `eval` runs folders through the same helper as `run`.
pub(crate) use folder::run_pipeline;
use outcome::{Outcome, EXIT_ERROR};

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
    Run(folder::RunArgs),
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
    Worker(sqs::WorkerArgs),
    /// Enqueue objects that already exist under a prefix, as S3 notifications.
    Backfill(sqs::BackfillArgs),
    /// Draw the results' detection boxes and top-1 labels onto the source images.
    Annotate(annotate::AnnotateArgs),
    /// Top-1 accuracy against labels and agreement with reference predictions.
    Eval(eval::EvalArgs),
    /// Detector mAP (COCO-style, pycocotools-compatible) against YOLO labels.
    EvalDetect(eval::EvalDetectArgs),
    /// Model-quality report: metrics against labels, drift between two windows, HTML +
    /// JSON + Parquet outputs, a retrain request when quality drops.
    Report(report::ReportArgs),
    /// Train a new head for a catalog from its labelled rows, gate it against the
    /// champion and register it (`--cv K`: cross-validate the recipe instead).
    Retrain(retrain::RetrainArgs),
    /// The catalog heads in the registry: list, show, promote, rollback.
    Models(models::ModelsArgs),
    /// Merge the small Parquet files of results partitions into files of a target size,
    /// one row per image and model version (safe while writers and readers work).
    Compact(compact::CompactArgs),
    /// Inference alone on preprocessed tensors, all inference threads busy: the ceiling
    /// for end-to-end throughput.
    BenchInfer {
        /// Model.
        #[arg(long, default_value = "efficientnet_lite0")]
        model: String,
        /// Images to run (at least 1).
        #[arg(long, default_value_t = 512, value_parser = at_least_one())]
        images: usize,
        /// Images per model run (at least 1).
        #[arg(long, default_value_t = 16, value_parser = at_least_one())]
        batch: usize,
    },
}

/// Parses the command line (clap exits 2 on a usage error), runs the command and maps
/// its outcome to the exit status; an error is printed with its causes and exits 1.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match cli.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => matches!(cli.command, Command::Worker(_)),
    };
    logging::init(json);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(dispatch(cli.command)));
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Runs one command.
async fn dispatch(command: Command) -> Result<Outcome> {
    let settings = Settings::from_env()?;
    let done = |r: Result<()>| r.map(|()| Outcome::Done);
    match command {
        Command::Run(args) => folder::run(settings, args).await,
        Command::Demo { source, output } => demo::run(settings, source, &output).await,
        Command::Worker(args) => done(sqs::worker(settings, args).await),
        Command::Backfill(args) => done(sqs::backfill(args).await),
        Command::Annotate(args) => done(annotate::run(&settings, args)),
        Command::Eval(args) => done(eval::run(settings, args).await),
        Command::EvalDetect(args) => done(eval::detect(settings, args).await),
        Command::Report(args) => report::run(settings, args).await,
        Command::Retrain(args) => retrain::run(settings, args).await,
        Command::Models(args) => models::run(settings, args).await,
        Command::Compact(args) => done(compact::run(settings, args).await),
        Command::BenchInfer {
            model,
            images,
            batch,
        } => done(bench::inference(settings, &model, images, batch).await),
    }
}

/// A count argument that must be at least 1 (0 is a usage error, exit status 2).
pub(crate) fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}
