//! Drift statistics against scipy / numpy on committed fixtures
//! (`tests/fixtures/make_drift_fixtures.py` made `drift_cases.json`; the numpy and scipy
//! versions are recorded in it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: fail loudly

use serde_json::Value;
use sightline_quality::{
    embedding_displacement, embedding_mean_shift, js_distance, ks_statistic, mmd_rbf, psi,
    psi_categorical, wasserstein_normed, DEFAULT_PSI_BINS, MMD_MAX_SAMPLES,
};

const TOL: f64 = 1e-6;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/drift_cases.json")).unwrap()
}

/// Absolute or relative difference within [`TOL`] (PSI reaches ~17 on disjoint windows).
fn close(ours: f64, want: &Value, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no number in fixture"));
    let diff = (ours - want).abs();
    assert!(
        diff <= TOL || diff <= TOL * want.abs(),
        "{what}: ours {ours}, scipy/numpy {want}"
    );
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Rows of float64 numbers, cast to `f32` as the fixture's expected values were.
fn vectors(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| numbers(row).into_iter().map(|x| x as f32).collect())
        .collect()
}

fn group<'a>(fixture: &'a Value, name: &str) -> &'a Vec<Value> {
    fixture[name].as_array().unwrap()
}

fn case<'a>(fixture: &'a Value, group_name: &str, name: &str) -> &'a Value {
    group(fixture, group_name)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

#[test]
fn numeric_statistics_match_scipy() {
    let fixture = fixture();
    assert!(fixture["scipy"].as_str().unwrap().starts_with('1'));
    let cases = group(&fixture, "numeric");
    assert_eq!(cases.len(), 7);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let reference = numbers(&case["reference"]);
        let current = numbers(&case["current"]);
        let want = &case["expected"];
        close(
            ks_statistic(&reference, &current).unwrap(),
            &want["ks"],
            &format!("{name} KS"),
        );
        close(
            wasserstein_normed(&reference, &current).unwrap(),
            &want["wasserstein_normed"],
            &format!("{name} normed Wasserstein"),
        );
        let psis = want["psi"].as_object().unwrap();
        assert!(psis.contains_key(&DEFAULT_PSI_BINS.to_string()));
        for (bins, w) in psis {
            let bins: usize = bins.parse().unwrap();
            close(
                psi(&reference, &current, bins).unwrap(),
                w,
                &format!("{name} PSI ({bins} bins)"),
            );
        }
    }
}

#[test]
fn categorical_statistics_match_scipy() {
    let fixture = fixture();
    let cases = group(&fixture, "categorical");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let want = &case["expected"];
        let (psi_value, js) = if case["reference"][0].is_string() {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_owned())
                    .collect()
            };
            let (r, c) = (strings(&case["reference"]), strings(&case["current"]));
            (
                psi_categorical(&r, &c).unwrap(),
                js_distance(&r, &c).unwrap(),
            )
        } else {
            let ints = |v: &Value| -> Vec<u64> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            };
            let (r, c) = (ints(&case["reference"]), ints(&case["current"]));
            (
                psi_categorical(&r, &c).unwrap(),
                js_distance(&r, &c).unwrap(),
            )
        };
        close(psi_value, &want["psi"], &format!("{name} categorical PSI"));
        close(js, &want["js_distance"], &format!("{name} JS distance"));
    }
}

#[test]
fn embedding_statistics_match_numpy() {
    let fixture = fixture();
    let cases = group(&fixture, "embeddings");
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let reference = vectors(&case["reference"]);
        let current = vectors(&case["current"]);
        let want = &case["expected"];
        close(
            embedding_mean_shift(&reference, &current).unwrap(),
            &want["mean_shift"],
            &format!("{name} mean shift"),
        );
        close(
            mmd_rbf(&reference, &current).unwrap(),
            &want["mmd"],
            &format!("{name} MMD"),
        );
        if want["displacement"].is_null() {
            assert!(
                embedding_displacement(&reference, &current).is_err(),
                "{name}"
            );
        } else {
            close(
                embedding_displacement(&reference, &current).unwrap(),
                &want["displacement"],
                &format!("{name} displacement"),
            );
        }
    }
}

/// The edge cases, computed here with the values the definitions force (the parity
/// tests above compare the same cases with scipy / numpy).
#[test]
fn edge_cases_give_the_defined_values() {
    let fixture = fixture();
    let numeric = |name: &str| {
        let c = case(&fixture, "numeric", name);
        (numbers(&c["reference"]), numbers(&c["current"]))
    };
    // A window that is a permutation of the other: every statistic 0.
    let (r, c) = numeric("same_values_permuted");
    assert_ne!(r, c);
    assert_eq!(ks_statistic(&r, &c).unwrap(), 0.0);
    assert_eq!(wasserstein_normed(&r, &c).unwrap(), 0.0);
    assert_eq!(psi(&r, &c, DEFAULT_PSI_BINS).unwrap(), 0.0);
    // A constant reference: the raw Wasserstein distance, mean |current − v|.
    let (r, c) = numeric("constant_reference");
    assert!(r.iter().all(|&v| v == r[0]));
    let raw = c.iter().map(|x| (x - r[0]).abs()).sum::<f64>() / c.len() as f64;
    assert!((wasserstein_normed(&r, &c).unwrap() - raw).abs() < 1e-12);
    assert!(psi(&r, &c, DEFAULT_PSI_BINS).unwrap().is_finite());
    // Discrete values with ties, and windows of different sizes: KS D is symmetric and
    // within (0, 1].
    for name in ["ties_discrete", "uniform_vs_skewed_137_211"] {
        let (r, c) = numeric(name);
        let d = ks_statistic(&r, &c).unwrap();
        assert!(d > 0.0 && d <= 1.0, "{name}: {d}");
        assert_eq!(d, ks_statistic(&c, &r).unwrap(), "{name}: symmetric");
    }
    // Disjoint categories: JS distance 1 (base 2); a category in one window only keeps
    // PSI finite (smoothed).
    let categories = |name: &str| {
        let c = case(&fixture, "categorical", name);
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.to_string())
                .collect()
        };
        (strings(&c["reference"]), strings(&c["current"]))
    };
    let (r, c) = categories("disjoint");
    assert!((js_distance(&r, &c).unwrap() - 1.0).abs() < 1e-12);
    let (r, c) = categories("category_only_in_one_window");
    let one_sided = psi_categorical(&r, &c).unwrap();
    assert!(one_sided.is_finite() && one_sided > 0.0);
    assert_eq!(js_distance(&r, &r).unwrap(), 0.0);
    // Embeddings: the same cloud permuted does not move; windows over the MMD sample cap
    // are subsampled deterministically.
    let embeddings = |name: &str| {
        let c = case(&fixture, "embeddings", name);
        (vectors(&c["reference"]), vectors(&c["current"]))
    };
    let (r, c) = embeddings("same_cloud_40x16_permuted");
    assert!(embedding_mean_shift(&r, &c).unwrap().abs() < 1e-6);
    assert!(mmd_rbf(&r, &c).unwrap().abs() < 1e-6);
    let (r, c) = embeddings("subsampled_620x4_vs_530x4");
    assert!(r.len() > MMD_MAX_SAMPLES && c.len() > MMD_MAX_SAMPLES);
    assert_eq!(mmd_rbf(&r, &c).unwrap(), mmd_rbf(&r, &c).unwrap());
}
