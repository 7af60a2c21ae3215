//! Label-free drift statistics: how far a *current* window of model inputs (numeric or
//! categorical features, embeddings) has moved from a *reference* window.
//!
//! Every function compares two samples and needs no labels:
//!
//! | statistic | input | reference implementation | [`DriftMethod`] |
//! |---|---|---|---|
//! | [`psi`] | numeric | numpy quantile bins, formula below | [`DriftMethod::Psi`] |
//! | [`psi_categorical`] | categorical | formula below | [`DriftMethod::Psi`] |
//! | [`js_distance`] | categorical | `scipy.spatial.distance.jensenshannon(base=2)` | [`DriftMethod::JensenShannon`] |
//! | [`ks_statistic`] | numeric | `scipy.stats.ks_2samp(..).statistic` | [`DriftMethod::KolmogorovSmirnov`] |
//! | [`wasserstein_normed`] | numeric | `scipy.stats.wasserstein_distance / np.std` | [`DriftMethod::Wasserstein`] |
//! | [`embedding_mean_shift`] | vectors | numpy, formula below | [`DriftMethod::MeanShift`] |
//! | [`mmd_rbf`] | vectors | numpy, formula below | [`DriftMethod::Mmd`] |
//!
//! All are 0 for identical windows and grow with the drift; [`DriftMethod::default_thresholds`]
//! turns a value into a [`DriftStatus`]. Values are computed in `f64` (embeddings are
//! `f32`, widened). `tests/scipy_parity.rs` checks every statistic against scipy / numpy
//! to 1e-6 on fixtures made by `tests/fixtures/make_drift_fixtures.py`.
//!
//! Inputs are validated: an empty window is [`QualityError::EmptyWindow`], NaN or an
//! infinity is [`QualityError::NonFiniteValue`], and embeddings must all share the first
//! reference vector's non-zero dimension ([`QualityError::DimensionMismatch`],
//! [`QualityError::ZeroDimension`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::QualityError;

/// Bins of [`psi`] when the caller has no preference: deciles of the reference, the
/// usual choice for PSI.
pub const DEFAULT_PSI_BINS: usize = 10;

/// Floor of every bin / category proportion in [`psi`] and [`psi_categorical`], so that
/// a bin empty in one window gives a large but finite term instead of `ln 0`.
pub const PSI_EPSILON: f64 = 1e-4;

/// Largest window [`mmd_rbf`] uses as is; a larger one is replaced by an evenly spaced
/// subsample of this many vectors (the cost is quadratic in the pooled size).
pub const MMD_MAX_SAMPLES: usize = 500;

const REFERENCE: &str = "reference";
const CURRENT: &str = "current";

/// Population Stability Index of a numeric feature over reference-quantile bins.
///
/// Bins: the `bins + 1` edges are the reference quantiles at `k / bins`
/// (`np.quantile(reference, np.linspace(0, 1, bins + 1))`, numpy's default linear
/// interpolation, reproduced bit for bit). The outer edges (the reference minimum and
/// maximum) are replaced by −∞ and +∞, so current values outside the reference range
/// fall in the end bins; the `bins − 1` interior edges, deduplicated, are the cut points
/// `c₁ < … < c_k`, and the bins are `(−∞, c₁], (c₁, c₂], …, (c_k, +∞)` (right-closed:
/// `np.searchsorted(cuts, x, side="left")` is a value's bin). Ties in the reference
/// merge quantiles, so there may be fewer than `bins` bins; a point mass at the minimum
/// keeps its own bin `(−∞, c₁]`. A **constant** reference `v` gives the two bins
/// `(−∞, v]` and `(v, +∞)`: PSI is then 0 if every current value is ≤ `v` and grows with
/// the share of current values above `v`. `bins = 1` gives one bin and PSI 0.
///
/// With `r_b` and `c_b` the fractions of the reference and current values in bin `b`,
/// each floored at [`PSI_EPSILON`] (not renormalised),
/// `PSI = Σ_b (c_b − r_b) · ln(c_b / r_b)`. Every term is ≥ 0; identical windows give 0.
///
/// Errors: [`QualityError::NoBins`], [`QualityError::EmptyWindow`],
/// [`QualityError::NonFiniteValue`].
pub fn psi(reference: &[f64], current: &[f64], bins: usize) -> Result<f64, QualityError> {
    if bins == 0 {
        return Err(QualityError::NoBins);
    }
    check_values(REFERENCE, reference)?;
    check_values(CURRENT, current)?;
    let sorted_ref = sorted(reference);
    let edges = numpy_quantiles(&sorted_ref, bins);
    let mut cuts = edges[1..bins].to_vec();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let histogram = |values: &[f64]| {
        let mut counts = vec![0usize; cuts.len() + 1];
        for &x in values {
            counts[cuts.partition_point(|&c| c < x)] += 1;
        }
        counts
    };
    let r = histogram(reference);
    let c = histogram(current);
    Ok(psi_from_counts(
        r.iter().zip(&c).map(|(&r, &c)| (r, c)),
        reference.len(),
        current.len(),
    ))
}

/// Population Stability Index of a categorical feature, over the union of the categories
/// seen in either window.
///
/// With `r_k` and `c_k` the fractions of the reference and current values equal to
/// category `k`, each floored at [`PSI_EPSILON`] (a category seen in one window only gets
/// `PSI_EPSILON` in the other), `PSI = Σ_k (c_k − r_k) · ln(c_k / r_k)`, summed in
/// category order. Works for any ordered category type: `&str`, `String`, class indices.
///
/// Errors: [`QualityError::EmptyWindow`].
pub fn psi_categorical<T: Ord>(reference: &[T], current: &[T]) -> Result<f64, QualityError> {
    let counts = category_counts(reference, current)?;
    Ok(psi_from_counts(
        counts.values().map(|&[r, c]| (r, c)),
        reference.len(),
        current.len(),
    ))
}

