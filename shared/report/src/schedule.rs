//! The scheduled report: settings from the environment and the handler the `report`
//! Lambda wires to an EventBridge scheduled event.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SIGHTLINE_REPORT_BUCKET` | bucket with `results/` and `labels/`; outputs go there | `SIGHTLINE_RESULTS_BUCKET` |
//! | `SIGHTLINE_REPORT_CATALOGS` | comma-separated catalogs to report on | (the event must name them) |
//! | `SIGHTLINE_REPORT_REFERENCE` | reference window | `dates=-7..-1` |
//! | `SIGHTLINE_REPORT_CURRENT` | current window | `dates=0..0` |
//! | `SIGHTLINE_ACCURACY_FLOOR` | top-1 accuracy floor, 0 to 1 (`none` disables; the retrain function reads it too) | 0.7 |
//! | `SIGHTLINE_MACRO_F1_FLOOR` | macro F1 floor (`none` disables) | none |
//! | `SIGHTLINE_MAP_FLOOR` | detector mAP@0.5:0.95 floor (`none` disables) | 0.2 |
//! | `SIGHTLINE_RETRAIN_QUEUE_URL` | SQS queue for retrain requests | none (not sent) |
//!
//! The event's `detail` may override per run: `{"catalog": "retail"}` or
//! `{"catalogs": [...]}`, `"reference"`, `"current"`, `"as_of": "YYYY-MM-DD"`. The report
//! date is `as_of`, else the event's `time`, else today (UTC).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sightline_core::settings::floor_from;
use sightline_core::Settings;
use sightline_queue::Queue;
use sightline_storage::Store;

use crate::compute::ReportConfig;
use crate::run::{run_report, ReportTarget};
use crate::ReportError;

/// Report settings read from the environment (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSettings {
    /// Bucket holding results and labels.
    pub bucket: Option<String>,
    /// Catalogs reported on when the event names none.
    pub catalogs: Vec<String>,
    /// Reference window.
    pub reference: String,
    /// Current window.
    pub current: String,
    /// Accuracy floor.
    pub accuracy_floor: Option<f64>,
    /// Macro F1 floor.
    pub macro_f1_floor: Option<f64>,
    /// mAP floor.
    pub map_floor: Option<f64>,
    /// Queue for retrain requests.
    pub retrain_queue_url: Option<String>,
}

impl ReportSettings {
    /// Reads the settings through `get` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<ReportSettings, ReportError> {
        let defaults = ReportConfig::new("", Utc::now().date_naive());
        let floor = |k: &str, default| floor_from(&get, k, default);
        Ok(ReportSettings {
            bucket: get("SIGHTLINE_REPORT_BUCKET")
                .or_else(|| get("SIGHTLINE_RESULTS_BUCKET"))
                .filter(|b| !b.is_empty()),
            catalogs: get("SIGHTLINE_REPORT_CATALOGS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            reference: get("SIGHTLINE_REPORT_REFERENCE").unwrap_or(defaults.reference),
            current: get("SIGHTLINE_REPORT_CURRENT").unwrap_or(defaults.current),
            accuracy_floor: floor("SIGHTLINE_ACCURACY_FLOOR", defaults.accuracy_floor)?,
            macro_f1_floor: floor("SIGHTLINE_MACRO_F1_FLOOR", defaults.macro_f1_floor)?,
            map_floor: floor("SIGHTLINE_MAP_FLOOR", defaults.map_floor)?,
            retrain_queue_url: get("SIGHTLINE_RETRAIN_QUEUE_URL").filter(|u| !u.is_empty()),
        })
    }

    /// The report configuration for `catalog` on `as_of` under these settings.
    pub fn config(&self, catalog: &str, as_of: NaiveDate, incoming_prefix: &str) -> ReportConfig {
        ReportConfig {
            reference: self.reference.clone(),
            current: self.current.clone(),
            incoming_prefix: incoming_prefix.to_string(),
            accuracy_floor: self.accuracy_floor,
            macro_f1_floor: self.macro_f1_floor,
            map_floor: self.map_floor,
            ..ReportConfig::new(catalog, as_of)
        }
    }
}

/// Per-run overrides a scheduled event may carry in its `detail`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ScheduleDetail {
    /// One catalog.
    #[serde(default)]
    pub catalog: Option<String>,
    /// Several catalogs.
    #[serde(default)]
    pub catalogs: Option<Vec<String>>,
    /// Reference window.
    #[serde(default)]
    pub reference: Option<String>,
    /// Current window.
    #[serde(default)]
    pub current: Option<String>,
    /// Report date.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
}

