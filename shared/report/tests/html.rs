//! The HTML page of a report, read back through an HTML parser as a browser would: it is
//! self-contained, text from the report is text (never markup), every chart has one shape
//! per value, the drift table lists alerts first, and degenerate reports render too.
//!
//! With `SIGHTLINE_HTML_OUT=<path>` set, `realistic_report_renders` also writes the
//! realistic page there, and with `SIGHTLINE_HTML_OUT_MINIMAL=<path>`,
//! `minimal_report_renders` writes the empty one (to look at with `scripts/screenshot.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use chrono::{NaiveDate, TimeZone, Utc};
use scraper::{ElementRef, Html, Selector};
use sightline_quality::{DriftMethod, DriftStatus, Thresholds};
use sightline_report::html::render;
use sightline_report::summary::{
    ApRow, ClassRow, ClassificationSummary, Confusion, DetectionSummary, DriftCheck, FloorCheck,
    Histogram, Prf, ReliabilityBin, Report, RetrainRequest, VersionRow, WindowSummary,
};

const CLASSES: [&str; 12] = [
    "tabby cat",
    "golden retriever",
    "salt & pepper shaker",
    "<script>alert(1)</script>",
    "coffee mug",
    "a&b \"q\"",
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

/// Classification against ground truth for [`CLASSES`]: mostly right, with confusions.
fn classification() -> ClassificationSummary {
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
    ClassificationSummary {
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
    }
}

/// Detection against ground-truth boxes, one class without any.
fn detection() -> DetectionSummary {
    DetectionSummary {
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
    }
}

/// Drift tests of every level: ok, warn, alert, and an infinite value.
fn drift_checks() -> Vec<DriftCheck> {
    vec![
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
    ]
}

/// A report as a retail catalog might produce it on a bad day.
fn realistic() -> Report {
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
        classification: Some(classification()),
        detection: Some(detection()),
        drift: drift_checks(),
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
        versions: vec![
            VersionRow {
                window: "current".into(),
                model: "efficientnet_lite0".into(),
                model_version: "1.0.0".into(),
                rows: 700,
                labelled: 650,
                correct: 400,
                accuracy: Some(400.0 / 650.0),
            },
            VersionRow {
                window: "current".into(),
                model: "efficientnet_lite0+head".into(),
                model_version: "1.0.0+20261121T050000Z-ab12cd34".into(),
                rows: 712,
                labelled: 640,
                correct: 600,
                accuracy: Some(600.0 / 640.0),
            },
        ],
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
        versions: vec![],
        notes: vec!["drift skipped: the reference window has no rows".into()],
    }
}

/// The page parsed as a browser would, after checking that the parser had nothing to
/// complain about and that the document starts and ends as it should.
fn parse(page: &str) -> Html {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    doc
}

fn all<'a>(root: impl Into<Scope<'a>>, selector: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(selector).unwrap();
    match root.into() {
        Scope::Doc(doc) => doc.select(&selector).collect(),
        Scope::Element(el) => el.select(&selector).collect(),
    }
}

/// Where [`all`] looks: the whole document or one element.
enum Scope<'a> {
    Doc(&'a Html),
    Element(ElementRef<'a>),
}

impl<'a> From<&'a Html> for Scope<'a> {
    fn from(doc: &'a Html) -> Self {
        Scope::Doc(doc)
    }
}

impl<'a> From<ElementRef<'a>> for Scope<'a> {
    fn from(el: ElementRef<'a>) -> Self {
        Scope::Element(el)
    }
}

/// The one element `selector` matches.
fn one<'a>(root: impl Into<Scope<'a>>, selector: &str) -> ElementRef<'a> {
    let found = all(root, selector);
    assert_eq!(found.len(), 1, "{selector}: {} matches", found.len());
    found[0]
}

/// The text of `el` as a reader sees it: text nodes joined, whitespace collapsed.
fn text(el: ElementRef) -> String {
    el.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn texts<'a>(root: impl Into<Scope<'a>>, selector: &str) -> Vec<String> {
    all(root, selector).into_iter().map(text).collect()
}

/// The classes of `el`, sorted.
fn classes<'a>(el: ElementRef<'a>) -> Vec<&'a str> {
    let mut classes: Vec<&str> = el.value().classes().collect();
    classes.sort_unstable();
    classes
}

/// The cells of every data row (header rows, which hold `th`, left out) of `table`.
fn rows(table: ElementRef) -> Vec<Vec<ElementRef>> {
    all(table, "tr")
        .into_iter()
        .map(|tr| all(tr, "td"))
        .filter(|cells| !cells.is_empty())
        .collect()
}

fn row_texts(table: ElementRef) -> Vec<Vec<String>> {
    rows(table)
        .into_iter()
        .map(|cells| cells.into_iter().map(text).collect())
        .collect()
}