/// Jensen–Shannon distance (base 2) between the category frequencies of the two
/// windows, as `scipy.spatial.distance.jensenshannon(p, q, base=2)`.
///
/// `p` and `q` are the reference and current frequencies over the union of the
/// categories (a category missing from a window has frequency 0 there), `m = (p + q) / 2`
/// and `JS = sqrt((KL(p ‖ m) + KL(q ‖ m)) / (2 ln 2))`, with `0 · ln 0 = 0`. It is the
/// square root of the JS divergence in bits: 0 for identical frequencies, 1 for disjoint
/// categories. Rounding is clamped so the result always lies in `[0, 1]`.
///
/// Errors: [`QualityError::EmptyWindow`].
pub fn js_distance<T: Ord>(reference: &[T], current: &[T]) -> Result<f64, QualityError> {
    let counts = category_counts(reference, current)?;
    let (n_ref, n_cur) = (reference.len() as f64, current.len() as f64);
    // scipy's rel_entr(x, y): x ln(x / y), 0 when x = 0.
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0f64, 0.0f64);
    for &[r, c] in counts.values() {
        let (p, q) = (r as f64 / n_ref, c as f64 / n_cur);
        let m = (p + q) / 2.0;
        left += rel_entr(p, m);
        right += rel_entr(q, m);
    }
    let js = (left + right) / std::f64::consts::LN_2;
    Ok((js / 2.0).max(0.0).sqrt().min(1.0))
}

/// Two-sample Kolmogorov–Smirnov statistic: the largest vertical gap between the
/// empirical CDFs of the two windows, `D = max_x |F_ref(x) − F_cur(x)|`, as
/// `scipy.stats.ks_2samp(reference, current).statistic`.
///
/// The ECDFs are right-continuous (`F(x)` = fraction of values `≤ x`) and evaluated at
/// every observed value, so tied values (within or across windows) move both ECDFs at
/// once, exactly as scipy's `searchsorted(side="right")`. `D` is in `[0, 1]`; this is
/// the effect size, not a p-value.
///
/// Errors: [`QualityError::EmptyWindow`], [`QualityError::NonFiniteValue`].
pub fn ks_statistic(reference: &[f64], current: &[f64]) -> Result<f64, QualityError> {
    check_values(REFERENCE, reference)?;
    check_values(CURRENT, current)?;
    let (a, b) = (sorted(reference), sorted(current));
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut d = 0.0f64;
    // Once one window is used up its ECDF is 1 and the gap only shrinks.
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    Ok(d)
}

/// Wasserstein-1 (earth mover's) distance between the two windows divided by the
/// reference standard deviation: Evidently's "normed Wasserstein distance",
/// `scipy.stats.wasserstein_distance(reference, current) / np.std(reference)`.
///
/// The distance is `∫ |F_ref(x) − F_cur(x)| dx` over the empirical CDFs; the standard
/// deviation is the population one (`ddof = 0`). The result reads "how many reference
/// standard deviations the mass had to move on average".
///
/// Constant reference (every value equal; tested by equality rather than on the rounded
/// standard deviation, which numpy may leave at ~1e-17): the raw distance is returned,
/// i.e. divided by 1, in the feature's units. It is 0 when the current window holds the
/// same constant and equals the mean absolute displacement `mean |cur − v|` otherwise.
/// (Evidently floors the divisor at 0.001 for every feature instead, which also changes
/// results for features with a small but non-zero spread.)
///
/// Errors: [`QualityError::EmptyWindow`], [`QualityError::NonFiniteValue`].
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> Result<f64, QualityError> {
    check_values(REFERENCE, reference)?;
    check_values(CURRENT, current)?;
    let distance = wasserstein_1(&sorted(reference), &sorted(current));
    if reference.iter().all(|&v| v == reference[0]) {
        return Ok(distance);
    }
    let n = reference.len() as f64;
    let mean = reference.iter().sum::<f64>() / n;
    let var = reference
        .iter()
        .map(|&v| (v - mean) * (v - mean))
        .sum::<f64>()
        / n;
    Ok(distance / var.sqrt())
}

/// How far the mean embedding moved, relative to the reference spread:
/// `‖mean(current) − mean(reference)‖₂ / s`, with
/// `s = sqrt(mean_i ‖x_i − mean(reference)‖²)` over the reference vectors `x_i` (the
/// root-mean-square distance of a reference embedding from the reference mean).
///
/// 0 for identical windows; 1 when the mean moved by the typical reference radius. For
/// two windows from the same distribution it is about `sqrt(1/n_ref + 1/n_cur)` (0.045 for
/// 1000 + 1000 vectors), so small windows read as drift.
///
/// Constant reference (every reference vector equal, so `s = 0`): the raw distance
/// `‖mean(current) − mean(reference)‖₂` is returned (divided by 1).
///
/// Accepts `&[Vec<f32>]`, `&[&[f32]]` or anything else whose items are `AsRef<[f32]>`.
///
/// Errors: [`QualityError::EmptyWindow`], [`QualityError::NonFiniteValue`],
/// [`QualityError::DimensionMismatch`], [`QualityError::ZeroDimension`].
pub fn embedding_mean_shift<V: AsRef<[f32]>>(
    reference: &[V],
    current: &[V],
) -> Result<f64, QualityError> {
    check_vectors(reference, current)?;
    let mean_ref = mean_vector(reference);
    let mean_cur = mean_vector(current);
    let shift = squared_distance_f64(&mean_ref, &mean_cur).sqrt();
    Ok(shift / reference_spread(reference, &mean_ref).unwrap_or(1.0))
}

/// The reference spread `sqrt(mean_i ‖x_i − mean‖²)` of [`embedding_mean_shift`] and
/// [`embedding_displacement`]; `None` for a constant reference (every vector equal).
fn reference_spread<V: AsRef<[f32]>>(reference: &[V], mean: &[f64]) -> Option<f64> {
    let first = reference[0].as_ref();
    if reference.iter().all(|v| v.as_ref() == first) {
        return None;
    }
    let spread2 = reference
        .iter()
        .map(|x| {
            x.as_ref()
                .iter()
                .zip(mean)
                .map(|(&a, &m)| (f64::from(a) - m) * (f64::from(a) - m))
                .sum::<f64>()
        })
        .sum::<f64>()
        / reference.len() as f64;
    Some(spread2.sqrt())
}

