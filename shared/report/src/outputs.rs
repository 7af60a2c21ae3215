//! The report's tables: metrics and drift as Parquet (long format, one row per number),
//! keyed by model and model version, partitioned like the results table.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;

use crate::summary::Report;
use crate::ReportError;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Columns every report table starts with.
fn key_fields() -> Vec<Field> {
    vec![
        Field::new("generated_at", ts(), false),
        Field::new("model", DataType::Utf8, false),
        Field::new("model_version", DataType::Utf8, false),
        Field::new("reference", DataType::Utf8, false),
        Field::new("current", DataType::Utf8, false),
    ]
}

/// Schema of `metrics/catalog=<c>/date=<d>/*.parquet`: one row per metric and class
/// (`class` null for whole-window metrics).
pub fn metrics_schema() -> SchemaRef {
    let mut f = key_fields();
    f.extend([
        Field::new("metric", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("support", DataType::Int64, true),
    ]);
    Arc::new(Schema::new(f))
}

/// Schema of `drift/catalog=<c>/date=<d>/*.parquet`: one row per drift test.
pub fn drift_schema() -> SchemaRef {
    let mut f = key_fields();
    f.extend([
        Field::new("feature", DataType::Utf8, false),
        Field::new("method", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("warn", DataType::Float64, false),
        Field::new("alert", DataType::Float64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("n_reference", DataType::Int64, false),
        Field::new("n_current", DataType::Int64, false),
    ]);
    Arc::new(Schema::new(f))
}

fn key_columns(r: &Report, n: usize) -> Vec<ArrayRef> {
    let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    vec![
        Arc::new(
            TimestampMicrosecondArray::from(vec![r.generated_at.timestamp_micros(); n])
                .with_timezone("UTC"),
        ),
        s(&r.model),
        s(&r.model_version),
        s(&r.reference.spec),
        s(&r.current.spec),
    ]
}

/// One metric value: name, class (None for the window), value, support.
type MetricRow = (String, Option<String>, Option<f64>, Option<i64>);

/// The metric rows of a report, in a stable order.
pub fn metric_rows(r: &Report) -> Vec<MetricRow> {
    let mut out: Vec<MetricRow> = Vec::new();
    let mut push = |m: &str, class: Option<&str>, v: Option<f64>, n: Option<usize>| {
        out.push((
            m.to_string(),
            class.map(str::to_string),
            v,
            n.map(|n| n as i64),
        ));
    };
    if let Some(c) = &r.classification {
        let n = Some(c.samples);
        push("accuracy", None, Some(c.accuracy), n);
        push("top5_accuracy", None, c.top5_accuracy, n);
        push("macro_precision", None, Some(c.macro_avg.precision), n);
        push("macro_recall", None, Some(c.macro_avg.recall), n);
        push("macro_f1", None, Some(c.macro_avg.f1), n);
        push("micro_f1", None, Some(c.micro_avg.f1), n);
        push("weighted_f1", None, Some(c.weighted_avg.f1), n);
        push("roc_auc_macro", None, c.roc_auc_macro, n);
        push("ece", None, Some(c.ece), n);
        for k in &c.per_class {
            let (l, s) = (Some(k.label.as_str()), Some(k.support));
            push("precision", l, Some(k.prf.precision), s);
            push("recall", l, Some(k.prf.recall), s);
            push("f1", l, Some(k.prf.f1), s);
            push("best_f1_threshold", l, k.best_threshold, s);
        }
    }
    if let Some(d) = &r.detection {
        push("map", None, Some(d.map), Some(d.images));
        push("map50", None, Some(d.map50), Some(d.images));
        for a in &d.per_class {
            push("ap", Some(&a.label), Some(a.ap), Some(a.ground_truth));
        }
    }
    out
}

/// One row of the metrics table, with its keys (what the retrain job writes for a
/// challenger and its champion, side by side).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    /// When the numbers were computed.
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// Model name(s).
    pub model: String,
    /// Model version(s).
    pub model_version: String,
    /// What the numbers compare against (a window spec, or `holdout validation`).
    pub reference: String,
    /// What was measured (a window spec, or `retrain <version>`).
    pub current: String,
    /// Metric name.
    pub metric: String,
    /// Class, `None` for whole-window metrics.
    pub class: Option<String>,
    /// Value.
    pub value: Option<f64>,
    /// Rows behind it.
    pub support: Option<i64>,
}

/// The metrics table of a report as Parquet (`None` when it has no metrics).
pub fn metrics_parquet(r: &Report) -> Result<Option<Bytes>, ReportError> {
    let records: Vec<MetricRecord> = metric_rows(r)
        .into_iter()
        .map(|(metric, class, value, support)| MetricRecord {
            generated_at: r.generated_at,
            model: r.model.clone(),
            model_version: r.model_version.clone(),
            reference: r.reference.spec.clone(),
            current: r.current.spec.clone(),
            metric,
            class,
            value,
            support,
        })
        .collect();
    if records.is_empty() {
        return Ok(None);
    }
    metric_records_parquet(&records).map(Some)
}

/// Metric records as a Parquet file of [`metrics_schema`].
pub fn metric_records_parquet(records: &[MetricRecord]) -> Result<Bytes, ReportError> {
    let strings = |f: fn(&MetricRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| r.generated_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        strings(|r| &r.model),
        strings(|r| &r.model_version),
        strings(|r| &r.reference),
        strings(|r| &r.current),
        strings(|r| &r.metric),
        Arc::new(StringArray::from_iter(
            records.iter().map(|r| r.class.as_deref()),
        )),
        Arc::new(Float64Array::from_iter(records.iter().map(|r| r.value))),
        Arc::new(Int64Array::from_iter(records.iter().map(|r| r.support))),
    ];
    let batch = RecordBatch::try_new(metrics_schema(), cols)
        .map_err(sightline_tables::TablesError::from)?;
    Ok(sightline_tables::results::write_parquet(&batch)?)
}

/// The drift table of a report as Parquet (`None` when no drift test ran).
pub fn drift_parquet(r: &Report) -> Result<Option<Bytes>, ReportError> {
    let d = &r.drift;
    if d.is_empty() {
        return Ok(None);
    }
    let mut cols = key_columns(r, d.len());
    let f64s = |f: fn(&crate::summary::DriftCheck) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(d.iter().map(f)))
    };
    cols.push(Arc::new(StringArray::from_iter_values(
        d.iter().map(|x| x.feature.as_str()),
    )));
    cols.push(Arc::new(StringArray::from_iter_values(
        d.iter().map(|x| x.method.as_str()),
    )));
    cols.push(f64s(|x| x.value));
    cols.push(f64s(|x| x.thresholds.warn));
    cols.push(f64s(|x| x.thresholds.alert));
    cols.push(Arc::new(StringArray::from_iter_values(
        d.iter().map(|x| x.status.as_str()),
    )));
    cols.push(Arc::new(Int64Array::from_iter_values(
        d.iter().map(|x| x.n_reference as i64),
    )));
    cols.push(Arc::new(Int64Array::from_iter_values(
        d.iter().map(|x| x.n_current as i64),
    )));
    let batch =
        RecordBatch::try_new(drift_schema(), cols).map_err(sightline_tables::TablesError::from)?;
    Ok(Some(sightline_tables::results::write_parquet(&batch)?))
}
