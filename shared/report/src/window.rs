//! Windows of result rows: which rows a report compares.
//!
//! A window is written as comma-separated filters, all of which a row must pass:
//! * `dates=FROM..TO`: partition dates, inclusive. `FROM`/`TO` are `YYYY-MM-DD` or day
//!   offsets from the report's date (`-7..-1` = the seven days before it; `0` = that day).
//! * `date=D`: one day (same forms).
//! * `model_version=V`: rows produced by this model version.
//! * `prefix=P`: object keys starting with `P`, or with `incoming/<catalog>/P`.
//! * `all`: every row.
//!
//! Within a window each image counts once: the latest row per key.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use sightline_core::ResultRow;

use crate::ReportError;

/// The reference window when none is given: the seven days before the report's date.
pub const DEFAULT_REFERENCE: &str = "dates=-7..-1";
/// The current window when none is given: the report's date.
pub const DEFAULT_CURRENT: &str = "dates=0..0";

/// A parsed window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The text it was parsed from.
    pub spec: String,
    /// Inclusive date range, resolved against the report's date.
    pub dates: Option<(NaiveDate, NaiveDate)>,
    /// Model version filter.
    pub model_version: Option<String>,
    /// Key prefix filter.
    pub prefix: Option<String>,
}

fn day(value: &str, as_of: NaiveDate, spec: &str) -> Result<NaiveDate, ReportError> {
    let bad = || ReportError::Window {
        spec: spec.to_string(),
        message: format!("{value:?} is neither YYYY-MM-DD nor a day offset like -7"),
    };
    let v = value.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d);
    }
    let offset: i64 = v.parse().map_err(|_| bad())?;
    let days = Days::new(offset.unsigned_abs());
    if offset < 0 {
        as_of.checked_sub_days(days)
    } else {
        as_of.checked_add_days(days)
    }
    .ok_or_else(bad)
}

impl Window {
    /// Parses `spec`, resolving relative days against `as_of`.
    pub fn parse(spec: &str, as_of: NaiveDate) -> Result<Window, ReportError> {
        let mut w = Window {
            spec: spec.to_string(),
            dates: None,
            model_version: None,
            prefix: None,
        };
        let bad = |message: String| ReportError::Window {
            spec: spec.to_string(),
            message,
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not key=value")))?;
            match k.trim() {
                "dates" => {
                    let (a, b) = v
                        .split_once("..")
                        .ok_or_else(|| bad("dates needs FROM..TO".into()))?;
                    let (a, b) = (day(a, as_of, spec)?, day(b, as_of, spec)?);
                    if a > b {
                        return Err(bad(format!("{a} is after {b}")));
                    }
                    w.dates = Some((a, b));
                }
                "date" => {
                    let d = day(v, as_of, spec)?;
                    w.dates = Some((d, d));
                }
                "model_version" => w.model_version = Some(v.trim().to_string()),
                "prefix" => w.prefix = Some(v.trim().to_string()),
                other => {
                    return Err(bad(format!(
                        "unknown filter {other:?} (dates, date, model_version, prefix, all)"
                    )))
                }
            }
        }
        Ok(w)
    }

    /// Whether a results file of this partition date can hold rows of the window.
    pub fn may_contain(&self, date: NaiveDate) -> bool {
        self.dates.is_none_or(|(a, b)| a <= date && date <= b)
    }

    /// Whether `row` belongs to the window.
    pub fn contains(&self, row: &ResultRow, incoming_prefix: &str) -> bool {
        self.may_contain(row.date)
            && self
                .model_version
                .as_ref()
                .is_none_or(|v| &row.model_version == v)
            && self.prefix.as_ref().is_none_or(|p| {
                row.key.starts_with(p.as_str())
                    || row
                        .key
                        .strip_prefix(&format!("{incoming_prefix}{}/", row.catalog))
                        .is_some_and(|rest| rest.starts_with(p.as_str()))
            })
    }

    /// Which image a row is, across windows: its key below `incoming/<catalog>/`, without
    /// this window's `prefix`. Rows of two windows with the same identity are the same
    /// image seen twice (re-processed, re-encoded, re-uploaded under another folder).
    pub fn identity<'a>(&self, row: &'a ResultRow, incoming_prefix: &str) -> &'a str {
        let key = row.key.as_str();
        let rest = key
            .strip_prefix(incoming_prefix)
            .and_then(|k| k.strip_prefix(row.catalog.as_str()))
            .and_then(|k| k.strip_prefix('/'))
            .unwrap_or(key);
        match &self.prefix {
            Some(p) => rest
                .strip_prefix(p.as_str())
                .or_else(|| key.strip_prefix(p.as_str()))
                .unwrap_or(rest),
            None => rest,
        }
    }

    /// The rows of the window, latest per key (by `processed_at`), sorted by key.
    pub fn select(&self, rows: &[ResultRow], incoming_prefix: &str) -> Vec<ResultRow> {
        let mut latest: HashMap<&str, &ResultRow> = HashMap::new();
        for r in rows.iter().filter(|r| self.contains(r, incoming_prefix)) {
            let e = latest.entry(r.key.as_str()).or_insert(r);
            if r.processed_at > e.processed_at {
                *e = r;
            }
        }
        let mut out: Vec<ResultRow> = latest.into_values().cloned().collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_absolute_and_relative_dates_and_filters() {
        let as_of = d("2026-11-27");
        let w = Window::parse(DEFAULT_REFERENCE, as_of).unwrap();
        assert_eq!(w.dates, Some((d("2026-11-20"), d("2026-11-26"))));
        let w = Window::parse("date=2026-11-01, model_version=1.2, prefix=dark/", as_of).unwrap();
        assert_eq!(w.dates, Some((d("2026-11-01"), d("2026-11-01"))));
        assert_eq!(w.model_version.as_deref(), Some("1.2"));
        assert_eq!(w.prefix.as_deref(), Some("dark/"));
        assert_eq!(Window::parse("all", as_of).unwrap().dates, None);
        for bad in ["dates=3..1", "dates=x..1", "colour=red", "prefix"] {
            assert!(Window::parse(bad, as_of).is_err(), "{bad}");
        }
    }
}