/// How far the *same images* moved between the windows: `current[i]` and `reference[i]`
/// are embeddings of one image (re-scored by another model version, or the same content
/// arriving again, e.g. re-encoded or darkened). The value is the mean displacement
/// `mean_i ‖current_i − reference_i‖₂` divided by the reference spread `s` of
/// [`embedding_mean_shift`] (the RMS distance of a reference embedding from the reference
/// mean): 0 when every image embeds as before, 1 when images moved as far, on average,
/// as the typical distance between an image and the centroid.
///
/// Paired windows detect changes that unpaired statistics cannot see in small, diverse
/// windows: a uniform darkening moves every embedding but barely moves the window's mean
/// relative to the spread between different images.
///
/// Constant reference (`s = 0`): the raw mean displacement is returned.
///
/// Errors: [`QualityError::LengthMismatch`] when the windows differ in length, and those
/// of [`embedding_mean_shift`].
pub fn embedding_displacement<V: AsRef<[f32]>>(
    reference: &[V],
    current: &[V],
) -> Result<f64, QualityError> {
    check_vectors(reference, current)?;
    if reference.len() != current.len() {
        return Err(QualityError::LengthMismatch {
            what: "current (paired with reference)",
            expected: reference.len(),
            actual: current.len(),
        });
    }
    let moved = reference
        .iter()
        .zip(current)
        .map(|(r, c)| {
            let (r, c) = (r.as_ref(), c.as_ref());
            let r: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
            let c: Vec<f64> = c.iter().map(|&v| f64::from(v)).collect();
            squared_distance_f64(&r, &c).sqrt()
        })
        .sum::<f64>()
        / reference.len() as f64;
    let mean_ref = mean_vector(reference);
    Ok(moved / reference_spread(reference, &mean_ref).unwrap_or(1.0))
}

/// Squared Maximum Mean Discrepancy between the two windows of embeddings, with an RBF
/// kernel and the median heuristic for its width (biased V-statistic estimator).
///
/// 1. A window of more than [`MMD_MAX_SAMPLES`] (`M`) vectors is replaced by the `M`
///    vectors at indices `⌊i · n / M⌋`, `i = 0 … M − 1` (deterministic, evenly spaced).
/// 2. The two (sub)samples `X` (`m` vectors) and `Y` (`n` vectors) are pooled into
///    `Z = X ∪ Y`; `σ²` is the median (mean of the two middle values for an even count)
///    of the squared Euclidean distances `‖z_a − z_b‖²` over all `N(N − 1)/2` unordered
///    pairs `a < b` of the pooled sample (duplicates included). If that median is 0
///    (more than half the pairs coincide), the median of the non-zero squared distances
///    is used; if every pooled vector is the same, the MMD is 0.
/// 3. `k(x, y) = exp(−‖x − y‖² / (2σ²))` and
///    `MMD² = mean_{i,j} k(x_i, x_j) + mean_{i,j} k(y_i, y_j) − 2 mean_{i,j} k(x_i, y_j)`,
///    every mean over the full `m²`, `n²` and `m·n` grids (diagonal included).
///
/// This is the squared RKHS distance between the two empirical kernel mean embeddings:
/// identical windows give exactly 0 and it is never negative (rounding below 0 is
/// clamped). It is at most 2. For windows from the same distribution it is about
/// `0.4 · (1/m + 1/n)` (the bias of the V-statistic); see
/// [`DriftMethod::default_thresholds`] for its size under a shift. Everything is computed
/// in `f64`; the cost is `O(N² · dim)` time and `N²` `f64`s of memory, `N ≤ 2M`.
///
/// Errors: [`QualityError::EmptyWindow`], [`QualityError::NonFiniteValue`],
/// [`QualityError::DimensionMismatch`], [`QualityError::ZeroDimension`].
pub fn mmd_rbf<V: AsRef<[f32]>>(reference: &[V], current: &[V]) -> Result<f64, QualityError> {
    check_vectors(reference, current)?;
    let x = subsample(reference, MMD_MAX_SAMPLES);
    let y = subsample(current, MMD_MAX_SAMPLES);
    let (m, n) = (x.len(), y.len());
    let z: Vec<&[f32]> = x.iter().chain(&y).copied().collect();
    let total = z.len();
    // Full symmetric matrix of squared distances, each pair computed once.
    let mut d2 = vec![0f64; total * total];
    for a in 0..total {
        for b in a + 1..total {
            let v = squared_distance_f32(z[a], z[b]);
            d2[a * total + b] = v;
            d2[b * total + a] = v;
        }
    }
    let mut pairs: Vec<f64> = (0..total)
        .flat_map(|a| d2[a * total + a + 1..(a + 1) * total].iter().copied())
        .collect();
    let mut sigma2 = if pairs.is_empty() {
        0.0
    } else {
        median(&mut pairs)
    };
    if sigma2 == 0.0 {
        pairs.retain(|&v| v > 0.0);
        if pairs.is_empty() {
            return Ok(0.0);
        }
        sigma2 = median(&mut pairs);
    }
    let two_sigma2 = 2.0 * sigma2;
    let block_sum = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let mut s = 0.0f64;
        for a in rows {
            for &v in &d2[a * total + cols.start..a * total + cols.end] {
                s += (-v / two_sigma2).exp();
            }
        }
        s
    };
    let sxx = block_sum(0..m, 0..m);
    let syy = block_sum(m..total, m..total);
    let sxy = block_sum(0..m, m..total);
    let (mf, nf) = (m as f64, n as f64);
    let mmd2 = sxx / (mf * mf) + syy / (nf * nf) - 2.0 * (sxy / (mf * nf));
    Ok(mmd2.max(0.0))
}

/// How worrying a drift value is, mildest first, so the worst of several statuses is
/// their `max()`. Serialised as `"ok"`, `"warn"`, `"alert"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftStatus {
    /// Below the warn threshold.
    Ok,
    /// At or above the warn threshold, below the alert threshold.
    Warn,
    /// At or above the alert threshold.
    Alert,
}

