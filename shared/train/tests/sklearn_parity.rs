//! The softmax head against scikit-learn's `LogisticRegression` on committed fixtures
//! (`fixtures/make_softmax_fixture.py` wrote `softmax_cases.json`; the sklearn and numpy
//! versions are recorded in it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use ndarray::{Array1, Array2};
use serde_json::Value;
use sightline_train::head::{standard_scaler, LinearHead};
use sightline_train::{class_weights, fit_softmax, FitOptions};

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let cols = rows[0].len();
    Array2::from_shape_vec((rows.len(), cols), rows.concat()).unwrap()
}

fn vector(v: &Value) -> Array1<f64> {
    Array1::from(serde_json::from_value::<Vec<f64>>(v.clone()).unwrap())
}

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/softmax_cases.json");
    let fixture: Value = serde_json::from_str(text).unwrap();
    fixture["cases"].as_array().unwrap().clone()
}

/// Fits the case the way `train_head` does (scaler, weights, L-BFGS), tightly converged.
fn fit_case(case: &Value) -> (LinearHead, Array2<f64>) {
    let x = matrix(&case["x"]);
    let y: Vec<usize> = serde_json::from_value(case["y"].clone()).unwrap();
    let classes = case["classes"].as_u64().unwrap() as usize;
    let (mean, scale) = standard_scaler(x.view());
    let xs = (&x - &mean) / &scale;
    let weights = if case["balanced"].as_bool().unwrap() {
        class_weights(&y, classes)
    } else {
        vec![1.0; y.len()]
    };
    let options = FitOptions {
        c: case["c"].as_f64().unwrap(),
        tol_grad: 1e-10,
        max_iter: 5000,
        ..FitOptions::default()
    };
    let fit = fit_softmax(xs.view(), &y, classes, &weights, &options, None).unwrap();
    assert_eq!(fit.stop, "converged", "{}", case["name"]);
    let head = LinearHead {
        classes: (0..classes).map(|c| c.to_string()).collect(),
        mean,
        scale,
        weights: fit.weights,
        bias: fit.bias,
    };
    (head, x)
}

fn assert_close(ours: f64, theirs: f64, tol: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= tol,
        "{what}: ours {ours}, sklearn {theirs}"
    );
}

#[test]
fn the_scaler_matches_standard_scaler() {
    for case in cases() {
        let (mean, scale) = standard_scaler(matrix(&case["x"]).view());
        for (j, (m, s)) in mean.iter().zip(&scale).enumerate() {
            assert_close(*m, vector(&case["mean"])[j], 1e-9, "mean");
            assert_close(*s, vector(&case["scale"])[j], 1e-9, "scale");
        }
    }
}

#[test]
fn probabilities_match_logistic_regression() {
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_string();
        let (head, x) = fit_case(&case);
        let ours = head.probabilities(x.view());
        let theirs = matrix(&case["proba"]);
        assert_eq!(ours.dim(), theirs.dim(), "{name}");
        let worst = (&ours - &theirs)
            .mapv(f64::abs)
            .fold(0.0f64, |m, &v| m.max(v));
        assert!(
            worst < 1e-5,
            "{name}: largest probability difference {worst}"
        );
    }
}

#[test]
fn coefficients_match_logistic_regression() {
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_string();
        let (head, _) = fit_case(&case);
        let coef = matrix(&case["coef"]);
        let intercept = vector(&case["intercept"]);
        if head.classes.len() == 2 {
            // sklearn's one vector is the difference of the two softmax rows.
            let diff = &head.weights.row(1) - &head.weights.row(0);
            for (j, v) in diff.iter().enumerate() {
                assert_close(*v, coef[(0, j)], 1e-5, &format!("{name} coef {j}"));
            }
            assert_close(head.bias[1] - head.bias[0], intercept[0], 1e-5, &name);
            continue;
        }
        for ((k, j), v) in head.weights.indexed_iter() {
            assert_close(*v, coef[(k, j)], 1e-5, &format!("{name} coef {k},{j}"));
        }
        // Intercepts are defined up to a common shift: compare them centred.
        let ours = &head.bias - head.bias.mean().unwrap();
        let theirs = &intercept - intercept.mean().unwrap();
        for k in 0..ours.len() {
            assert_close(ours[k], theirs[k], 1e-5, &format!("{name} intercept {k}"));
        }
    }
}
