//! `sightline worker` and `sightline backfill`: the container mode, on SQS notifications
//! of S3 uploads (any endpoint via the AWS SDK's settings).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use sightline_core::Settings;
use sightline_pipeline::prometheus::{self, WorkerMetrics};
use sightline_pipeline::{run_worker, BatchReport, WorkerOptions, WorkerStats};
use sightline_queue::{s3_event_body, Queue, SqsQueue};
use sightline_storage::{S3Store, Store};

use crate::folder::open;

/// Arguments of `sightline worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// Queue URL.
    #[arg(long, env = "SIGHTLINE_QUEUE_URL")]
    queue_url: String,
    /// Exit after the queue has been empty for this many seconds (default: never).
    #[arg(long)]
    exit_when_idle: Option<u64>,
    /// Batches in flight at once (at least 1).
    #[arg(long, default_value_t = 2, value_parser = crate::at_least_one())]
    concurrent_batches: usize,
    /// Seconds before a failed message is retried, times its receive count.
    #[arg(long, default_value_t = 5)]
    retry_delay: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 0.0.0.0:9090).
    #[arg(long, env = "SIGHTLINE_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// Arguments of `sightline backfill`.
#[derive(Args)]
pub struct BackfillArgs {
    /// Bucket.
    #[arg(long)]
    bucket: String,
    /// Key prefix, e.g. `incoming/retail/`.
    #[arg(long, default_value = "incoming/")]
    prefix: String,
    /// Queue URL.
    #[arg(long, env = "SIGHTLINE_QUEUE_URL")]
    queue_url: String,
}

/// Long-polls the queue until SIGTERM/Ctrl-C (or idle), then prints its totals.
pub async fn worker(settings: Settings, a: WorkerArgs) -> Result<()> {
    let store = Store::S3(S3Store::from_env().await);
    let queue = Queue::Sqs(SqsQueue::from_env(a.queue_url).await);
    let pipeline = Arc::new(open(settings, store.clone(), store)?);
    let options = WorkerOptions {
        exit_when_idle: a.exit_when_idle.map(Duration::from_secs),
        concurrent_batches: a.concurrent_batches,
        retry_delay: Duration::from_secs(a.retry_delay),
        ..WorkerOptions::default()
    };
    let metrics = Arc::new(WorkerMetrics::default());
    if let Some(addr) = a.metrics_addr {
        let bound = prometheus::serve(addr, metrics.clone())
            .with_context(|| format!("serving metrics on {addr}"))?;
        tracing::info!(%bound, "Prometheus metrics at /metrics");
    }
    // Each batch's metrics as CloudWatch EMF lines on stdout (logs go to stderr), and in
    // the Prometheus registry.
    let on_batch = move |report: &BatchReport| {
        metrics.observe(report);
        for line in sightline_pipeline::emf::batch_lines(report, chrono::Utc::now()) {
            println!("{line}");
        }
    };
    let stats = run_worker(pipeline, queue, options, shutdown_signal(), on_batch).await?;
    tracing::info!(?stats, "worker stopped");
    println!("{}", summary_json(&stats));
    Ok(())
}

/// Enqueues one S3 notification per object under the prefix.
pub async fn backfill(a: BackfillArgs) -> Result<()> {
    let store = S3Store::from_env().await;
    let queue = Queue::Sqs(SqsQueue::from_env(a.queue_url).await);
    let objects = Store::S3(store).list(&a.bucket, &a.prefix).await?;
    let bodies: Vec<String> = objects
        .iter()
        .map(|o| s3_event_body(std::slice::from_ref(o)))
        .collect();
    queue.send(bodies).await?;
    println!(
        "enqueued {} objects from s3://{}/{}",
        objects.len(),
        a.bucket,
        a.prefix
    );
    Ok(())
}

/// One JSON line with a worker's totals and throughput (for scripts and benchmarks).
fn summary_json(s: &WorkerStats) -> String {
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

/// SIGTERM (container stop) or Ctrl-C.
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
