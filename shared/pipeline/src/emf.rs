//! CloudWatch Embedded Metric Format: a batch's figures as JSON log lines that CloudWatch
//! Logs turns into metrics (namespace `Sightline`, envelope: [`sightline_core::emf`]),
//! printed to stdout by the Lambda adapter and the worker.
//!
//! Per batch:
//! * per (catalog, model version, execution provider): `Images`, `ErrorRows` (counts) and
//!   `FetchMs`, `DecodeMs`, `InferMs` (each image's stage time, as value arrays, from which
//!   CloudWatch computes p50/p99);
//! * per (catalog, error kind): `ErrorRows`;
//! * per batch (dimension `Service` = `sightline`): `BatchMessages`, `RetriedMessages`,
//!   `SkippedObjects`, `WriteMs` (the Parquet writes), `Images` and `ErrorRows` (the
//!   stack's error-ratio alarm divides them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sightline_core::emf::{line, Metric};
use sightline_core::ResultRow;

use crate::BatchReport;

/// EMF allows at most 100 values per metric in one line.
const MAX_VALUES: usize = 100;

/// The EMF lines of one batch, timestamped `at`.
pub fn batch_lines(report: &BatchReport, at: DateTime<Utc>) -> Vec<String> {
    let mut lines = Vec::new();
    let mut by_model: BTreeMap<(&str, &str, &str), Vec<&ResultRow>> = BTreeMap::new();
    let mut by_error: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &report.written {
        let key = (
            r.catalog.as_str(),
            r.model_version.as_str(),
            r.execution_provider.as_str(),
        );
        by_model.entry(key).or_default().push(r);
        if let Some(kind) = r.error_kind {
            *by_error
                .entry((r.catalog.as_str(), kind.as_str()))
                .or_default() += 1;
        }
    }
    for ((catalog, version, provider), rows) in by_model {
        for chunk in rows.chunks(MAX_VALUES) {
            let timings = |f: fn(&ResultRow) -> f32| -> Value {
                let ok = chunk.iter().filter(|r| r.error_kind.is_none());
                Value::from(ok.map(|r| f(r) as f64).collect::<Vec<f64>>())
            };
            let dims = [
                ("catalog", catalog),
                ("model_version", version),
                ("execution_provider", provider),
            ];
            let errors = chunk.iter().filter(|r| r.error_kind.is_some()).count();
            let metrics = [
                Metric::count("Images", chunk.len()),
                Metric::count("ErrorRows", errors),
                Metric::millis("FetchMs", timings(|r| r.timings.fetch_ms)),
                Metric::millis("DecodeMs", timings(|r| r.timings.decode_ms)),
                Metric::millis("InferMs", timings(|r| r.timings.infer_ms)),
            ];
            lines.push(line(at, &dims, &metrics));
        }
    }
    for ((catalog, kind), n) in by_error {
        let dims = [("catalog", catalog), ("error_kind", kind)];
        lines.push(line(at, &dims, &[Metric::count("ErrorRows", n)]));
    }
    let batch = [
        Metric::count("BatchMessages", report.messages),
        Metric::count("Images", report.rows),
        Metric::count("ErrorRows", report.error_rows),
        Metric::count("RetriedMessages", report.failed.len()),
        Metric::count("SkippedObjects", report.skipped),
        Metric::millis("WriteMs", Value::from(report.write_ms)),
    ];
    lines.push(line(at, &[("Service", "sightline")], &batch));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_core::ErrorKind;
    use sightline_tests::emf::check_emf;

    fn row(catalog: &str, i: usize, error: Option<ErrorKind>) -> ResultRow {
        let mut r = sightline_tests::results::sample_row(catalog, &format!("k{i}"));
        r.error_kind = error;
        r.timings.fetch_ms = i as f32;
        r
    }

    #[test]
    fn a_batch_becomes_valid_emf_lines() {
        let mut written: Vec<ResultRow> = (0..150).map(|i| row("retail", i, None)).collect();
        written.push(row("retail", 150, Some(ErrorKind::CorruptImage)));
        written.push(row("security", 151, Some(ErrorKind::CorruptImage)));
        let report = BatchReport {
            messages: 10,
            rows: written.len(),
            error_rows: 2,
            failed: vec!["m1".into()],
            written,
            write_ms: 12.5,
            ..BatchReport::default()
        };
        let lines: Vec<serde_json::Value> = batch_lines(&report, Utc::now())
            .iter()
            .map(|l| check_emf(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        // retail: 151 rows in two lines (at most 100 values a metric), security: one;
        // an error-kind line per catalog; the batch line.
        assert_eq!(lines.len(), 3 + 2 + 1, "{lines:?}");
        let retail: Vec<_> = lines
            .iter()
            .filter(|l| l["catalog"] == "retail" && l.get("Images").is_some())
            .collect();
        assert_eq!(
            retail
                .iter()
                .map(|l| l["Images"].as_u64().unwrap())
                .sum::<u64>(),
            151
        );
        assert_eq!(retail[0]["FetchMs"].as_array().unwrap().len(), 100);
        assert_eq!(
            retail[1]["ErrorRows"], 1,
            "the error row has no stage times"
        );
        assert_eq!(retail[1]["FetchMs"].as_array().unwrap().len(), 50);
        let kinds: Vec<_> = lines
            .iter()
            .filter(|l| l.get("error_kind").is_some())
            .collect();
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[0]["error_kind"], "corrupt_image");
        let batch = lines.last().unwrap();
        assert_eq!(
            (
                batch["BatchMessages"].as_u64(),
                batch["RetriedMessages"].as_u64()
            ),
            (Some(10), Some(1))
        );
        assert_eq!(batch["WriteMs"], 12.5);
        assert_eq!(
            (batch["Images"].as_u64(), batch["ErrorRows"].as_u64()),
            (Some(152), Some(2))
        );
        assert!(check_emf("{\"_aws\": {\"Timestamp\": 1, \"CloudWatchMetrics\": [{\"Namespace\": \"S\", \"Dimensions\": [[\"d\"]], \"Metrics\": [{\"Name\": \"M\"}]}]}, \"M\": 1}").is_err(), "a dimension without a value");
    }
}
