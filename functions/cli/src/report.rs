//! `sightline report`: the model-quality report of one catalog, on a local folder used as
//! the bucket (the embedded default) or on an S3 bucket.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{NaiveDate, Utc};
use clap::{Args, ValueEnum};
use sightline_core::Settings;
use sightline_quality::DriftStatus;
use sightline_queue::{MemoryQueue, Queue, SqsQueue};
use sightline_report::schedule::ReportSettings;
use sightline_report::{run_report, Report, ReportOutputs, ReportTarget};

use crate::bucket::{upload_labels, BucketArgs};
use crate::outcome::Outcome;

/// Arguments of `sightline report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Catalog to report on.
    #[arg(long)]
    catalog: String,
    /// The bucket (`--output <folder>` or `--bucket <name>`): results are read from it
    /// and the report is written into it.
    #[command(flatten)]
    place: BucketArgs,
    /// Reference window, e.g. `dates=-7..-1`, `dates=2026-11-01..2026-11-20`,
    /// `model_version=1.0.0`, `prefix=baseline/`, `all` [default: dates=-7..-1].
    #[arg(long)]
    reference: Option<String>,
    /// Current window, same forms [default: dates=0..0, the report's day].
    #[arg(long)]
    current: Option<String>,
    /// Report date (relative windows count from it) [default: today, UTC].
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Labels file(s) to put under `labels/<catalog>/` before the run (CSV `key,label`,
    /// Parquet, YOLO `.txt`, COCO `.json`).
    #[arg(long)]
    labels: Vec<PathBuf>,
    /// Top-1 accuracy floor (`none` disables) [default: SIGHTLINE_ACCURACY_FLOOR or 0.7].
    #[arg(long)]
    accuracy_floor: Option<String>,
    /// Detector mAP floor (`none` disables) [default: SIGHTLINE_MAP_FLOOR or 0.2].
    #[arg(long)]
    map_floor: Option<String>,
    /// SQS queue for the retrain request [default: SIGHTLINE_RETRAIN_QUEUE_URL; without
    /// one the request goes to the in-process queue and is printed].
    #[arg(long)]
    retrain_queue_url: Option<String>,
    /// Exit with status 4 when the report's status is at this level or worse (after
    /// writing every output) [default: exit 0 whatever the status].
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Print the report summary (what `report-<id>.json` holds) as one JSON line instead
    /// of the text table.
    #[arg(long)]
    json: bool,
}

/// The report status `--fail-on` turns into exit status 4.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// WARN or ALERT.
    Warn,
    /// ALERT.
    Alert,
}

impl FailOn {
    fn level(self) -> DriftStatus {
        match self {
            FailOn::Warn => DriftStatus::Warn,
            FailOn::Alert => DriftStatus::Alert,
        }
    }
}

/// Runs the report, prints it (text or JSON) and where it went.
pub async fn run(settings: Settings, a: ReportArgs) -> Result<Outcome> {
    let rs = report_settings(&a)?;
    let (store, bucket) = a.place.open().await?;
    upload_labels(&store, &bucket, &a.catalog, &a.labels).await?;
    let as_of = a.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let mut cfg = rs.config(&a.catalog, as_of, &settings.incoming_prefix);
    if let Some(r) = &a.reference {
        cfg.reference = r.clone();
    }
    if let Some(c) = &a.current {
        cfg.current = c.clone();
    }
    let queue = match &rs.retrain_queue_url {
        Some(url) => Queue::Sqs(SqsQueue::from_env(url.clone()).await),
        None => Queue::Memory(MemoryQueue::new(1)),
    };
    let target = ReportTarget {
        store: &store,
        bucket: &bucket,
        results_prefix: &settings.results_prefix,
        max_object_bytes: settings.max_object_bytes,
    };
    let (report, out) = run_report(&target, &cfg, Some(&queue)).await?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_text(&report, &out, &|key: &str| a.place.place(key));
        print_retrain(&report, rs.retrain_queue_url.as_deref())?;
    }
    Ok(match a.fail_on {
        Some(level) if report.status >= level.level() => Outcome::ReportStatus,
        _ => Outcome::Done,
    })
}

/// Report settings from the environment, with the command line's floors and queue
/// taking precedence.
fn report_settings(a: &ReportArgs) -> Result<ReportSettings> {
    let overrides = [
        ("SIGHTLINE_ACCURACY_FLOOR", &a.accuracy_floor),
        ("SIGHTLINE_MAP_FLOOR", &a.map_floor),
        ("SIGHTLINE_RETRAIN_QUEUE_URL", &a.retrain_queue_url),
    ];
    Ok(ReportSettings::from_lookup(|k| {
        overrides
            .iter()
            .find(|(name, v)| *name == k && v.is_some())
            .and_then(|(_, v)| (*v).clone())
            .or_else(|| std::env::var(k).ok())
    })?)
}

/// The text table: windows, metrics, status with the tests that warned or alerted,
/// notes, and where each output went (`place` turns a key into a path or URL).
fn print_text(report: &Report, out: &ReportOutputs, place: &dyn Fn(&str) -> String) {
    println!("catalog        {}", report.catalog);
    println!("model          {} {}", report.model, report.model_version);
    for (name, w) in [
        ("reference", &report.reference),
        ("current", &report.current),
    ] {
        println!("{name:<15}{} ({} rows)", w.spec, w.rows);
    }
    if let Some(c) = &report.classification {
        println!(
            "accuracy       {:.1} % ({} labelled images, {} classes)",
            100.0 * c.accuracy,
            c.samples,
            c.classes
        );
        if let Some(top5) = c.top5_accuracy {
            println!("top-5 accuracy {:.1} %", 100.0 * top5);
        }
        println!("macro F1       {:.3}   ECE {:.3}", c.macro_avg.f1, c.ece);
    }
    if let Some(d) = &report.detection {
        println!(
            "mAP            {:.3} (mAP@0.5 {:.3}, {} images)",
            d.map, d.map50, d.images
        );
    }
    let worst: Vec<String> = report
        .drift
        .iter()
        .filter(|d| d.status != DriftStatus::Ok)
        .map(|d| format!("{} {} {:.3} ({})", d.feature, d.method, d.value, d.status))
        .collect();
    println!(
        "status         {} {}",
        report.status.as_str().to_uppercase(),
        worst.join("; ")
    );
    for n in &report.notes {
        println!("note           {n}");
    }
    println!("html           {}", place(&out.html_key));
    println!("json           {}", place(&out.json_key));
    if let Some(k) = &out.metrics_key {
        println!("metrics        {}", place(k));
    }
    if let Some(k) = &out.drift_key {
        println!("drift          {}", place(k));
    }
}

/// Where the retrain request went, or the request itself without a queue.
fn print_retrain(report: &Report, queue_url: Option<&str>) -> Result<()> {
    if let Some(req) = &report.retrain {
        match queue_url {
            Some(url) => println!("retrain        request sent to {url}"),
            None => println!(
                "retrain        request (in-process queue): {}",
                serde_json::to_string(req)?
            ),
        }
    }
    Ok(())
}