impl DriftStatus {
    /// `"ok"`, `"warn"` or `"alert"` (the serialised name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Alert => "alert",
        }
    }
}

impl fmt::Display for DriftStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Warn and alert levels of one drift statistic (larger values = more drift).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Values at or above this (and below [`Thresholds::alert`]) are [`DriftStatus::Warn`].
    pub warn: f64,
    /// Values at or above this are [`DriftStatus::Alert`].
    pub alert: f64,
}

impl Thresholds {
    /// The status of `value`: [`DriftStatus::Alert`] if `value >= alert`, else
    /// [`DriftStatus::Warn`] if `value >= warn`, else [`DriftStatus::Ok`]. A NaN value
    /// (which no statistic of this module returns) is [`DriftStatus::Alert`]: a broken
    /// measurement must not read as "no drift".
    pub fn status(&self, value: f64) -> DriftStatus {
        if value.is_nan() || value >= self.alert {
            DriftStatus::Alert
        } else if value >= self.warn {
            DriftStatus::Warn
        } else {
            DriftStatus::Ok
        }
    }
}

/// The drift statistics of this module, to name them in configuration and reports.
/// Serialised as the [`DriftMethod::as_str`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DriftMethod {
    /// [`psi`] and [`psi_categorical`]: `"psi"`.
    #[serde(rename = "psi")]
    Psi,
    /// [`js_distance`]: `"js_distance"`.
    #[serde(rename = "js_distance")]
    JensenShannon,
    /// [`ks_statistic`]: `"ks"`.
    #[serde(rename = "ks")]
    KolmogorovSmirnov,
    /// [`wasserstein_normed`]: `"wasserstein_normed"`.
    #[serde(rename = "wasserstein_normed")]
    Wasserstein,
    /// [`embedding_mean_shift`]: `"mean_shift"`.
    #[serde(rename = "mean_shift")]
    MeanShift,
    /// [`mmd_rbf`]: `"mmd"`.
    #[serde(rename = "mmd")]
    Mmd,
    /// [`embedding_displacement`]: `"displacement"`.
    #[serde(rename = "displacement")]
    Displacement,
}

impl DriftMethod {
    /// Every method, in declaration order.
    pub const ALL: [DriftMethod; 7] = [
        Self::Psi,
        Self::JensenShannon,
        Self::KolmogorovSmirnov,
        Self::Wasserstein,
        Self::MeanShift,
        Self::Mmd,
        Self::Displacement,
    ];

    /// The method's name: `"psi"`, `"js_distance"`, `"ks"`, `"wasserstein_normed"`,
    /// `"mean_shift"`, `"mmd"` or `"displacement"` (the serialised name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Psi => "psi",
            Self::JensenShannon => "js_distance",
            Self::KolmogorovSmirnov => "ks",
            Self::Wasserstein => "wasserstein_normed",
            Self::MeanShift => "mean_shift",
            Self::Mmd => "mmd",
            Self::Displacement => "displacement",
        }
    }

    /// Default warn / alert levels, to be tuned per feature on historical no-drift
    /// windows. All are effect sizes, independent of the window sizes, and all assume
    /// windows of a few hundred values at least: the "no drift" value of each statistic
    /// (quoted below) shrinks with the sample sizes `n`, `m` and must stay well below warn.
    ///
    /// | method | warn | alert | why |
    /// |---|---|---|---|
    /// | [`Psi`](Self::Psi) | 0.1 | 0.25 | The usual credit-scoring rule of thumb (< 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift); Evidently's PSI threshold is 0.1. No-drift value ≈ `(bins − 1)(1/n + 1/m)`, 0.018 at 1000 + 1000 with 10 bins. |
    /// | [`JensenShannon`](Self::JensenShannon) | 0.1 | 0.2 | Evidently's default drift threshold for the JS distance is 0.1; alert at twice that. |
    /// | [`KolmogorovSmirnov`](Self::KolmogorovSmirnov) | 0.1 | 0.2 | The ECDFs differ by 10 (20) percentage points somewhere. Used as an effect size, not a p-value (which flags negligible shifts on large windows). The 5 % critical value `1.36 · sqrt(1/n + 1/m)` is below 0.1 from about 370 + 370 values. |
    /// | [`Wasserstein`](Self::Wasserstein) | 0.1 | 0.2 | Evidently's default threshold for the normed Wasserstein distance is 0.1 (the mass moved 0.1 reference standard deviations on average); alert at twice that. |
    /// | [`MeanShift`](Self::MeanShift) | 0.25 | 0.5 | The mean embedding moved a quarter (half) of the reference RMS radius: a shift of that size along one direction is plainly visible, while the no-drift value `sqrt(1/n + 1/m)` is 0.1 at 200 + 200 vectors. |
    /// | [`Mmd`](Self::Mmd) | 0.02 | 0.07 | Matched to the mean-shift levels: for an isotropic Gaussian cloud shifted by `s` reference radii, with the median heuristic in high dimension, `MMD² ≈ 2 e^{−1/2} (1 − e^{−s²/4})`, i.e. 0.019 at `s = 0.25` and 0.074 at `s = 0.5` (checked by simulation for dimensions 4–512). Unlike the mean shift, MMD also reacts to changes of spread or shape. No-drift value ≈ `0.4 (1/m + 1/n)`, 0.004 at 200 + 200 vectors. |
    /// | [`Displacement`](Self::Displacement) | 0.1 | 0.25 | Same images, embedded again (EfficientNet-Lite0, the 100 ImageNet dev images; measured): byte-identical copies 0; mild pipeline changes warn — JPEG quality 92 → 75 moves them by 0.20, a 20 % downscale 0.24, +15 % contrast 0.15, brightness × 0.7 0.22; strong changes alert — brightness × 0.5 0.34, × 0.35 0.45. Embeddings react to small input changes, so a lone warning is a prompt to look, an alert a changed input. |
    pub const fn default_thresholds(self) -> Thresholds {
        let (warn, alert) = match self {
            Self::Psi => (0.1, 0.25),
            Self::JensenShannon => (0.1, 0.2),
            Self::KolmogorovSmirnov => (0.1, 0.2),
            Self::Wasserstein => (0.1, 0.2),
            Self::MeanShift => (0.25, 0.5),
            Self::Mmd => (0.02, 0.07),
            Self::Displacement => (0.1, 0.25),
        };
        Thresholds { warn, alert }
    }
}