/// The value cell of the metrics-table row named `name` under `section`.
fn metric(doc: &Html, section: &str, name: &str) -> String {
    let table = one(doc, &format!("{section} > table"));
    let row = row_texts(table)
        .into_iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no metric {name}"));
    row[1].clone()
}

/// Nothing that would load from outside the document: no scripts, style sheets, images,
/// frames or links, no `src`/`href` anywhere, no `url(` or `@import` in the style.
fn assert_self_contained(doc: &Html, page: &str) {
    let loaders = "script, link, img, iframe, object, embed, image, use, [src], [href]";
    assert!(all(doc, loaders).is_empty(), "page loads something");
    assert_eq!(all(doc, "style").len(), 1);
    let style = text(one(doc, "head > style"));
    assert!(style.contains(".badge") && style.contains(".st-alert"));
    for bad in ["url(", "@import"] {
        assert!(!style.contains(bad), "style has {bad}");
    }
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("http://") && !lower.contains("https://"));
}

/// Every chart's shapes are siblings (no shape parsed into another because a tag was left
/// open; a shape holds at most its `<title>`) and no coordinate is NaN or infinite.
fn assert_svgs_sound(doc: &Html) {
    for shape in all(doc, "svg rect, svg line, svg circle, svg text") {
        for child in shape.child_elements() {
            assert_eq!(
                child.value().name(),
                "title",
                "{} inside {}",
                child.html(),
                shape.html()
            );
        }
    }
    for el in all(doc, "svg, svg *") {
        for (name, value) in el.value().attrs() {
            assert!(
                !value.contains("NaN") && !value.contains("inf"),
                "bad number {name}={value}"
            );
        }
    }
}

/// The chart `<svg>` whose label is `label`.
fn chart<'a>(doc: &'a Html, label: &str) -> ElementRef<'a> {
    one(doc, &format!("svg[aria-label=\"{label}\"]"))
}

#[test]
fn realistic_report_renders() {
    let report = realistic();
    let page = render(&report);
    if let Some(path) = std::env::var_os("SIGHTLINE_HTML_OUT") {
        std::fs::write(&path, &page).unwrap();
    }
    assert!(page.len() < 200_000, "page is {} bytes", page.len());
    let doc = parse(&page);
    assert_self_contained(&doc, &page);
    assert_svgs_sound(&doc);
    assert_eq!(
        text(one(&doc, "head > title")),
        "Sightline quality report – retail – 2026-11-21"
    );

    // Status badge, verdict, retrain callout; text from the report is text, not markup.
    let badge = one(&doc, "header.top .badge.big");
    assert_eq!(text(badge), "ALERT");
    assert!(classes(badge).contains(&"st-alert"));
    assert!(text(one(&doc, "header.top .verdict")).starts_with("Action needed"));
    assert_eq!(
        texts(&doc, "header.top > .headline p.meta b"),
        ["mobilenet_v3_large", "2026-10-02 & <beta>"]
    );
    let callout = one(&doc, "header.top .callout");
    assert_eq!(text(one(callout, "h3")), "Retraining was requested");
    assert_eq!(
        texts(callout, "li"),
        report.retrain.as_ref().unwrap().reasons
    );
    assert_eq!(texts(&doc, ".window code"), ["dates=-7..-1", "dates=0..0"]);
    assert_eq!(texts(&doc, "#notes li"), report.notes);
    assert!(text(one(&doc, "footer")).starts_with("Generated by Sightline"));

    // Floors: the failed one red.
    let floors = rows(one(&doc, "#floors table"));
    let floor_rows: Vec<(String, String, Vec<&str>)> = floors
        .iter()
        .map(|r| (text(r[0]), text(r[3]), classes(r[3])))
        .collect();
    assert_eq!(floor_rows[0].0, "Top-1 accuracy");
    assert_eq!(floor_rows[0].1, "FAIL");
    assert!(floor_rows[0].2.contains(&"st-alert"));
    assert_eq!(floor_rows[1].1, "PASS");
    assert!(floor_rows[1].2.contains(&"st-ok"));

    // The classification metrics.
    assert_eq!(metric(&doc, "#classification", "Top-1 accuracy"), "64.1%");
    assert_eq!(metric(&doc, "#classification", "ROC AUC (macro)"), "0.931");
    assert_eq!(metric(&doc, "#detection", "mAP@0.5"), "0.655");
    assert_eq!(
        texts(&doc, "#classification figure > h3"),
        [
            "Confusion matrix",
            "Reliability (ECE 0.043)",
            "F1 per class"
        ]
    );
}

