//! The worker's Prometheus endpoint: the batches' figures as counters and histograms
//! (`prometheus-client`), served as text at `GET /metrics` by a small HTTP/1.1 listener on
//! its own thread (feature `prometheus`; the Lambdas report through [`crate::emf`]).
//!
//! | metric | labels |
//! |---|---|
//! | `sightline_images_total` | catalog, model_version, execution_provider |
//! | `sightline_error_rows_total` | catalog, error_kind |
//! | `sightline_batches_total`, `sightline_retried_messages_total`, `sightline_skipped_objects_total` | |
//! | `sightline_stage_seconds` (histogram) | stage = fetch, decode, infer, write |

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::BatchReport;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    catalog: String,
    model_version: String,
    execution_provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    catalog: String,
    error_kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

fn stage_histogram() -> Histogram {
    // 1 ms to ~33 s, doubling.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The worker's metrics; cheap to share (`Arc`) between the batch callback and the server.
pub struct WorkerMetrics {
    registry: Mutex<Registry>,
    images: Family<ModelLabels, Counter>,
    error_rows: Family<ErrorLabels, Counter>,
    batches: Counter,
    retried: Counter,
    skipped: Counter,
    stages: Family<StageLabels, Histogram, fn() -> Histogram>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let m = WorkerMetrics {
            registry: Mutex::new(Registry::default()),
            images: Family::default(),
            error_rows: Family::default(),
            batches: Counter::default(),
            retried: Counter::default(),
            skipped: Counter::default(),
            stages: Family::new_with_constructor(stage_histogram as fn() -> Histogram),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "sightline_images",
                "Rows written (success and error)",
                m.images.clone(),
            );
            r.register(
                "sightline_error_rows",
                "Error rows by kind",
                m.error_rows.clone(),
            );
            r.register("sightline_batches", "Batches processed", m.batches.clone());
            r.register(
                "sightline_retried_messages",
                "Messages handed back for retry",
                m.retried.clone(),
            );
            r.register(
                "sightline_skipped_objects",
                "Objects outside the incoming prefix, test events",
                m.skipped.clone(),
            );
            r.register(
                "sightline_stage_seconds",
                "Time per image and stage (write: per batch)",
                m.stages.clone(),
            );
        }
        m
    }
}

impl WorkerMetrics {
    /// Counts one batch.
    pub fn observe(&self, report: &BatchReport) {
        self.batches.inc();
        self.retried.inc_by(report.failed.len() as u64);
        self.skipped.inc_by(report.skipped as u64);
        for r in &report.written {
            let labels = ModelLabels {
                catalog: r.catalog.clone(),
                model_version: r.model_version.clone(),
                execution_provider: r.execution_provider.clone(),
            };
            self.images.get_or_create(&labels).inc();
            if let Some(kind) = r.error_kind {
                let labels = ErrorLabels {
                    catalog: r.catalog.clone(),
                    error_kind: kind.as_str().to_string(),
                };
                self.error_rows.get_or_create(&labels).inc();
                continue;
            }
            let t = &r.timings;
            for (stage, ms) in [
                ("fetch", t.fetch_ms),
                ("decode", t.decode_ms),
                ("infer", t.infer_ms),
            ] {
                self.stages
                    .get_or_create(&StageLabels { stage })
                    .observe(f64::from(ms) / 1e3);
            }
        }
        let write = StageLabels { stage: "write" };
        self.stages
            .get_or_create(&write)
            .observe(report.write_ms / 1e3);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = encode(&mut out, &registry);
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` from a background thread; returns the bound address
/// (port 0 picks a free one).
pub fn serve(addr: SocketAddr, metrics: Arc<WorkerMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, &metrics) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
        })?;
    Ok(bound)
}

/// One request: `GET /metrics` gets the exposition, anything else 404.
fn answer(mut stream: TcpStream, metrics: &WorkerMetrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let (status, body) = match request.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] => ("200 OK", metrics.render()),
        _ => ("404 Not Found", "not found: GET /metrics\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
