//! Classification metrics against scikit-learn on committed fixtures
//! (`tests/fixtures/make_fixtures.py` made `cases.json`; the sklearn and numpy versions
//! are recorded in it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use serde_json::Value;
use sightline_quality::{
    accuracy, best_f1_thresholds, expected_calibration_error, precision_recall_f1, roc_auc_ovr,
    top_k_accuracy, top_k_accuracy_from_lists, ClassMetrics, ConfusionMatrix, Predictions,
    DEFAULT_ECE_BINS,
};

const TOL: f64 = 1e-6;

fn close(ours: f64, want: &Value, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no number in fixture"));
    assert!(
        (ours - want).abs() <= TOL,
        "{what}: ours {ours}, sklearn {want}"
    );
}

fn labels(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn check_prf(m: &ClassMetrics, want: &Value, what: &str) {
    close(
        m.precision,
        &want["precision"],
        &format!("{what} precision"),
    );
    close(m.recall, &want["recall"], &format!("{what} recall"));
    close(m.f1, &want["f1"], &format!("{what} f1"));
}

/// One fixture case's inputs.
struct Case {
    name: String,
    n_classes: usize,
    y_true: Vec<usize>,
    y_pred: Vec<usize>,
    /// Exact float32 values stored as float64.
    scores: Vec<f32>,
    top_k_lists: Vec<Vec<usize>>,
}

impl Case {
    fn from_fixture(case: &Value) -> Case {
        Case {
            name: case["name"].as_str().unwrap().to_string(),
            n_classes: case["n_classes"].as_u64().unwrap() as usize,
            y_true: labels(&case["y_true"]),
            y_pred: labels(&case["y_pred"]),
            scores: case["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
            top_k_lists: case["top_k_lists"]
                .as_array()
                .unwrap()
                .iter()
                .map(labels)
                .collect(),
        }
    }

    fn predictions(&self) -> Predictions<'_> {
        Predictions::new(&self.y_true, &self.y_pred, self.n_classes)
            .unwrap()
            .with_scores(&self.scores)
            .unwrap()
    }
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/cases.json")).unwrap()
}

/// The fixture case called `name`.
fn named_case(fixture: &Value, name: &str) -> Value {
    fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .clone()
}

fn check_case(case: &Value) {
    let c = Case::from_fixture(case);
    let (name, n_classes, y_true, lists) = (&c.name, c.n_classes, &c.y_true, &c.top_k_lists);
    let want = &case["expected"];
    let p = c.predictions();

    close(accuracy(&p), &want["accuracy"], &format!("{name} accuracy"));
    for (k, v) in want["top_k"].as_object().unwrap() {
        let k: usize = k.parse().unwrap();
        close(
            top_k_accuracy(&p, k).unwrap(),
            v,
            &format!("{name} top-{k} accuracy"),
        );
        if k <= lists[0].len() {
            close(
                top_k_accuracy_from_lists(y_true, lists, n_classes, k).unwrap(),
                v,
                &format!("{name} top-{k} accuracy from lists"),
            );
        }
    }

    let cm = ConfusionMatrix::from_predictions(&p);
    let want_cm: Vec<Vec<u64>> = want["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(cm.to_rows(), want_cm, "{name} confusion matrix");

    let r = precision_recall_f1(&cm);
    let per_class = want["per_class"].as_array().unwrap();
    assert_eq!(r.per_class.len(), per_class.len());
    for (c, (m, w)) in r.per_class.iter().zip(per_class).enumerate() {
        check_prf(m, w, &format!("{name} class {c}"));
        assert_eq!(
            m.support,
            w["support"].as_u64().unwrap(),
            "{name} class {c} support"
        );
    }
    check_prf(&r.macro_avg, &want["macro"], &format!("{name} macro"));
    check_prf(&r.micro_avg, &want["micro"], &format!("{name} micro"));
    check_prf(
        &r.weighted_avg,
        &want["weighted"],
        &format!("{name} weighted"),
    );

    let auc = roc_auc_ovr(&p).unwrap();
    let want_auc = want["roc_auc"].as_array().unwrap();
    assert_eq!(auc.per_class.len(), want_auc.len());
    for (c, (ours, w)) in auc.per_class.iter().zip(want_auc).enumerate() {
        match ours {
            Some(a) => close(*a, w, &format!("{name} AUC class {c}")),
            None => assert!(
                w.is_null(),
                "{name} AUC class {c}: ours undefined, sklearn {w}"
            ),
        }
    }
    match auc.macro_avg {
        Some(a) => close(a, &want["roc_auc_macro"], &format!("{name} macro AUC")),
        None => assert!(
            want["roc_auc_macro"].is_null(),
            "{name} macro AUC undefined"
        ),
    }

    for (bins, w) in want["ece"].as_object().unwrap() {
        let bins: usize = bins.parse().unwrap();
        let cal = expected_calibration_error(&p, bins).unwrap();
        close(cal.ece, w, &format!("{name} ECE ({bins} bins)"));
        assert_eq!(
            cal.bins.iter().map(|b| b.count).sum::<usize>(),
            y_true.len()
        );
    }
    assert!(want["ece"].get(DEFAULT_ECE_BINS.to_string()).is_some());

    let best = best_f1_thresholds(&p).unwrap();
    let want_best = want["best_thresholds"].as_array().unwrap();
    assert_eq!(best.len(), want_best.len());
    for (c, (ours, w)) in best.iter().zip(want_best).enumerate() {
        match ours {
            None => assert!(
                w.is_null(),
                "{name} class {c}: ours no threshold, sklearn {w}"
            ),
            Some(b) => {
                let what = format!("{name} best threshold class {c}");
                close(f64::from(b.threshold), &w["threshold"], &what);
                close(b.f1, &w["f1"], &format!("{what} f1"));
                close(b.precision, &w["precision"], &format!("{what} precision"));
                close(b.recall, &w["recall"], &format!("{what} recall"));
            }
        }
    }
}

#[test]
fn matches_sklearn() {
    let fixture = fixture();
    assert!(fixture["sklearn"].as_str().unwrap().starts_with('1'));
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        check_case(case);
    }
}

/// sklearn's conventions on the edge cases, computed here (not read from the fixture):
/// a class never predicted has precision 0 (`zero_division = 0`), and a class absent
/// from `y_true` has no AUC, which leaves the macro AUC undefined.
#[test]
fn edge_cases_follow_sklearn_conventions() {
    let fixture = fixture();
    let ties = Case::from_fixture(&named_case(&fixture, "ties_never_predicted"));
    assert!(!ties.y_pred.contains(&3) && ties.y_true.contains(&3));
    let r = precision_recall_f1(&ConfusionMatrix::from_predictions(&ties.predictions()));
    let never = &r.per_class[3];
    assert_eq!((never.precision, never.recall, never.f1), (0.0, 0.0, 0.0));
    assert_eq!(never.support, 15);
    assert!(r.per_class[..3].iter().all(|m| m.precision > 0.0));

    let absent = Case::from_fixture(&named_case(&fixture, "absent_class"));
    assert!(!absent.y_true.contains(&2));
    let p = absent.predictions();
    let auc = roc_auc_ovr(&p).unwrap();
    assert_eq!(auc.per_class[2], None, "no positives: AUC undefined");
    assert!(auc
        .per_class
        .iter()
        .enumerate()
        .all(|(c, a)| (c == 2) == a.is_none()));
    assert_eq!(auc.macro_avg, None, "macro AUC undefined as in sklearn");
    let r = precision_recall_f1(&ConfusionMatrix::from_predictions(&p));
    assert_eq!(r.per_class[2].support, 0);
    close(
        r.macro_avg.f1,
        &named_case(&fixture, "absent_class")["expected"]["macro"]["f1"],
        "absent_class macro f1 counts the absent class",
    );
}