#[test]
fn drift_table_lists_alerts_first_with_status_colours() {
    let doc = parse(&render(&realistic()));
    let table = one(&doc, "#drift table");
    let got: Vec<Vec<String>> = row_texts(table)
        .into_iter()
        .map(|r| vec![r[0].clone(), r[1].clone(), r[2].clone(), r[5].clone()])
        .collect();
    // Alert before warn before ok; within a status the report's order is kept.
    let want = [
        ["brightness", "Wasserstein (normed)", "0.338", "ALERT"],
        ["embedding", "MMD²", "–", "ALERT"], // an infinite value shows as a dash
        ["top1_class", "Jensen–Shannon distance", "0.162", "WARN"],
        ["top1_class", "PSI", "0.0410", "OK"],
        ["top1_confidence", "Kolmogorov–Smirnov D", "0.0721", "OK"],
        ["embedding", "Embedding mean shift", "0.0123", "OK"],
    ];
    assert_eq!(got, want.map(|r| r.map(str::to_string)));
    for row in rows(table) {
        let class = match text(row[5]).as_str() {
            "ALERT" => "st-alert",
            "WARN" => "st-warn",
            _ => "st-ok",
        };
        assert_eq!(classes(row[5]), [class, "status"]);
        assert_eq!(text(row[6]), "4812");
    }
}

#[test]
fn charts_have_one_shape_per_value() {
    let report = realistic();
    let doc = parse(&render(&report));
    // Three histograms, the confusion matrix, reliability, F1 and AP.
    assert_eq!(all(&doc, "svg").len(), 3 + 1 + 1 + 1 + 1);

    // Histograms: a legend swatch per series plus a bar per series and bin, in cards that
    // carry the feature's worst drift status.
    let cards = all(&doc, "#histograms .card");
    assert_eq!(cards.len(), 3);
    for (card, h) in cards.iter().zip(&report.histograms) {
        let svg = one(*card, "svg");
        assert_eq!(
            svg.attr("aria-label"),
            Some(&*format!("Histogram of {}", h.feature))
        );
        assert_eq!(all(svg, "rect").len(), 2 + 2 * h.reference.len());
        assert_eq!(all(svg, "rect > title").len(), 2 * h.reference.len());
    }
    assert_eq!(texts(cards[0], "h3 .badge"), ["OK"]);
    assert_eq!(texts(cards[1], "h3 .badge.st-alert"), ["ALERT"]);
    assert!(
        all(cards[2], ".badge").is_empty(),
        "width_px has no drift test"
    );

    // Confusion matrix: a cell per pair of classes, counts in the non-empty ones.
    let confusion = chart(&doc, "Confusion matrix");
    let c = report.classification.as_ref().unwrap();
    assert_eq!(all(confusion, "g > rect").len(), 12 * 12);
    let nonzero = c
        .confusion
        .matrix
        .iter()
        .flatten()
        .filter(|&&v| v > 0)
        .count();
    assert_eq!(all(confusion, "g > text").len(), nonzero);
    let coffee_to_espresso = c.confusion.matrix[4][8].to_string();
    assert!(texts(confusion, "g > text").contains(&coffee_to_espresso));
    let caption = text(one(&doc, "#classification figure:first-child figcaption"));
    assert!(caption.ends_with("Showing 12 of 37 classes (those with the most images and errors)."));

    // F1: a bar per class, best first; AP: a bar per detector class.
    let f1 = chart(&doc, "F1 per class");
    assert_eq!(all(f1, "g > rect").len(), CLASSES.len());
    let mut best: Vec<_> = c.per_class.iter().collect();
    best.sort_by(|a, b| b.prf.f1.total_cmp(&a.prf.f1));
    let first = text(one(f1, "g:first-of-type > title"));
    assert!(
        first.starts_with(&format!("{}: F1 ", best[0].label)),
        "{first}"
    );
    assert_eq!(all(chart(&doc, "AP per class"), "g > rect").len(), 4);

    // Reliability: the diagonal, and a bar and a dot per bin with images.
    let reliability = chart(&doc, "Reliability diagram, ECE 0.043");
    let used = c.reliability.iter().filter(|b| b.count > 0).count();
    assert_eq!(all(reliability, "circle").len(), used);
    assert_eq!(all(reliability, "rect").len(), used);
    assert_eq!(all(reliability, "line[stroke-dasharray]").len(), 1);
}

