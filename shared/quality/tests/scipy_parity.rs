//! Drift statistics against scipy / numpy on committed fixtures
//! (`tests/fixtures/make_drift_fixtures.py` made `drift_cases.json`; the numpy and scipy
//! versions are recorded in it).

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

#[test]
fn fixture_covers_the_edge_cases() {
    let fixture = fixture();
    // Discrete values: ties within each window and values shared across them.
    let ties = case(&fixture, "numeric", "ties_discrete");
    let (r, c) = (numbers(&ties["reference"]), numbers(&ties["current"]));
    assert!(r.iter().all(|v| v.fract() == 0.0));
    assert!(c.iter().any(|v| r.contains(v)));
    assert!(c
        .iter()
        .any(|&v| v > r.iter().copied().fold(f64::MIN, f64::max)));
    // Different window sizes.
    let sizes = case(&fixture, "numeric", "uniform_vs_skewed_137_211");
    assert_eq!(numbers(&sizes["reference"]).len(), 137);
    assert_eq!(numbers(&sizes["current"]).len(), 211);
    // A constant reference: the documented fallbacks (raw Wasserstein distance, PSI bins
    // (-inf, v] and (v, inf)).
    let constant = case(&fixture, "numeric", "constant_reference");
    let r = numbers(&constant["reference"]);
    assert!(r.iter().all(|&v| v == r[0]));
    assert!(constant["expected"]["wasserstein_normed"].as_f64().unwrap() > 0.0);
    // A window that is a permutation of the other: every statistic 0.
    let same = case(&fixture, "numeric", "same_values_permuted");
    assert_eq!(same["expected"]["ks"], 0.0);
    assert_eq!(same["expected"]["psi"]["10"], 0.0);
    // A category present in one window only, and disjoint windows (JS distance 1).
    let one_sided = case(&fixture, "categorical", "category_only_in_one_window");
    let r = one_sided["reference"].as_array().unwrap();
    let c = one_sided["current"].as_array().unwrap();
    assert!(r.iter().any(|v| !c.contains(v)) && c.iter().any(|v| !r.contains(v)));
    assert_eq!(
        case(&fixture, "categorical", "disjoint")["expected"]["js_distance"],
        1.0
    );
    // Embeddings 40×16 vs 55×16, and windows over the MMD sample cap.
    let cloud = case(&fixture, "embeddings", "shifted_cloud_40x16_vs_55x16");
    let (r, c) = (vectors(&cloud["reference"]), vectors(&cloud["current"]));
    assert_eq!((r.len(), r[0].len(), c.len(), c[0].len()), (40, 16, 55, 16));
    let big = case(&fixture, "embeddings", "subsampled_620x4_vs_530x4");
    assert!(vectors(&big["reference"]).len() > MMD_MAX_SAMPLES);
    assert!(vectors(&big["current"]).len() > MMD_MAX_SAMPLES);
}