/// What one catalog's run produced (the handler's response lists one per catalog).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogOutcome {
    /// Catalog.
    pub catalog: String,
    /// `ok`, `warn` or `alert`.
    pub status: String,
    /// JSON summary key.
    pub json_key: String,
    /// HTML page key.
    pub html_key: String,
    /// Whether a retrain request was sent.
    pub retrain_sent: bool,
}

/// What the scheduled handler needs, built once per Lambda container.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// Pipeline settings (prefixes, object size limit).
    pub settings: Settings,
    /// Report settings.
    pub report: ReportSettings,
    /// The bucket's store.
    pub store: Store,
    /// The retrain queue, if configured.
    pub retrain: Option<Queue>,
}

impl Scheduler {
    /// Runs the report for every catalog a scheduled event's `detail` (or the settings)
    /// names; `time` is the event's time. Every catalog is attempted; the first error is
    /// returned after the others ran. (The Lambda adapter unpacks the EventBridge event.)
    pub async fn handle(
        &self,
        detail: &serde_json::Value,
        time: Option<DateTime<Utc>>,
    ) -> Result<Vec<CatalogOutcome>, ReportError> {
        let detail: ScheduleDetail = serde_json::from_value(detail.clone()).unwrap_or_default();
        let as_of = detail
            .as_of
            .or(time.map(|t| t.date_naive()))
            .unwrap_or_else(|| Utc::now().date_naive());
        let catalogs = match (&detail.catalog, &detail.catalogs) {
            (Some(c), _) => vec![c.clone()],
            (None, Some(cs)) => cs.clone(),
            (None, None) => self.report.catalogs.clone(),
        };
        if catalogs.is_empty() {
            return Err(ReportError::Config {
                name: "SIGHTLINE_REPORT_CATALOGS".into(),
                message: "no catalog to report on: set it or put \"catalog\" in the event detail"
                    .into(),
            });
        }
        let bucket = self
            .report
            .bucket
            .clone()
            .ok_or_else(|| ReportError::Config {
                name: "SIGHTLINE_REPORT_BUCKET".into(),
                message: "not set (nor SIGHTLINE_RESULTS_BUCKET)".into(),
            })?;
        let target = ReportTarget {
            store: &self.store,
            bucket: &bucket,
            results_prefix: &self.settings.results_prefix,
            max_object_bytes: self.settings.max_object_bytes,
        };
        let mut outcomes = Vec::new();
        let mut first_error = None;
        for catalog in catalogs {
            let mut cfg = self
                .report
                .config(&catalog, as_of, &self.settings.incoming_prefix);
            if let Some(r) = &detail.reference {
                cfg.reference = r.clone();
            }
            if let Some(c) = &detail.current {
                cfg.current = c.clone();
            }
            match run_report(&target, &cfg, self.retrain.as_ref()).await {
                Ok((report, out)) => {
                    tracing::info!(
                        catalog = %catalog,
                        status = report.status.as_str(),
                        html = %out.html_key,
                        retrain = out.retrain_sent,
                        "report written"
                    );
                    outcomes.push(CatalogOutcome {
                        catalog,
                        status: report.status.as_str().to_string(),
                        json_key: out.json_key,
                        html_key: out.html_key,
                        retrain_sent: out.retrain_sent,
                    });
                }
                Err(e) => {
                    tracing::error!(catalog = %catalog, error = %e, transient = e.is_transient(), "report failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(outcomes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_and_overrides() {
        let s = ReportSettings::from_lookup(|_| None).unwrap();
        assert_eq!(s.reference, "dates=-7..-1");
        assert_eq!((s.accuracy_floor, s.map_floor), (Some(0.7), Some(0.2)));
        let s = ReportSettings::from_lookup(|k| match k {
            "SIGHTLINE_REPORT_CATALOGS" => Some("retail, security,".into()),
            "SIGHTLINE_ACCURACY_FLOOR" => Some("none".into()),
            "SIGHTLINE_MAP_FLOOR" => Some("0.3".into()),
            "SIGHTLINE_RESULTS_BUCKET" => Some("b".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.catalogs, vec!["retail".to_string(), "security".into()]);
        assert_eq!((s.accuracy_floor, s.map_floor), (None, Some(0.3)));
        assert_eq!(s.bucket.as_deref(), Some("b"));
        assert!(
            ReportSettings::from_lookup(|k| (k == "SIGHTLINE_MAP_FLOOR").then(|| "x".into()))
                .is_err()
        );
    }

    #[test]
    fn the_sample_event_parses() {
        let text = include_str!("../../../events/eventbridge-scheduled-report.json");
        let e: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(e["detail-type"], "Scheduled Event");
        let d: ScheduleDetail = serde_json::from_value(e["detail"].clone()).unwrap();
        assert_eq!(d.catalog.as_deref(), Some("retail"));
    }
}
