//! The sections that are plain lists and tables: metric floors, drift tests and notes.

use std::cmp::Reverse;

use maud::{html, Markup};

use super::format::{dec3, sig3, status_class, status_word};
use super::method_name;
use crate::summary::{DriftCheck, FloorCheck, Report, VersionRow};

/// The metric floors and whether each holds; nothing when no floor is set.
pub(super) fn floors(floors: &[FloorCheck]) -> Markup {
    if floors.is_empty() {
        return html! {};
    }
    html! {
        section #floors {
            h2 { "Metric floors" }
            p.hint {
                "A metric below its floor makes the report ALERT and requests retraining."
            }
            table {
                tr {
                    th { "Metric" } th.num { "Value" } th.num { "Floor" } th { "Result" }
                }
                @for f in floors {
                    @let (class, word) = if f.passed { ("st-ok", "PASS") } else { ("st-alert", "FAIL") };
                    tr {
                        td { (metric_name(&f.metric)) }
                        td.num { (dec3(f.value)) }
                        td.num { (dec3(f.floor)) }
                        td.status.(class) { (word) }
                    }
                }
            }
        }
    }
}

/// Rows and accuracy per model version and window; nothing when every row has one version.
pub(super) fn versions(versions: &[VersionRow]) -> Markup {
    let mut distinct: Vec<&str> = versions.iter().map(|v| v.model_version.as_str()).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 2 {
        return html! {};
    }
    html! {
        section #versions {
            h2 { "Model versions" }
            p.hint { "Each window's rows by the model version that wrote them (a head promotion starts a new version)." }
            table {
                tr {
                    th { "Window" } th { "Model" } th { "Version" } th.num { "Rows" }
                    th.num { "Labelled" } th.num { "Top-1 accuracy" }
                }
                @for v in versions {
                    tr {
                        td { (v.window) } td { (v.model) } td { code { (v.model_version) } }
                        td.num { (v.rows) } td.num { (v.labelled) }
                        td.num { @match v.accuracy { Some(a) => (dec3(a)), None => "–" } }
                    }
                }
            }
        }
    }
}

/// A readable name for a floor's metric key.
fn metric_name(key: &str) -> &str {
    match key {
        "accuracy" => "Top-1 accuracy",
        "macro_f1" => "Macro F1",
        "map" => "Detection mAP@0.5:0.95",
        other => other,
    }
}

/// The drift tests, alerts first (input order kept within a status).
pub(super) fn drift(r: &Report) -> Markup {
    let mut rows: Vec<&DriftCheck> = r.drift.iter().collect();
    rows.sort_by_key(|d| Reverse(d.status));
    html! {
        section #drift {
            h2 { "Drift: have the incoming images changed?" }
            @if rows.is_empty() {
                p.empty { "No drift tests were run." }
            } @else {
                p.hint {
                    "Each test compares a feature between the reference and the current \
                     window; larger values mean more change. A value at or above "
                    i { "warn at" } " is WARN, at or above " i { "alert at" } " is ALERT."
                }
                div.wide { table {
                    tr {
                        th { "Feature" } th { "Test" } th.num { "Value" } th.num { "Warn at" }
                        th.num { "Alert at" } th { "Status" } th.num { "n ref" }
                        th.num { "n cur" }
                    }
                    @for d in rows { (drift_row(d)) }
                } }
            }
        }
    }
}

/// One row of the drift table.
fn drift_row(d: &DriftCheck) -> Markup {
    html! {
        tr {
            td { (d.feature) }
            td { (method_name(d.method)) }
            td.num { (sig3(d.value)) }
            td.num { (sig3(d.thresholds.warn)) }
            td.num { (sig3(d.thresholds.alert)) }
            td.status.(status_class(d.status)) { (status_word(d.status)) }
            td.num { (d.n_reference) }
            td.num { (d.n_current) }
        }
    }
}

/// The report's notes; nothing when there are none.
pub(super) fn notes(notes: &[String]) -> Markup {
    html! {
        @if !notes.is_empty() {
            section #notes {
                h2 { "Notes" }
                ul {
                    @for n in notes { li { (n) } }
                }
            }
        }
    }
}