#[test]
fn labels_are_escaped_text() {
    let mut report = realistic();
    report.histograms[0].feature = "x\" onload=\"alert(1)".into();
    let page = render(&report);
    let doc = parse(&page);
    assert!(all(&doc, "script").is_empty());
    assert!(all(&doc, "[onload]").is_empty());
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // The per-class table: one row per class, each label exactly as given.
    let table = one(&doc, "#classification details[open] table");
    let labels: Vec<String> = rows(table).into_iter().map(|r| text(r[0])).collect();
    assert_eq!(labels, CLASSES);
    // As chart text (cut) and in tooltips and attributes (whole).
    let f1 = chart(&doc, "F1 per class");
    assert!(texts(f1, "g > text").contains(&"a&b \"q\"".to_string()));
    assert!(texts(f1, "g > title")
        .iter()
        .any(|t| t.starts_with("<script>alert(1)</script>: F1 ")));
    let confusion = chart(&doc, "Confusion matrix");
    assert!(texts(confusion, "title")
        .iter()
        .any(|t| t.starts_with("true salt & pepper shaker → predicted a&b \"q\": ")));
    assert!(texts(&doc, "#detection title")
        .iter()
        .any(|t| t.starts_with("price <tag>: AP –")));
    let card = one(&doc, "#histograms .card:first-child");
    assert_eq!(text(one(card, "h3 span")), "x\" onload=\"alert(1)");
    assert_eq!(
        one(card, "svg").attr("aria-label"),
        Some("Histogram of x\" onload=\"alert(1)")
    );
}

#[test]
fn minimal_report_renders() {
    let report = minimal();
    let page = render(&report);
    if let Some(path) = std::env::var_os("SIGHTLINE_HTML_OUT_MINIMAL") {
        std::fs::write(&path, &page).unwrap();
    }
    let doc = parse(&page);
    assert_self_contained(&doc, &page);
    let badge = one(&doc, "header.top .badge.big");
    assert_eq!(text(badge), "OK");
    assert!(classes(badge).contains(&"st-ok"));
    assert!(text(one(&doc, ".verdict")).starts_with("All clear"));
    assert_eq!(texts(&doc, "header.top > .headline p.meta b"), ["–", "–"]);
    assert_eq!(texts(&doc, ".window h3 .badge.st-warn"), ["empty", "empty"]);
    assert!(all(&doc, ".callout, #floors, #histograms, #detection, svg").is_empty());
    assert_eq!(text(one(&doc, "#drift .empty")), "No drift tests were run.");
    assert!(all(&doc, "#drift table").is_empty());
    assert!(text(one(&doc, "#classification .empty")).starts_with("No classification data"));
    assert_eq!(
        texts(&doc, "#notes li"),
        ["drift skipped: the reference window has no rows"]
    );
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
    let page = render(&report);
    let doc = parse(&page);
    assert_self_contained(&doc, &page);
    assert_svgs_sound(&doc);
    assert_eq!(text(one(&doc, "header.top .badge.big.st-warn")), "WARN");
    assert!(all(&doc, ".callout").is_empty());
    assert_eq!(metric(&doc, "#classification", "Top-1 accuracy"), "–");
    assert_eq!(metric(&doc, "#classification", "Top-5 accuracy"), "–");
    assert_eq!(text(one(&doc, "#classification > p.empty")), "No classes.");
    assert_eq!(
        all(&doc, "#classification figure:last-child p.empty").len(),
        1
    );
    assert_eq!(all(chart(&doc, "Confusion matrix"), "g > rect").len(), 9);
    let reliability = chart(&doc, "Reliability diagram, ECE –");
    assert!(all(reliability, "circle").is_empty());
    assert!(texts(reliability, "text").contains(&"no predictions".to_string()));
    let cards = all(&doc, "#histograms .card");
    assert_eq!(text(one(cards[3], "p.empty")), "No values.");
    // Bad edges: bins are numbered instead of labelled with their range.
    let bad = one(cards[4], "svg");
    assert!(texts(bad, "rect > title").contains(&"reference, bin 1: –".to_string()));
    let ap = chart(&doc, "AP per class");
    assert_eq!(all(ap, "g > rect").len(), 40);
    assert_eq!(
        text(one(&doc, "#detection figcaption")),
        "Showing the 40 classes with the most ground-truth boxes of 60."
    );
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
    let doc = parse(&render(&report));
    assert_svgs_sound(&doc);
    let confusion = chart(&doc, "Confusion matrix");
    assert_eq!(all(confusion, "g > rect").len(), n * n);
    assert!(all(confusion, "g > text").is_empty());
    // Past 30 classes, empty cells have no tooltip.
    let empty = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| i != j && i * j % 3 == 0)
        .count();
    assert_eq!(all(confusion, "g > title").len(), n * n - empty);
    let caption = text(one(&doc, "#classification figure:first-child figcaption"));
    assert!(caption.contains("hover a cell for its count"));
}

#[test]
fn model_versions_are_shown_side_by_side() {
    let page = scraper::Html::parse_document(&render(&realistic()));
    let rows = scraper::Selector::parse("#versions tr").unwrap();
    let text: Vec<String> = page
        .select(&rows)
        .map(|r| r.text().collect::<String>())
        .collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[2].contains("1.0.0+20261121T050000Z-ab12cd34"),
        "{text:?}"
    );
    assert!(text[2].contains("0.938"), "{text:?}");
    let minimal = scraper::Html::parse_document(&render(&minimal()));
    assert_eq!(minimal.select(&rows).count(), 0, "one version: no table");
}
