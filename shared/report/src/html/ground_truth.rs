//! The sections that judge predictions against ground truth: classification (metrics,
//! confusion matrix, reliability, F1 per class, per-class table) and detection (mAP, AP per
//! class).

use std::cmp::Reverse;

use maud::{html, Markup};

use super::format::{dec3, nan_last, opt, pct};
use super::svg::{confusion, hbars, reliability, Bar};
use crate::summary::{ClassificationSummary, DetectionSummary, Report};

/// Most bars in the per-class F1 and per-class AP charts.
const MAX_BARS: usize = 40;
/// Per-class tables with more rows than this start collapsed.
const OPEN_TABLE_ROWS: usize = 15;

/// The classification and detection sections, or a note that there is no ground truth.
pub(super) fn ground_truth(r: &Report) -> Markup {
    html! {
        @if r.classification.is_none() && r.detection.is_none() {
            section #classification {
                h2 { "Accuracy against ground truth" }
                p.empty {
                    "No classification data and no detection data: no image of the current \
                     window could be matched to a ground-truth label, so only the label-free \
                     drift tests above apply."
                }
            }
        }
        @if let Some(c) = &r.classification { (classification(c)) }
        @if let Some(d) = &r.detection { (detection(d)) }
    }
}

/// The rows of the classification metrics table: name and what the value means.
const CLASSIFICATION_METRICS: [(&str, &str); 11] = [
    ("Labelled images", "images with a ground-truth label"),
    ("Classes", "classes seen in labels or predictions"),
    (
        "Top-1 accuracy",
        "share of images whose first guess is right",
    ),
    (
        "Top-5 accuracy",
        "share whose right class is among the first five guesses",
    ),
    ("Macro precision", "average over classes, 0–1"),
    ("Macro recall", "average over classes, 0–1"),
    ("Macro F1", "every class counts the same, 0–1"),
    ("Weighted F1", "classes weighted by their images, 0–1"),
    ("Micro F1", "over all images, 0–1"),
    (
        "ROC AUC (macro)",
        "how well scores rank the right class first; 0.5 = chance, 1 = perfect",
    ),
    (
        "Calibration error (ECE)",
        "gap between confidence and accuracy; 0 = perfectly calibrated",
    ),
];

/// The rows of the detection metrics table.
const DETECTION_METRICS: [(&str, &str); 3] = [
    ("Images with ground-truth boxes", ""),
    (
        "mAP@0.5:0.95",
        "average precision over IoU 0.5–0.95 and classes (COCO), 0–1",
    ),
    ("mAP@0.5", "the same at IoU 0.5 only, 0–1"),
];

/// A metrics table: name, value and what the value means, one row per entry of `rows`.
fn metrics_table<const N: usize>(rows: &[(&str, &str); N], values: [String; N]) -> Markup {
    html! {
        table {
            tr { th { "Metric" } th.num { "Value" } th { "Meaning" } }
            @for ((name, meaning), value) in rows.iter().zip(values) {
                tr { td { (name) } td.num { (value) } td.hint { (meaning) } }
            }
        }
    }
}

/// The classification section.
fn classification(c: &ClassificationSummary) -> Markup {
    let values = [
        c.samples.to_string(),
        c.classes.to_string(),
        pct(c.accuracy),
        opt(c.top5_accuracy, pct),
        dec3(c.macro_avg.precision),
        dec3(c.macro_avg.recall),
        dec3(c.macro_avg.f1),
        dec3(c.weighted_avg.f1),
        dec3(c.micro_avg.f1),
        opt(c.roc_auc_macro, dec3),
        dec3(c.ece),
    ];
    html! {
        section #classification {
            h2 { "Classification: is the model still right?" }
            p.hint {
                "Current-window predictions compared with ground-truth labels for "
                (c.samples) " images."
            }
            (metrics_table(&CLASSIFICATION_METRICS, values))
            div.charts {
                figure { h3 { "Confusion matrix" } (confusion(&c.confusion)) }
                figure {
                    h3 { "Reliability (ECE " (dec3(c.ece)) ")" }
                    (reliability(&c.reliability, c.ece))
                    figcaption {
                        "Bars: share correct per confidence bin; dots: mean confidence vs \
                         share correct, larger = more images. On the dashed line the model is \
                         calibrated; below it, overconfident."
                    }
                }
                figure { h3 { "F1 per class" } (f1_chart(c)) }
            }
            h3 { "Per-class metrics" }
            (per_class_table(c))
        }
    }
}

