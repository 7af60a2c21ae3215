//! The HTML page of a report: self-contained, escaped, every chart present, alerts first,
//! and the degenerate report (no data at all) renders too.
//!
//! With `SIGHTLINE_HTML_OUT=<path>` set, `realistic_report_renders` also writes the
//! realistic page there, and with `SIGHTLINE_HTML_OUT_MINIMAL=<path>`,
//! `minimal_report_renders` writes the empty one (to look at with `scripts/screenshot.sh`).

use chrono::{NaiveDate, TimeZone, Utc};
use sightline_quality::{DriftMethod, DriftStatus, Thresholds};
use sightline_report::html::render;
use sightline_report::summary::{
    ApRow, ClassRow, ClassificationSummary, Confusion, DetectionSummary, DriftCheck, FloorCheck,
    Histogram, Prf, ReliabilityBin, Report, RetrainRequest, WindowSummary,
};

const CLASSES: [&str; 12] = [
    "tabby cat",
    "golden retriever",
    "salt & pepper shaker",
    "<script>alert(1)</script>",
    "coffee mug",
    "\"quoted\" label",
    "bicycle",
    "red fox",
    "espresso machine",
    "Granny Smith apple",
    "a very long class name that needs cutting",
    "it's fine",
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn prf(precision: f64, recall: f64) -> Prf {
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Prf {
        precision,
        recall,
        f1,
    }
}

fn drift(feature: &str, method: DriftMethod, value: f64, warn: f64, alert: f64) -> DriftCheck {
    let thresholds = Thresholds { warn, alert };
    DriftCheck {
        feature: feature.to_string(),
        method,
        value,
        thresholds,
        status: thresholds.status(value),
        n_reference: 4_812,
        n_current: 733,
    }
}

/// A normal-ish distribution over `bins` bins centred at `centre` (0–1), as fractions.
fn bell(bins: usize, centre: f64, width: f64) -> Vec<f64> {
    let raw: Vec<f64> = (0..bins)
        .map(|i| {
            let x = (i as f64 + 0.5) / bins as f64;
            (-((x - centre) / width).powi(2) / 2.0).exp()
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| v / sum).collect()
}

fn histogram(feature: &str, lo: f64, hi: f64, bins: usize, c_ref: f64, c_cur: f64) -> Histogram {
    Histogram {
        feature: feature.to_string(),
        edges: (0..=bins)
            .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
            .collect(),
        reference: bell(bins, c_ref, 0.18),
        current: bell(bins, c_cur, 0.15),
    }
}

/// A report as a retail catalog might produce it on a bad day.
fn realistic() -> Report {
    let n = CLASSES.len();
    // Confusion: mostly diagonal, a few systematic confusions.
    let mut matrix = vec![vec![0u64; n]; n];
    for (i, row) in matrix.iter_mut().enumerate() {
        let support = 140 - 9 * i as u64;
        row[i] = support * (70 + (i as u64 * 7) % 25) / 100;
        let rest = support - row[i];
        row[(i + 1) % n] += rest / 2;
        row[(i + 5) % n] += rest / 3;
        row[(i + 7) % n] += rest - rest / 2 - rest / 3;
    }
    matrix[4][8] += 31; // coffee mug → espresso machine
    let per_class: Vec<ClassRow> = CLASSES
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let support: u64 = matrix[i].iter().sum();
            let predicted: u64 = matrix.iter().map(|r| r[i]).sum();
            let tp = matrix[i][i] as f64;
            ClassRow {
                class_id: i as i32 * 3 + 1,
                label: label.to_string(),
                prf: prf(tp / predicted as f64, tp / support as f64),
                support: support as usize,
                best_threshold: if i == 11 {
                    None
                } else {
                    Some(0.3 + 0.04 * i as f64)
                },
                best_f1: if i == 11 {
                    None
                } else {
                    Some(0.9 - 0.02 * i as f64)
                },
            }
        })
        .collect();
    let reliability: Vec<ReliabilityBin> = (0..15)
        .map(|i| {
            let lower = i as f64 / 15.0;
            let upper = (i + 1) as f64 / 15.0;
            let confidence = (lower + upper) / 2.0;
            let count = if i < 3 { 0 } else { 5 + (i * i * 4) };
            ReliabilityBin {
                lower,
                upper,
                count,
                confidence,
                accuracy: if count == 0 {
                    0.0
                } else {
                    (confidence - 0.08 * confidence.powi(2)).clamp(0.0, 1.0)
                },
            }
        })
        .collect();
    let generated_at = Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 12).unwrap();
    Report {
        catalog: "retail".into(),
        generated_at,
        date: date(2026, 11, 21),
        model: "mobilenet_v3_large".into(),
        model_version: "2026-10-02 & <beta>".into(),
        reference: WindowSummary {
            spec: "dates=-7..-1".into(),
            rows: 4_830,
            errors: 18,
            labelled: 0,
            first_date: Some(date(2026, 11, 14)),
            last_date: Some(date(2026, 11, 20)),
        },
        current: WindowSummary {
            spec: "dates=0..0".into(),
            rows: 1_412,
            errors: 8,
            labelled: 1_290,
            first_date: Some(date(2026, 11, 21)),
            last_date: Some(date(2026, 11, 21)),
        },
        classification: Some(ClassificationSummary {
            samples: 1_290,
            classes: n,
            accuracy: 0.6412,
            top5_accuracy: Some(0.9123),
            macro_avg: prf(0.655, 0.641),
            micro_avg: prf(0.6412, 0.6412),
            weighted_avg: prf(0.662, 0.6412),
            roc_auc_macro: Some(0.9312),
            ece: 0.0431,
            per_class,
            confusion: Confusion {
                labels: CLASSES.iter().map(|s| s.to_string()).collect(),
                matrix,
                total_classes: 37,
            },
            reliability,
        }),
        detection: Some(DetectionSummary {
            images: 212,
            map: 0.412,
            map50: 0.655,
            per_class: vec![
                ApRow {
                    label: "person".into(),
                    ap: 0.55,
                    ground_truth: 410,
                },
                ApRow {
                    label: "shopping cart & basket".into(),
                    ap: 0.31,
                    ground_truth: 96,
                },
                ApRow {
                    label: "price <tag>".into(),
                    ap: f64::NAN,
                    ground_truth: 0,
                },
                ApRow {
                    label: "shelf".into(),
                    ap: 0.62,
                    ground_truth: 188,
                },
            ],
        }),
        drift: vec![
            drift("top1_class", DriftMethod::Psi, 0.041, 0.1, 0.25),
            drift("top1_class", DriftMethod::JensenShannon, 0.162, 0.1, 0.2),
            drift(
                "top1_confidence",
                DriftMethod::KolmogorovSmirnov,
                0.0721,
                0.1,
                0.2,
            ),
            drift("brightness", DriftMethod::Wasserstein, 0.3384, 0.1, 0.2),
            drift("embedding", DriftMethod::MeanShift, 0.0123, 0.05, 0.1),
            drift("embedding", DriftMethod::Mmd, f64::INFINITY, 0.01, 0.05),
        ],
        histograms: vec![
            histogram("top1_confidence", 0.05, 1.0, 10, 0.7, 0.62),
            histogram("brightness", 12.0, 241.5, 12, 0.5, 0.3),
            histogram("width_px", 320.0, 4032.0, 8, 0.6, 0.6),
        ],
        floors: vec![
            FloorCheck {
                metric: "accuracy".into(),
                value: 0.6412,
                floor: 0.7,
                passed: false,
            },
            FloorCheck {
                metric: "map".into(),
                value: 0.412,
                floor: 0.2,
                passed: true,
            },
        ],
        status: DriftStatus::Alert,
        retrain: Some(RetrainRequest {
            kind: "retrain_request".into(),
            catalog: "retail".into(),
            model: "mobilenet_v3_large".into(),
            model_version: "2026-10-02 & <beta>".into(),
            reasons: vec![
                "accuracy 0.6412 is below the floor 0.7000".into(),
                "brightness drift: wasserstein_normed = 0.3384 reached alert (0.2000)".into(),
                "embedding drift: mmd = inf reached alert (0.0500)".into(),
            ],
            report_key: "reports/catalog=retail/date=2026-11-21/report-abc.json".into(),
            requested_at: generated_at,
        }),
        notes: vec![
            "labels matched 1290 of 1412 label rows; 122 keys have no result & were skipped".into(),
            "reference window <dates=-7..-1> had 18 errors".into(),
        ],
    }
}

