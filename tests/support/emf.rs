//! A checker of CloudWatch Embedded Metric Format lines, after AWS's specification
//! (docs.aws.amazon.com, "Specification: Embedded metric format"): the rules its JSON
//! schema states, checked one by one so that a failure says which.

use serde_json::Value;

/// The units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one log line; returns the parsed object.
pub fn check_emf(line: &str) -> Result<Value, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = root.as_object().ok_or("not a JSON object")?;
    let aws = obj
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        _ => return Err("_aws.Timestamp is not a non-negative integer (ms)".into()),
    }
    let directives = (aws.get("CloudWatchMetrics").and_then(Value::as_array))
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics is not a non-empty array")?;
    for d in directives {
        let ns = d["Namespace"].as_str().ok_or("Namespace is not a string")?;
        if ns.is_empty() || ns.len() > 255 {
            return Err(format!("Namespace {ns:?} is not 1-255 characters"));
        }
        let sets = d["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err("a dimension set has more than 30 dimensions".into());
            }
            for dim in set {
                let name = dim.as_str().ok_or("a dimension name is not a string")?;
                if !obj.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension {name} has no string value at the root"));
                }
            }
        }
        let metrics = (d["Metrics"].as_array())
            .filter(|m| m.len() <= 100)
            .ok_or("Metrics is not an array of at most 100")?;
        for m in metrics {
            let name = m["Name"]
                .as_str()
                .filter(|n| !n.is_empty() && n.len() <= 255);
            let name = name.ok_or("a metric Name is not 1-255 characters")?;
            if let Some(unit) = m.get("Unit") {
                let unit = unit.as_str().ok_or("a Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: unknown unit {unit}"));
                }
            }
            match obj.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                _ => {
                    return Err(format!(
                        "metric {name} has no number or array of ≤ 100 numbers"
                    ))
                }
            }
        }
    }
    Ok(root)
}