impl fmt::Display for DriftMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn check_values(what: &'static str, values: &[f64]) -> Result<(), QualityError> {
    if values.is_empty() {
        return Err(QualityError::EmptyWindow { what });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(QualityError::NonFiniteValue { what, index }),
        None => Ok(()),
    }
}

/// Both windows non-empty, every vector finite and of the first reference vector's
/// non-zero dimension.
fn check_vectors<V: AsRef<[f32]>>(reference: &[V], current: &[V]) -> Result<(), QualityError> {
    let dim = match reference.first() {
        Some(v) => v.as_ref().len(),
        None => return Err(QualityError::EmptyWindow { what: REFERENCE }),
    };
    if dim == 0 {
        return Err(QualityError::ZeroDimension);
    }
    for (what, window) in [(REFERENCE, reference), (CURRENT, current)] {
        if window.is_empty() {
            return Err(QualityError::EmptyWindow { what });
        }
        for (index, v) in window.iter().enumerate() {
            let v = v.as_ref();
            if v.len() != dim {
                return Err(QualityError::DimensionMismatch {
                    what,
                    index,
                    expected: dim,
                    actual: v.len(),
                });
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(QualityError::NonFiniteValue { what, index });
            }
        }
    }
    Ok(())
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// `np.quantile(sorted, np.linspace(0, 1, bins + 1))` with numpy's default `"linear"`
/// method, reproducing numpy's floating-point steps: `q_k = k · (1 / bins)` (exactly 1
/// for the last), virtual index `(n − 1) · q_k`, and numpy's two-sided lerp.
fn numpy_quantiles(sorted: &[f64], bins: usize) -> Vec<f64> {
    let n = sorted.len();
    let step = 1.0 / bins as f64;
    (0..=bins)
        .map(|k| {
            let q = if k == bins { 1.0 } else { k as f64 * step };
            let virtual_index = (n - 1) as f64 * q;
            if virtual_index >= (n - 1) as f64 {
                return sorted[n - 1];
            }
            let lo = virtual_index.floor();
            let gamma = virtual_index - lo;
            let (a, b) = (sorted[lo as usize], sorted[lo as usize + 1]);
            let diff = b - a;
            if gamma >= 0.5 {
                b - diff * (1.0 - gamma)
            } else {
                a + diff * gamma
            }
        })
        .collect()
}

/// `Σ (c − r) ln(c / r)` over `(reference count, current count)` pairs, proportions
/// floored at [`PSI_EPSILON`].
fn psi_from_counts(
    counts: impl Iterator<Item = (usize, usize)>,
    n_ref: usize,
    n_cur: usize,
) -> f64 {
    let (n_ref, n_cur) = (n_ref as f64, n_cur as f64);
    counts
        .map(|(r, c)| {
            let r = (r as f64 / n_ref).max(PSI_EPSILON);
            let c = (c as f64 / n_cur).max(PSI_EPSILON);
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Per category (in order): `[reference count, current count]`.
fn category_counts<'a, T: Ord>(
    reference: &'a [T],
    current: &'a [T],
) -> Result<BTreeMap<&'a T, [usize; 2]>, QualityError> {
    if reference.is_empty() {
        return Err(QualityError::EmptyWindow { what: REFERENCE });
    }
    if current.is_empty() {
        return Err(QualityError::EmptyWindow { what: CURRENT });
    }
    let mut counts: BTreeMap<&T, [usize; 2]> = BTreeMap::new();
    for (w, window) in [reference, current].into_iter().enumerate() {
        for v in window {
            counts.entry(v).or_default()[w] += 1;
        }
    }
    Ok(counts)
}

/// `∫ |U(x) − V(x)| dx` over the ECDFs of two sorted samples (scipy's `_cdf_distance`
/// with `p = 1`).
fn wasserstein_1(u: &[f64], v: &[f64]) -> f64 {
    let mut all = Vec::with_capacity(u.len() + v.len());
    all.extend_from_slice(u);
    all.extend_from_slice(v);
    all.sort_by(f64::total_cmp);
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut total = 0.0f64;
    for w in all.windows(2) {
        let x = w[0];
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        total += (i as f64 / nu - j as f64 / nv).abs() * (w[1] - x);
    }
    total
}

fn mean_vector<V: AsRef<[f32]>>(vectors: &[V]) -> Vec<f64> {
    let mut sum = vec![0f64; vectors[0].as_ref().len()];
    for v in vectors {
        for (s, &x) in sum.iter_mut().zip(v.as_ref()) {
            *s += f64::from(x);
        }
    }
    let n = vectors.len() as f64;
    sum.iter().map(|s| s / n).collect()
}

fn squared_distance_f64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn squared_distance_f32(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let t = f64::from(x) - f64::from(y);
            t * t
        })
        .sum()
}

/// The vectors at `⌊i · n / max⌋`, `i < max`, when there are more than `max`; all of
/// them otherwise.
fn subsample<V: AsRef<[f32]>>(vectors: &[V], max: usize) -> Vec<&[f32]> {
    let n = vectors.len();
    if n <= max {
        vectors.iter().map(AsRef::as_ref).collect()
    } else {
        (0..max).map(|i| vectors[i * n / max].as_ref()).collect()
    }
}