/// The F1-per-class chart (best first, the first [`MAX_BARS`] classes) and its caption.
fn f1_chart(c: &ClassificationSummary) -> Markup {
    let mut shown: Vec<_> = c.per_class.iter().take(MAX_BARS).collect();
    shown.sort_by(|a, b| nan_last(b.prf.f1).total_cmp(&nan_last(a.prf.f1)));
    let bars: Vec<Bar> = shown
        .iter()
        .map(|row| Bar {
            label: &row.label,
            value: row.prf.f1,
            tip: format!(
                "precision {}, recall {}, {} images",
                dec3(row.prf.precision),
                dec3(row.prf.recall),
                row.support
            ),
        })
        .collect();
    html! {
        (hbars(&bars, "F1"))
        @if c.per_class.len() > MAX_BARS {
            figcaption {
                "Best first. Showing the " (MAX_BARS) " classes with the most images of "
                (c.per_class.len()) "; the full list is in the table below."
            }
        } @else if !bars.is_empty() {
            figcaption { "Best first. F1 balances precision and recall; 1 = perfect." }
        }
    }
}

/// Precision, recall, F1, support and best threshold of every class.
fn per_class_table(c: &ClassificationSummary) -> Markup {
    if c.per_class.is_empty() {
        return html! { p.empty { "No classes." } };
    }
    html! {
        details open[c.per_class.len() <= OPEN_TABLE_ROWS] {
            summary { (c.per_class.len()) " classes (by number of images)" }
            div.wide { table {
                tr {
                    th { "Class" } th.num { "Precision" } th.num { "Recall" } th.num { "F1" }
                    th.num { "Images" } th.num { "Best threshold" }
                    th.num { "F1 at best threshold" }
                }
                @for row in &c.per_class {
                    tr {
                        td { (row.label) }
                        td.num { (dec3(row.prf.precision)) }
                        td.num { (dec3(row.prf.recall)) }
                        td.num { (dec3(row.prf.f1)) }
                        td.num { (row.support) }
                        td.num { (opt(row.best_threshold, dec3)) }
                        td.num { (opt(row.best_f1, dec3)) }
                    }
                }
            } }
        }
    }
}

/// The detection section.
fn detection(d: &DetectionSummary) -> Markup {
    let mut shown: Vec<_> = d.per_class.iter().collect();
    shown.sort_by(|a, b| nan_last(b.ap).total_cmp(&nan_last(a.ap)));
    let cut = shown.len() > MAX_BARS;
    if cut {
        // Keep the classes with the most ground truth, still best first.
        shown.sort_by_key(|r| Reverse(r.ground_truth));
        shown.truncate(MAX_BARS);
        shown.sort_by(|a, b| nan_last(b.ap).total_cmp(&nan_last(a.ap)));
    }
    let bars: Vec<Bar> = shown
        .iter()
        .map(|row| Bar {
            label: &row.label,
            value: row.ap,
            tip: format!("{} ground-truth boxes", row.ground_truth),
        })
        .collect();
    html! {
        section #detection {
            h2 { "Detection: are the boxes still right?" }
            (metrics_table(&DETECTION_METRICS, [d.images.to_string(), dec3(d.map), dec3(d.map50)]))
            h3 { "AP per class" }
            figure {
                (hbars(&bars, "AP"))
                @if cut {
                    figcaption {
                        "Showing the " (MAX_BARS) " classes with the most ground-truth boxes \
                         of " (d.per_class.len()) "."
                    }
                }
            }
        }
    }
}
