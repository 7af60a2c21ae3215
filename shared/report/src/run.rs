//! One report run against a bucket (S3 or a local folder): read results and labels,
//! compute, write the tables, JSON and HTML, and send a retrain request when needed.

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use sightline_core::ResultRow;
use sightline_queue::Queue;
use sightline_storage::Store;
use sightline_tables::{latest_rows, parse_partition, read_rows};

use crate::compute::{compute, retrain_reasons, ReportConfig};
use crate::labels::GroundTruth;
use crate::summary::{Report, RetrainRequest};
use crate::window::Window;
use crate::ReportError;

/// Where a report reads and writes.
#[derive(Debug, Clone)]
pub struct ReportTarget<'a> {
    /// The store holding results, labels and report outputs.
    pub store: &'a Store,
    /// Its bucket.
    pub bucket: &'a str,
    /// Prefix of the results table (`results/`).
    pub results_prefix: &'a str,
    /// Largest object read (labels files, Parquet files).
    pub max_object_bytes: u64,
}

/// The keys a report run wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportOutputs {
    /// Metrics table file, if the report had metrics.
    pub metrics_key: Option<String>,
    /// Drift table file, if any drift test ran.
    pub drift_key: Option<String>,
    /// JSON summary.
    pub json_key: String,
    /// HTML page.
    pub html_key: String,
    /// Whether a retrain request was sent.
    pub retrain_sent: bool,
}

/// The file stem of a report's outputs: stable for the same windows and model version,
/// so rerunning a report on the same day replaces its files instead of adding more.
fn output_name(cfg: &ReportConfig, model_version: &str) -> String {
    let mut h = Sha256::new();
    for part in [cfg.reference.as_str(), cfg.current.as_str(), model_version] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("report-{hex}")
}

/// Every results row of the catalog in partitions either window may contain, one per
/// identity (object version and model version; redeliveries are not counted twice).
async fn load_rows(
    target: &ReportTarget<'_>,
    cfg: &ReportConfig,
    (reference, current): (&Window, &Window),
) -> Result<Vec<ResultRow>, ReportError> {
    let (store, bucket) = (target.store, target.bucket);
    let prefix = format!("{}catalog={}/", target.results_prefix, cfg.catalog);
    let mut rows = Vec::new();
    let mut listed = store.list(bucket, &prefix).await?;
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    for o in listed.iter().filter(|o| o.key.ends_with(".parquet")) {
        let Some((_, date)) = parse_partition(&o.key) else {
            continue;
        };
        if reference.may_contain(date) || current.may_contain(date) {
            let object = store.get(bucket, &o.key, target.max_object_bytes).await?;
            rows.extend(read_rows(&o.key, object.bytes)?);
        }
    }
    Ok(latest_rows(rows))
}

/// The retrain request a report makes when a floor fails or a test alerts.
fn retrain_request(report: &Report, report_key: &str) -> Option<RetrainRequest> {
    let reasons = retrain_reasons(report);
    (!reasons.is_empty()).then(|| RetrainRequest {
        kind: "retrain_request".into(),
        catalog: report.catalog.clone(),
        model: report.model.clone(),
        model_version: report.model_version.clone(),
        reasons,
        report_key: report_key.to_string(),
        requested_at: Utc::now(),
    })
}

/// Runs a report: see the crate docs for what it reads and writes.
pub async fn run_report(
    target: &ReportTarget<'_>,
    cfg: &ReportConfig,
    retrain_queue: Option<&Queue>,
) -> Result<(Report, ReportOutputs), ReportError> {
    let reference = Window::parse(&cfg.reference, cfg.as_of)?;
    let current = Window::parse(&cfg.current, cfg.as_of)?;
    let rows = load_rows(target, cfg, (&reference, &current)).await?;
    let ref_rows = reference.select(&rows, &cfg.incoming_prefix);
    let cur_rows = current.select(&rows, &cfg.incoming_prefix);
    let labels_prefix = format!("labels/{}/", cfg.catalog);
    let (store, bucket) = (target.store, target.bucket);
    let truth = GroundTruth::load(store, bucket, &labels_prefix, target.max_object_bytes).await?;
    tracing::info!(
        catalog = %cfg.catalog,
        reference = ref_rows.len(),
        current = cur_rows.len(),
        label_files = truth.files.len(),
        "computing report"
    );
    let owned = cfg.clone();
    let mut report =
        tokio::task::spawn_blocking(move || compute(&owned, &ref_rows, &cur_rows, &truth))
            .await
            .map_err(|e| ReportError::Internal(format!("report computation failed: {e}")))??;

    let name = output_name(cfg, &report.model_version);
    let part = |table: &str| {
        format!(
            "{table}/catalog={}/date={}/{name}",
            cfg.catalog,
            cfg.as_of.format("%Y-%m-%d")
        )
    };
    let mut out = ReportOutputs {
        json_key: format!("{}.json", part("reports")),
        html_key: format!("{}.html", part("reports")),
        ..ReportOutputs::default()
    };
    report.retrain = retrain_request(&report, &out.json_key);
    let parquet = "application/vnd.apache.parquet";
    if let Some(bytes) = crate::outputs::metrics_parquet(&report)? {
        let key = format!("{}.parquet", part("metrics"));
        store.put(bucket, &key, bytes, parquet).await?;
        out.metrics_key = Some(key);
    }
    if let Some(bytes) = crate::outputs::drift_parquet(&report)? {
        let key = format!("{}.parquet", part("drift"));
        store.put(bucket, &key, bytes, parquet).await?;
        out.drift_key = Some(key);
    }
    let json = serde_json::to_vec_pretty(&report)?;
    store
        .put(bucket, &out.json_key, Bytes::from(json), "application/json")
        .await?;
    let html = crate::html::render(&report);
    store
        .put(
            bucket,
            &out.html_key,
            Bytes::from(html),
            "text/html; charset=utf-8",
        )
        .await?;
    // Sent last: whoever consumes the request finds the report it names.
    if let (Some(req), Some(q)) = (&report.retrain, retrain_queue) {
        q.send(vec![serde_json::to_string(req)?]).await?;
        out.retrain_sent = true;
    }
    Ok((report, out))
}