/// numpy's median of a non-empty slice (reorders it).
fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (lower, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + upper) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a small deterministic generator for synthetic windows.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Standard normal (Box–Muller).
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }

        fn normals(&mut self, n: usize, mean: f64) -> Vec<f64> {
            (0..n).map(|_| mean + self.normal()).collect()
        }

        fn cloud(&mut self, n: usize, dim: usize, shift: f32) -> Vec<Vec<f32>> {
            (0..n)
                .map(|_| (0..dim).map(|_| self.normal() as f32 + shift).collect())
                .collect()
        }
    }

    /// Category of a numeric value: unit-width buckets, clamped to -3..=3.
    fn buckets(values: &[f64]) -> Vec<i64> {
        values
            .iter()
            .map(|v| (v.floor() as i64).clamp(-3, 3))
            .collect()
    }

    fn status(method: DriftMethod, value: f64) -> DriftStatus {
        method.default_thresholds().status(value)
    }

    #[test]
    fn identical_windows_give_zero_and_ok() {
        let mut rng = Rng(1);
        let x = rng.normals(500, 0.0);
        let cats = buckets(&x);
        let cloud = rng.cloud(80, 6, 0.0);
        let values = [
            (DriftMethod::Psi, psi(&x, &x, DEFAULT_PSI_BINS).unwrap()),
            (DriftMethod::Psi, psi_categorical(&cats, &cats).unwrap()),
            (
                DriftMethod::JensenShannon,
                js_distance(&cats, &cats).unwrap(),
            ),
            (
                DriftMethod::KolmogorovSmirnov,
                ks_statistic(&x, &x).unwrap(),
            ),
            (
                DriftMethod::Wasserstein,
                wasserstein_normed(&x, &x).unwrap(),
            ),
            (
                DriftMethod::MeanShift,
                embedding_mean_shift(&cloud, &cloud).unwrap(),
            ),
            (DriftMethod::Mmd, mmd_rbf(&cloud, &cloud).unwrap()),
        ];
        for (method, value) in values {
            assert_eq!(value, 0.0, "{method}");
            assert_eq!(status(method, value), DriftStatus::Ok, "{method}");
        }
        // A permutation of the window: same distribution, same (near-zero) statistics.
        let mut y = x.clone();
        y.reverse();
        assert_eq!(ks_statistic(&x, &y).unwrap(), 0.0);
        assert_eq!(psi(&x, &y, DEFAULT_PSI_BINS).unwrap(), 0.0);
        assert!(wasserstein_normed(&x, &y).unwrap() < 1e-12);
    }

    #[test]
    fn one_std_shift_alerts() {
        let mut rng = Rng(2);
        let reference = rng.normals(2000, 0.0);
        let current = rng.normals(2000, 1.0);
        let values = [
            (
                DriftMethod::Psi,
                psi(&reference, &current, DEFAULT_PSI_BINS).unwrap(),
            ),
            (
                DriftMethod::Psi,
                psi_categorical(&buckets(&reference), &buckets(&current)).unwrap(),
            ),
            (
                DriftMethod::JensenShannon,
                js_distance(&buckets(&reference), &buckets(&current)).unwrap(),
            ),
            (
                DriftMethod::KolmogorovSmirnov,
                ks_statistic(&reference, &current).unwrap(),
            ),
            (
                DriftMethod::Wasserstein,
                wasserstein_normed(&reference, &current).unwrap(),
            ),
        ];
        for (method, value) in values {
            assert_eq!(
                status(method, value),
                DriftStatus::Alert,
                "{method} {value}"
            );
        }
        // The normed Wasserstein distance of a pure shift is the shift in stds.
        let w = wasserstein_normed(&reference, &current).unwrap();
        assert!((w - 1.0).abs() < 0.1, "{w}");
        // KS of N(0,1) vs N(1,1): 2Φ(0.5) − 1 = 0.383.
        let d = ks_statistic(&reference, &current).unwrap();
        assert!((d - 0.383).abs() < 0.05, "{d}");
    }

    #[test]
    fn small_shift_stays_ok() {
        let mut rng = Rng(3);
        let reference = rng.normals(2000, 0.0);
        let current = rng.normals(2000, 0.05);
        let values = [
            (
                DriftMethod::Psi,
                psi(&reference, &current, DEFAULT_PSI_BINS).unwrap(),
            ),
            (
                DriftMethod::KolmogorovSmirnov,
                ks_statistic(&reference, &current).unwrap(),
            ),
            (
                DriftMethod::Wasserstein,
                wasserstein_normed(&reference, &current).unwrap(),
            ),
        ];
        for (method, value) in values {
            assert!(value > 0.0, "{method}");
            assert_eq!(status(method, value), DriftStatus::Ok, "{method} {value}");
        }
    }

    #[test]
    fn shifted_embedding_cloud_raises_mean_shift_and_mmd() {
        let mut rng = Rng(4);
        let dim = 8;
        let reference = rng.cloud(300, dim, 0.0);
        let same = rng.cloud(300, dim, 0.0);
        // Every coordinate +0.5: the mean moves 0.5·sqrt(8) = 1.41 = 0.5 radii.
        let shifted = rng.cloud(300, dim, 0.5);
        let far = rng.cloud(300, dim, 1.0);

        let ms_same = embedding_mean_shift(&reference, &same).unwrap();
        let ms_shifted = embedding_mean_shift(&reference, &shifted).unwrap();
        let ms_far = embedding_mean_shift(&reference, &far).unwrap();
        assert_eq!(status(DriftMethod::MeanShift, ms_same), DriftStatus::Ok);
        assert!((ms_shifted - 0.5).abs() < 0.05, "{ms_shifted}");
        assert_eq!(status(DriftMethod::MeanShift, ms_far), DriftStatus::Alert);
        assert!(ms_same < ms_shifted && ms_shifted < ms_far);

        let mmd_same = mmd_rbf(&reference, &same).unwrap();
        let mmd_shifted = mmd_rbf(&reference, &shifted).unwrap();
        let mmd_far = mmd_rbf(&reference, &far).unwrap();
        assert_eq!(status(DriftMethod::Mmd, mmd_same), DriftStatus::Ok);
        assert_ne!(status(DriftMethod::Mmd, mmd_shifted), DriftStatus::Ok);
        assert_eq!(status(DriftMethod::Mmd, mmd_far), DriftStatus::Alert);
        assert!(mmd_same < mmd_shifted && mmd_shifted < mmd_far);
        assert!(mmd_far <= 2.0);

        // A change of spread with the mean in place: MMD sees it, the mean shift barely.
        let wide: Vec<Vec<f32>> = rng
            .cloud(300, dim, 0.0)
            .into_iter()
            .map(|v| v.into_iter().map(|x| 2.0 * x).collect())
            .collect();
        assert_eq!(
            status(DriftMethod::Mmd, mmd_rbf(&reference, &wide).unwrap()),
            DriftStatus::Alert
        );
        assert_eq!(
            status(
                DriftMethod::MeanShift,
                embedding_mean_shift(&reference, &wide).unwrap()
            ),
            DriftStatus::Ok
        );
        // Slices work as well as vectors.
        let slices: Vec<&[f32]> = reference.iter().map(Vec::as_slice).collect();
        let far_slices: Vec<&[f32]> = far.iter().map(Vec::as_slice).collect();
        assert_eq!(embedding_mean_shift(&slices, &far_slices).unwrap(), ms_far);
    }

    #[test]
    fn mmd_subsamples_large_windows_evenly() {
        let mut rng = Rng(5);
        let big = rng.cloud(1234, 3, 0.0);
        let other = rng.cloud(700, 3, 0.3);
        let picked = subsample(&big, MMD_MAX_SAMPLES);
        assert_eq!(picked.len(), MMD_MAX_SAMPLES);
        assert_eq!(picked[0], big[0].as_slice());
        assert_eq!(picked[1], big[2].as_slice()); // ⌊1 · 1234 / 500⌋
        assert_eq!(picked[499], big[1231].as_slice()); // ⌊499 · 1234 / 500⌋
        let big_sub: Vec<&[f32]> = picked;
        let other_sub = subsample(&other, MMD_MAX_SAMPLES);
        assert_eq!(
            mmd_rbf(&big, &other).unwrap(),
            mmd_rbf(&big_sub, &other_sub).unwrap()
        );
        assert_eq!(mmd_rbf(&big, &big).unwrap(), 0.0);
    }

    #[test]
    fn mmd_degenerate_widths() {
        // Every pooled vector equal: 0.
        let a = vec![vec![1.0f32, 2.0]; 3];
        assert_eq!(mmd_rbf(&a, &a).unwrap(), 0.0);
        // One vector each, distinct: one pair, σ² = its distance, k = e^{-1/2}.
        let b = vec![vec![1.0f32, 3.0]];
        let one = vec![vec![1.0f32, 2.0]];
        let want = 2.0 - 2.0 * (-0.5f64).exp();
        assert!((mmd_rbf(&one, &b).unwrap() - want).abs() < 1e-15);
        // Most pairs at distance 0: the median of the non-zero distances (1) is used.
        // Pooled: four copies of p, one q; non-zero distances all 1 → k(p, q) = e^{-1/2}.
        // 6 of the 10 pairs are at 0, so the plain median is 0.
        let four = vec![vec![1.0f32, 2.0]; 4];
        assert!((mmd_rbf(&four, &b).unwrap() - want).abs() < 1e-15);
    }

    #[test]
    fn psi_bins_follow_numpy_quantiles() {
        // np.quantile([1, 2, 3, 4], np.linspace(0, 1, 5)) = [1, 1.75, 2.5, 3.25, 4].
        assert_eq!(
            numpy_quantiles(&[1.0, 2.0, 3.0, 4.0], 4),
            vec![1.0, 1.75, 2.5, 3.25, 4.0]
        );
        assert_eq!(numpy_quantiles(&[7.0], 3), vec![7.0; 4]);
        // Bins (-inf, 1.75], (1.75, 2.5], (2.5, 3.25], (3.25, inf): reference 1 per bin.
        // Current: 0 and 1.75 in bin 0, 10 in bin 3.
        let got = psi(&[1.0, 2.0, 3.0, 4.0], &[0.0, 1.75, 10.0], 4).unwrap();
        let (r, e) = (0.25f64, PSI_EPSILON);
        let c = [2.0 / 3.0, e, e, 1.0 / 3.0];
        let want: f64 = c.iter().map(|&c| (c - r) * (c / r).ln()).sum();
        assert!((got - want).abs() < 1e-15, "{got} {want}");
        // One bin: always 0.
        assert_eq!(psi(&[1.0, 2.0], &[5.0, 6.0], 1).unwrap(), 0.0);
    }

    #[test]
    fn constant_reference_fallbacks() {
        let reference = [2.0; 10];
        // PSI: bins (-inf, 2] and (2, inf).
        assert_eq!(psi(&reference, &[1.0, 2.0], 10).unwrap(), 0.0);
        let got = psi(&reference, &[2.0, 3.0], 10).unwrap();
        let e = PSI_EPSILON;
        let want = (0.5 - 1.0) * (0.5f64).ln() + (0.5 - e) * (0.5 / e).ln();
        assert!((got - want).abs() < 1e-15);
        // Wasserstein: the raw distance.
        assert_eq!(wasserstein_normed(&reference, &reference).unwrap(), 0.0);
        assert_eq!(wasserstein_normed(&reference, &[2.5, 2.5]).unwrap(), 0.5);
        assert_eq!(wasserstein_normed(&[0.1; 10], &[0.1; 3]).unwrap(), 0.0);
        // Mean shift: the raw distance of the means.
        let flat = vec![vec![1.0f32, 1.0]; 5];
        let moved = vec![vec![4.0f32, 5.0]; 2];
        assert_eq!(embedding_mean_shift(&flat, &moved).unwrap(), 5.0);
        assert_eq!(embedding_mean_shift(&flat, &flat).unwrap(), 0.0);
    }

    #[test]
    fn ks_and_wasserstein_by_hand() {
        // ECDFs at 1, 2, 3: (0.25, 0), (0.75, 0.5), (1, 1): D = 0.25.
        let a = [2.0, 1.0, 3.0, 2.0];
        let b = [3.0, 2.0, 2.0, 3.0];
        assert_eq!(ks_statistic(&a, &b).unwrap(), 0.25);
        assert_eq!(ks_statistic(&b, &a).unwrap(), 0.25);
        // W1 = 0.25·1 + 0.25·1 = 0.5; std(a) = sqrt(0.5).
        let w = wasserstein_normed(&a, &b).unwrap();
        assert!((w - 0.5 / 0.5f64.sqrt()).abs() < 1e-15);
        // Disjoint windows: D = 1.
        assert_eq!(ks_statistic(&[0.0, 1.0], &[2.0, 3.0, 4.0]).unwrap(), 1.0);
    }

    #[test]
    fn categorical_statistics() {
        let reference = ["cat", "dog", "dog", "bird"];
        let current = ["cat", "fish", "dog", "dog"];
        // JS: p = (bird .25, cat .25, dog .5, fish 0), q = (0, .25, .5, .25).
        let js = js_distance(&reference, &current).unwrap();
        let kl = 0.25 * (0.25f64 / 0.125).ln();
        let want = ((2.0 * kl) / std::f64::consts::LN_2 / 2.0).sqrt();
        assert!((js - want).abs() < 1e-15, "{js} {want}");
        let psi = psi_categorical(&reference, &current).unwrap();
        let e = PSI_EPSILON;
        let want = 2.0 * (0.25 - e) * (0.25 / e).ln();
        assert!((psi - want).abs() < 1e-12);
        // Disjoint categories: JS distance 1; owned strings work too.
        let a = vec!["x".to_string(); 3];
        let b = vec!["y".to_string(), "z".to_string()];
        assert_eq!(js_distance(&a, &b).unwrap(), 1.0);
        assert_eq!(js_distance(&[1u8, 2], &[2, 1]).unwrap(), 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let ok = [1.0, 2.0];
        let empty: [f64; 0] = [];
        let reference = QualityError::EmptyWindow { what: "reference" };
        let current = QualityError::EmptyWindow { what: "current" };
        assert_eq!(psi(&empty, &ok, 10), Err(reference.clone()));
        assert_eq!(psi(&ok, &empty, 10), Err(current.clone()));
        assert_eq!(psi(&ok, &ok, 0), Err(QualityError::NoBins));
        assert_eq!(ks_statistic(&empty, &ok), Err(reference.clone()));
        assert_eq!(wasserstein_normed(&ok, &empty), Err(current.clone()));
        let nan = QualityError::NonFiniteValue {
            what: "current",
            index: 1,
        };
        assert_eq!(psi(&ok, &[0.0, f64::NAN], 10), Err(nan.clone()));
        assert_eq!(ks_statistic(&ok, &[0.0, f64::INFINITY]), Err(nan.clone()));
        assert_eq!(
            wasserstein_normed(&[f64::NEG_INFINITY], &ok),
            Err(QualityError::NonFiniteValue {
                what: "reference",
                index: 0
            })
        );
        let no_cats: [&str; 0] = [];
        assert_eq!(psi_categorical(&no_cats, &["a"]), Err(reference.clone()));
        assert_eq!(js_distance(&["a"], &no_cats), Err(current.clone()));

        let v = vec![vec![0.0f32; 3]; 2];
        let none: Vec<Vec<f32>> = Vec::new();
        assert_eq!(embedding_mean_shift(&none, &v), Err(reference));
        assert_eq!(mmd_rbf(&v, &none), Err(current));
        let zero = vec![Vec::<f32>::new(); 2];
        assert_eq!(mmd_rbf(&zero, &zero), Err(QualityError::ZeroDimension));
        let short = vec![vec![0.0f32; 3], vec![0.0; 2]];
        assert_eq!(
            mmd_rbf(&v, &short),
            Err(QualityError::DimensionMismatch {
                what: "current",
                index: 1,
                expected: 3,
                actual: 2
            })
        );
        let bad = vec![vec![0.0f32; 3], vec![0.0, f32::NAN, 0.0]];
        assert_eq!(
            embedding_mean_shift(&bad, &v),
            Err(QualityError::NonFiniteValue {
                what: "reference",
                index: 1
            })
        );
    }

    #[test]
    fn thresholds_and_status() {
        let t = Thresholds {
            warn: 0.1,
            alert: 0.25,
        };
        assert_eq!(t.status(0.0), DriftStatus::Ok);
        assert_eq!(t.status(0.0999), DriftStatus::Ok);
        assert_eq!(t.status(0.1), DriftStatus::Warn);
        assert_eq!(t.status(0.25), DriftStatus::Alert);
        assert_eq!(t.status(7.0), DriftStatus::Alert);
        assert_eq!(t.status(f64::NAN), DriftStatus::Alert);
        assert_eq!(DriftMethod::Psi.default_thresholds(), t);
        let worst = [DriftStatus::Warn, DriftStatus::Ok, DriftStatus::Alert]
            .into_iter()
            .max();
        assert_eq!(worst, Some(DriftStatus::Alert));
        assert!(DriftStatus::Ok < DriftStatus::Warn);
        for m in DriftMethod::ALL {
            let t = m.default_thresholds();
            assert!(0.0 < t.warn && t.warn < t.alert, "{m}");
        }
    }

    #[test]
    fn serde_names_match_as_str() {
        for s in [DriftStatus::Ok, DriftStatus::Warn, DriftStatus::Alert] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<DriftStatus>(&json).unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        let names: Vec<&str> = DriftMethod::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            names,
            [
                "psi",
                "js_distance",
                "ks",
                "wasserstein_normed",
                "mean_shift",
                "mmd",
                "displacement"
            ]
        );
        for m in DriftMethod::ALL {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<DriftMethod>(&json).unwrap(), m);
        }
        let t: Thresholds = serde_json::from_str(r#"{"warn": 0.1, "alert": 0.2}"#).unwrap();
        assert_eq!(
            t,
            Thresholds {
                warn: 0.1,
                alert: 0.2
            }
        );
        assert!(serde_json::from_str::<Thresholds>(r#"{"warn": 0.1}"#).is_err());
    }
}