fn minimal() -> Report {
    let empty = |spec: &str| WindowSummary {
        spec: spec.into(),
        rows: 0,
        errors: 0,
        labelled: 0,
        first_date: None,
        last_date: None,
    };
    Report {
        catalog: "security".into(),
        generated_at: Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).unwrap(),
        date: date(2026, 11, 21),
        model: String::new(),
        model_version: String::new(),
        reference: empty("dates=-7..-1"),
        current: empty("dates=0..0"),
        classification: None,
        detection: None,
        drift: Vec::new(),
        histograms: Vec::new(),
        floors: Vec::new(),
        status: DriftStatus::Ok,
        retrain: None,
        notes: vec!["drift skipped: the reference window has no rows".into()],
    }
}

/// Nothing that would load from outside the document.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "http://", "https://", "src=", "<script", "<link", "url(", "@import",
    ] {
        assert!(!lower.contains(bad), "page contains {bad:?}");
    }
}

/// Every `<svg>…</svg>` fragment has balanced tags (a cheap XML well-formedness check) and
/// no unescaped `&`.
fn svg_fragments(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("unclosed <svg>") + start + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn assert_balanced(fragment: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = fragment;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap();
            stack.push(name);
        }
        let text = &rest[..open];
        assert_entities(text);
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags {stack:?}");
}

