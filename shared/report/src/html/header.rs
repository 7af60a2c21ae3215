//! The page header: what was judged, the overall status badge and verdict, the retrain
//! request when one was sent, and one card per window.

use chrono::NaiveDate;
use maud::{html, Markup};
use sightline_quality::DriftStatus;

use super::format::{or_dash, pct, status_class, status_word, DASH};
use crate::summary::{Report, RetrainRequest, WindowSummary};

/// The header of the page.
pub(super) fn header(r: &Report) -> Markup {
    html! {
        header.top {
            div.headline {
                div {
                    h1 { "Model quality report: " (r.catalog) }
                    p.meta {
                        "Model " b { (or_dash(&r.model)) }
                        " · version " b { (or_dash(&r.model_version)) }
                    }
                    p.meta {
                        "Generated " (r.generated_at.format("%Y-%m-%d %H:%M UTC"))
                        " · report date " (r.date)
                    }
                }
                div.badge.big.(status_class(r.status)) title="Overall status" {
                    (status_word(r.status))
                }
            }
            p.verdict { (verdict(r.status)) }
            @if let Some(req) = &r.retrain {
                (retrain_callout(req))
            }
            div.windows {
                (window_card("Reference window", "the baseline", &r.reference))
                (window_card("Current window", "what is judged", &r.current))
            }
        }
    }
}

/// One sentence on what `status` means for the reader.
fn verdict(status: DriftStatus) -> &'static str {
    match status {
        DriftStatus::Ok => {
            "All clear: no drift test reached its warn level and every metric floor holds."
        }
        DriftStatus::Warn => {
            "Worth watching: at least one drift test reached its warn level, but nothing \
             reached alert and every metric floor holds."
        }
        DriftStatus::Alert => {
            "Action needed: a drift test reached its alert level or a metric fell below its \
             floor, so the model may no longer be reliable on the current images."
        }
    }
}

/// The red box that says retraining was requested, and why.
fn retrain_callout(req: &RetrainRequest) -> Markup {
    html! {
        div.callout {
            h3 { "Retraining was requested" }
            div {
                "Sent " (req.requested_at.format("%Y-%m-%d %H:%M UTC"))
                " for model " b { (or_dash(&req.model)) }
                " version " b { (or_dash(&req.model_version)) } ". Reasons:"
            }
            @if req.reasons.is_empty() {
                div.empty { "No reasons were given." }
            } @else {
                ul {
                    @for reason in &req.reasons {
                        li { (reason) }
                    }
                }
            }
        }
    }
}

/// The dates a window covers ("2026-11-14 → 2026-11-20"), or "–".
fn date_range(first: Option<NaiveDate>, last: Option<NaiveDate>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a} → {b}"),
        (Some(a), None) => format!("from {a}"),
        (None, Some(b)) => format!("until {b}"),
        (None, None) => DASH.to_string(),
    }
}

/// A card with a window's spec, dates and row counts.
fn window_card(name: &str, role: &str, w: &WindowSummary) -> Markup {
    let share = |n: usize| {
        if w.rows > 0 && n > 0 {
            format!(" ({})", pct(n as f64 / w.rows as f64))
        } else {
            String::new()
        }
    };
    html! {
        div.window {
            h3 {
                (name) " " span.meta style="font-weight:400" { "(" (role) ")" }
                @if w.rows == 0 {
                    " " span.badge.st-warn { "empty" }
                }
            }
            dl {
                dt { "Window" } dd { code { (w.spec) } }
                dt { "Dates" } dd { (date_range(w.first_date, w.last_date)) }
                dt { "Images" } dd { (w.rows) }
                dt { "Errors" } dd { (w.errors) (share(w.errors)) }
                dt { "Labelled" } dd { (w.labelled) (share(w.labelled)) }
            }
        }
    }
}
