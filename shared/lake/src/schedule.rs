//! The scheduled compaction: settings from the environment and the run the `compact`
//! Lambda wires to an EventBridge schedule.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SIGHTLINE_COMPACT_BUCKET` | bucket holding `results/` | `SIGHTLINE_RESULTS_BUCKET` |
//! | `SIGHTLINE_COMPACT_CATALOGS` | comma-separated catalogs | (required) |
//! | `SIGHTLINE_COMPACT_DAYS` | partitions of the last N days, today included | 3 |
//! | `SIGHTLINE_COMPACT_TARGET_MB` | target file size, MiB | 128 |
//! | `SIGHTLINE_COMPACT_GRACE_MINUTES` | merged files stay this long for running queries | 15 |
//!
//! Rows land in the partition of their object's Last-Modified day, so late redeliveries
//! of old objects add files to old partitions: `sightline compact --dates FROM..TO`
//! covers those.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sightline_storage::Store;

use crate::{compact_partition, CompactOptions, LakeError, PartitionReport};

/// Scheduled compaction settings (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactSettings {
    /// Bucket holding the results table.
    pub bucket: String,
    /// Catalogs compacted.
    pub catalogs: Vec<String>,
    /// Partitions of this many days, counting back from the run's day.
    pub days: u32,
    /// Target file size in bytes.
    pub target_bytes: u64,
    /// Grace period of merged files.
    pub grace: TimeDelta,
}

impl CompactSettings {
    /// Reads the settings through `get` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CompactSettings, LakeError> {
        let config = |name: &str, message: String| LakeError::Config {
            name: name.to_string(),
            message,
        };
        let number = |name: &str, default: u64| -> Result<u64, LakeError> {
            match get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| config(name, format!("{v:?} is not a whole number"))),
            }
        };
        let bucket = get("SIGHTLINE_COMPACT_BUCKET")
            .or_else(|| get("SIGHTLINE_RESULTS_BUCKET"))
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                config(
                    "SIGHTLINE_COMPACT_BUCKET",
                    "not set (nor SIGHTLINE_RESULTS_BUCKET)".into(),
                )
            })?;
        let catalogs: Vec<String> = (get("SIGHTLINE_COMPACT_CATALOGS").unwrap_or_default())
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if catalogs.is_empty() {
            return Err(config(
                "SIGHTLINE_COMPACT_CATALOGS",
                "names no catalog".into(),
            ));
        }
        let days = number("SIGHTLINE_COMPACT_DAYS", 3)?;
        Ok(CompactSettings {
            bucket,
            catalogs,
            days: u32::try_from(days.max(1))
                .map_err(|_| config("SIGHTLINE_COMPACT_DAYS", "too large".into()))?,
            target_bytes: number("SIGHTLINE_COMPACT_TARGET_MB", 128)?.max(1) << 20,
            grace: TimeDelta::minutes(number("SIGHTLINE_COMPACT_GRACE_MINUTES", 15)? as i64),
        })
    }

    /// The partition dates a run at `now` covers, oldest first.
    pub fn dates(&self, now: DateTime<Utc>) -> Vec<NaiveDate> {
        let today = now.date_naive();
        (0..self.days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(back.into())))
            .collect()
    }
}

/// Compacts every configured catalog's recent partitions under `results_prefix`; one
/// partition's failure does not stop the others (it is logged and returned last as the
/// error once all were tried).
pub async fn compact_recent(
    store: &Store,
    settings: &CompactSettings,
    results_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<PartitionReport>, LakeError> {
    let mut opts = CompactOptions::new(results_prefix);
    opts.target_bytes = settings.target_bytes;
    opts.max_merge_bytes = 4 * settings.target_bytes;
    opts.grace = settings.grace;
    let mut reports = Vec::new();
    let mut failed = None;
    for catalog in &settings.catalogs {
        for date in settings.dates(now) {
            match compact_partition(store, &settings.bucket, catalog, date, &opts, now).await {
                Ok(r) => reports.push(r),
                Err(e) => {
                    tracing::error!(catalog = %catalog, date = %date, error = %e, "compaction failed");
                    failed = Some(e);
                }
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = CompactSettings::from_lookup(env(&[
            ("SIGHTLINE_RESULTS_BUCKET", "lake"),
            ("SIGHTLINE_COMPACT_CATALOGS", "retail, medical"),
        ]))
        .unwrap();
        assert_eq!(
            (s.bucket.as_str(), s.days, s.target_bytes),
            ("lake", 3, 128 << 20)
        );
        assert_eq!(s.catalogs, ["retail", "medical"]);
        assert_eq!(s.grace, TimeDelta::minutes(15));
        let now = DateTime::parse_from_rfc3339("2026-12-02T05:00:00Z")
            .unwrap()
            .to_utc();
        let dates: Vec<String> = s.dates(now).iter().map(|d| d.to_string()).collect();
        assert_eq!(dates, ["2026-11-30", "2026-12-01", "2026-12-02"]);
        let no_catalog = CompactSettings::from_lookup(env(&[("SIGHTLINE_RESULTS_BUCKET", "b")]));
        assert!(no_catalog
            .unwrap_err()
            .to_string()
            .contains("SIGHTLINE_COMPACT_CATALOGS"));
        let bad = CompactSettings::from_lookup(env(&[
            ("SIGHTLINE_RESULTS_BUCKET", "b"),
            ("SIGHTLINE_COMPACT_CATALOGS", "retail"),
            ("SIGHTLINE_COMPACT_DAYS", "two"),
        ]));
        assert!(bad.unwrap_err().to_string().contains("whole number"));
    }
}
