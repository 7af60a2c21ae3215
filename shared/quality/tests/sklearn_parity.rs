//! Classification metrics against scikit-learn on committed fixtures
//! (`tests/fixtures/make_fixtures.py` made `cases.json`; the sklearn and numpy versions
//! are recorded in it).

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

fn check_case(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let n_classes = case["n_classes"].as_u64().unwrap() as usize;
    let y_true = labels(&case["y_true"]);
    let y_pred = labels(&case["y_pred"]);
    // Exact float32 values stored as float64.
    let scores: Vec<f32> = case["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let lists: Vec<Vec<usize>> = case["top_k_lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(labels)
        .collect();
    let want = &case["expected"];
    let p = Predictions::new(&y_true, &y_pred, n_classes)
        .unwrap()
        .with_scores(&scores)
        .unwrap();

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
                top_k_accuracy_from_lists(&y_true, &lists, n_classes, k).unwrap(),
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
    let fixture: Value = serde_json::from_str(include_str!("fixtures/cases.json")).unwrap();
    assert!(fixture["sklearn"].as_str().unwrap().starts_with('1'));
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        check_case(case);
    }
}

#[test]
fn fixture_covers_the_edge_cases() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/cases.json")).unwrap();
    let case = |name: &str| {
        fixture["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    // A class never predicted: precision 0 by zero_division.
    let ties = case("ties_never_predicted");
    assert!(!labels(&ties["y_pred"]).contains(&3));
    assert_eq!(ties["expected"]["per_class"][3]["precision"], 0.0);
    // A class absent from y_true: undefined AUC, macro AUC undefined as in sklearn.
    let absent = case("absent_class");
    assert!(!labels(&absent["y_true"]).contains(&2));
    assert!(absent["expected"]["roc_auc"][2].is_null());
    assert!(absent["expected"]["roc_auc_macro"].is_null());
}