/// Every `&` in `text` starts a character reference.
fn assert_entities(text: &str) {
    for (i, _) in text.match_indices('&') {
        let tail = &text[i + 1..];
        let end = tail.find(';').expect("'&' without ';'");
        let name = &tail[..end];
        assert!(
            ["amp", "lt", "gt", "quot", "#39"].contains(&name),
            "raw '&' before {tail:.20}"
        );
    }
}

#[test]
fn realistic_report_renders() {
    let report = realistic();
    let html = render(&report);
    if let Some(path) = std::env::var_os("SIGHTLINE_HTML_OUT") {
        std::fs::write(&path, &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_self_contained(&html);

    // The special names are escaped, never raw.
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("salt &amp; pepper shaker"));
    assert!(!html.contains("salt & pepper"));
    assert!(html.contains("&quot;quoted&quot; label"));
    assert!(html.contains("2026-10-02 &amp; &lt;beta&gt;"));
    assert!(html.contains("price &lt;tag&gt;"));
    assert!(html.contains("had 18 errors"));
    assert!(!html.contains("<beta>") && !html.contains("<tag>") && !html.contains("<dates"));

    // Status badge, retrain callout.
    assert!(html.contains("class=\"badge big st-alert\""));
    assert!(html.contains(">ALERT</div>"));
    assert!(html.contains("Retraining was requested"));
    assert!(html.contains("accuracy 0.6412 is below the floor 0.7000"));

    // Drift table: human method names, alert rows before warn before ok.
    for name in [
        "PSI",
        "Jensen–Shannon distance",
        "Kolmogorov–Smirnov D",
        "Wasserstein (normed)",
        "Embedding mean shift",
        "MMD²",
    ] {
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}");
    }
    let drift = &html[html.find("id=\"drift\"").unwrap()..];
    let drift = &drift[..drift.find("</section>").unwrap()];
    let first_alert = drift.find(">ALERT</td>").unwrap();
    let last_alert = drift.rfind(">ALERT</td>").unwrap();
    let first_warn = drift.find(">WARN</td>").unwrap();
    let last_warn = drift.rfind(">WARN</td>").unwrap();
    let first_ok = drift.find(">OK</td>").unwrap();
    assert!(last_alert < first_warn && last_warn < first_ok);
    // Within a status, the input order is kept: brightness before embedding (both alert).
    assert!(drift.find("<td>brightness</td>").unwrap() < drift.find("<td>embedding</td>").unwrap());
    assert!(first_alert < first_warn);
    assert!(drift.contains("<td class=\"num\">0.338</td>"));
    assert!(
        drift.contains("<td class=\"num\">–</td>"),
        "infinite value shows as a dash"
    );

    // One chart per histogram, the confusion matrix, F1, reliability and AP.
    let svgs = svg_fragments(&html);
    assert_eq!(svgs.len(), 3 + 1 + 1 + 1 + 1, "svg count");
    assert_eq!(html.matches("<svg").count(), svgs.len());
    for svg in &svgs {
        assert_balanced(svg);
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "bad number in svg"
        );
    }
    assert!(html.contains("Confusion matrix"));
    assert!(html.contains("Showing 12 of 37 classes"));
    assert!(html.contains("Reliability (ECE 0.043)"));
    assert!(html.contains("stroke-dasharray"));
    assert!(html.contains("Top-1 accuracy</td><td class=\"num\">64.1%"));
    assert!(html.contains("FAIL"));
    assert!(html.contains("<details open>"));
    assert!(html.contains("mAP@0.5"));
    assert!(html.contains("Generated by Sightline"));
    assert!(html.len() < 200_000, "page is {} bytes", html.len());
}

