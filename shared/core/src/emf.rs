//! CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs turns into
//! metrics in the namespace `Sightline`. No agent or API call: the log line is the metric.
//! The pipeline (per batch) and the report (per catalog) build their lines with [`line`].
//!
//! The format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Sightline";

/// One metric of a line: name, CloudWatch unit (`Count`, `Milliseconds`, ...) and value (a
/// number, or an array of at most 100 numbers).
pub struct Metric<'a> {
    /// Metric name.
    pub name: &'a str,
    /// CloudWatch unit.
    pub unit: &'a str,
    /// The value(s).
    pub value: Value,
}

impl<'a> Metric<'a> {
    /// A count.
    pub fn count(name: &'a str, n: usize) -> Metric<'a> {
        Metric {
            name,
            unit: "Count",
            value: Value::from(n),
        }
    }

    /// A time, or an array of times, in milliseconds.
    pub fn millis(name: &'a str, value: Value) -> Metric<'a> {
        Metric {
            name,
            unit: "Milliseconds",
            value,
        }
    }
}

/// One EMF object, timestamped `at`: the `_aws` metadata naming the one dimension set
/// (`dims`, in order) and the metrics, and their values as top-level members.
pub fn line(at: DateTime<Utc>, dims: &[(&str, &str)], metrics: &[Metric<'_>]) -> String {
    let mut root = Map::new();
    let definitions: Vec<Value> = (metrics.iter())
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": definitions,
            }],
        }),
    );
    for (k, v) in dims {
        root.insert((*k).into(), Value::from(*v));
    }
    for m in metrics {
        root.insert(m.name.into(), m.value.clone());
    }
    Value::Object(root).to_string()
}
