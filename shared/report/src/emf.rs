//! The scheduled report's CloudWatch EMF lines (envelope: [`sightline_core::emf`]): per
//! catalog, whether its report came out `alert` or `warn` and whether a retrain request
//! was sent; per run (dimension `Service` = `sightline-report`), how many reports and how
//! many at alert, which the stack's `ReportAlertAlarm` watches.

use chrono::{DateTime, Utc};
use sightline_core::emf::{line, Metric};

use crate::schedule::CatalogOutcome;

/// The `Service` dimension's value on the run's line.
pub const SERVICE: &str = "sightline-report";

/// The EMF lines of one scheduled run's outcomes, timestamped `at`.
pub fn outcome_lines(outcomes: &[CatalogOutcome], at: DateTime<Utc>) -> Vec<String> {
    let mut lines: Vec<String> = (outcomes.iter())
        .map(|o| {
            let metrics = [
                Metric::count("ReportAlert", usize::from(o.status == "alert")),
                Metric::count("ReportWarn", usize::from(o.status == "warn")),
                Metric::count("RetrainRequests", usize::from(o.retrain_sent)),
            ];
            line(at, &[("catalog", o.catalog.as_str())], &metrics)
        })
        .collect();
    let alerts = outcomes.iter().filter(|o| o.status == "alert").count();
    let run = [
        Metric::count("Reports", outcomes.len()),
        Metric::count("ReportAlert", alerts),
    ];
    lines.push(line(at, &[("Service", SERVICE)], &run));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_tests::emf::check_emf;

    fn outcome(catalog: &str, status: &str, retrain_sent: bool) -> CatalogOutcome {
        CatalogOutcome {
            catalog: catalog.into(),
            status: status.into(),
            json_key: String::new(),
            html_key: String::new(),
            retrain_sent,
        }
    }

    #[test]
    fn an_alert_report_is_counted_per_catalog_and_per_run() {
        let outcomes = [
            outcome("retail", "alert", true),
            outcome("medical", "ok", false),
        ];
        let lines: Vec<serde_json::Value> = outcome_lines(&outcomes, Utc::now())
            .iter()
            .map(|l| check_emf(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["catalog"], "retail");
        assert_eq!(
            (&lines[0]["ReportAlert"], &lines[0]["RetrainRequests"]),
            (&1.into(), &1.into())
        );
        assert_eq!(lines[1]["ReportAlert"], 0);
        assert_eq!(lines[2]["Service"], SERVICE);
        assert_eq!(
            (&lines[2]["Reports"], &lines[2]["ReportAlert"]),
            (&2.into(), &1.into())
        );
    }
}