#[test]
fn minimal_report_renders() {
    let report = minimal();
    let html = render(&report);
    if let Some(path) = std::env::var_os("SIGHTLINE_HTML_OUT_MINIMAL") {
        std::fs::write(&path, &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    assert!(html.contains("No classification data"));
    assert!(html.contains("No drift tests were run"));
    assert!(html.contains(">OK</div>"));
    assert!(!html.contains("<svg"));
    assert!(!html.contains("Retraining was requested"));
    assert!(html.contains("drift skipped: the reference window has no rows"));
}

#[test]
fn degenerate_values_render() {
    let mut report = realistic();
    report.status = DriftStatus::Warn;
    report.retrain = None;
    let c = report.classification.as_mut().unwrap();
    c.accuracy = f64::NAN;
    c.top5_accuracy = None;
    c.roc_auc_macro = None;
    c.ece = f64::NAN;
    c.reliability.clear();
    c.per_class.truncate(0);
    c.confusion.labels.truncate(3);
    c.confusion.matrix = vec![vec![0; 2]]; // malformed: too few rows and columns
    report.histograms.push(Histogram {
        feature: "empty".into(),
        edges: vec![],
        reference: vec![],
        current: vec![],
    });
    report.histograms.push(Histogram {
        feature: "bad".into(),
        edges: vec![0.0, f64::NAN, 2.0],
        reference: vec![f64::NAN, 1.0],
        current: vec![0.5, f64::INFINITY],
    });
    // 60 detector classes: the chart is cut at 40.
    report.detection.as_mut().unwrap().per_class = (0..60)
        .map(|i| ApRow {
            label: format!("class {i}"),
            ap: i as f64 / 60.0,
            ground_truth: i,
        })
        .collect();
    let html = render(&report);
    assert_self_contained(&html);
    assert!(html.contains(">WARN</div>"));
    assert!(html.contains("Top-1 accuracy</td><td class=\"num\">–"));
    assert!(html.contains("Showing the 40 classes with the most ground-truth boxes of 60"));
    for svg in svg_fragments(&html) {
        assert_balanced(svg);
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "bad number in svg"
        );
    }
}

#[test]
fn large_confusion_matrix_has_no_counts() {
    let mut report = realistic();
    let n = 45;
    let labels: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let matrix: Vec<Vec<u64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| if i == j { 50 } else { (i * j % 3) as u64 })
                .collect()
        })
        .collect();
    let c = report.classification.as_mut().unwrap();
    c.confusion = Confusion {
        labels,
        matrix,
        total_classes: n,
    };
    let html = render(&report);
    assert!(html.contains("hover a cell for its count"));
    let svg = svg_fragments(&html)
        .into_iter()
        .find(|s| s.contains("Confusion matrix"))
        .unwrap();
    assert_balanced(svg);
    assert!(!svg.contains(">50</text>"));
}
