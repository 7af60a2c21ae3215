//! Expected calibration error of the top-1 prediction.

use crate::{Predictions, QualityError};

/// Bins of [`expected_calibration_error`] when the caller has no preference (Guo et al.,
/// 2017).
pub const DEFAULT_ECE_BINS: usize = 15;

/// One confidence bin: `[lower, upper)` (the last bin also holds 1.0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    /// Lower edge, `b / B`.
    pub lower: f64,
    /// Upper edge, `(b + 1) / B`.
    pub upper: f64,
    /// Samples in the bin.
    pub count: usize,
    /// Fraction of them predicted correctly (0 for an empty bin).
    pub accuracy: f64,
    /// Their mean confidence (0 for an empty bin).
    pub confidence: f64,
}

/// Result of [`expected_calibration_error`]: the ECE and the reliability diagram behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// `Σ_b (n_b / n) · |acc_b − conf_b|` over the non-empty bins.
    pub ece: f64,
    /// All `B` bins, lowest first.
    pub bins: Vec<CalibrationBin>,
}

/// Expected calibration error of the top-1 prediction over `bins` equal-width bins.
///
/// For each sample, `confidence_i = scores[i][y_pred[i]]` (the probability of the
/// predicted class, computed in `f64`) and `correct_i = (y_pred[i] == y_true[i])`. The
/// sample falls in bin `b_i = min(⌊confidence_i · B⌋, B − 1)`, i.e. bins are
/// `[b/B, (b+1)/B)` with 1.0 in the last one. With `n_b` samples in bin `b`, `acc_b`
/// their fraction correct and `conf_b` their mean confidence,
/// `ECE = Σ_b (n_b / n) · |acc_b − conf_b|` (empty bins contribute nothing).
/// scikit-learn has no ECE; the fixture computes this formula with numpy.
///
/// Errors: [`QualityError::NoBins`], [`QualityError::MissingScores`],
/// [`QualityError::ConfidenceOutOfRange`] (a confidence outside `[0, 1]`).
pub fn expected_calibration_error(
    p: &Predictions<'_>,
    bins: usize,
) -> Result<Calibration, QualityError> {
    if bins == 0 {
        return Err(QualityError::NoBins);
    }
    let scores = p.require_scores()?;
    let k = p.n_classes();
    let mut count = vec![0usize; bins];
    let mut correct = vec![0usize; bins];
    let mut conf_sum = vec![0f64; bins];
    for (i, (&t, &q)) in p.y_true().iter().zip(p.y_pred()).enumerate() {
        let confidence = scores[i * k + q];
        if !(0.0..=1.0).contains(&confidence) {
            return Err(QualityError::ConfidenceOutOfRange { row: i, confidence });
        }
        let c = f64::from(confidence);
        let b = ((c * bins as f64).floor() as usize).min(bins - 1);
        count[b] += 1;
        correct[b] += usize::from(t == q);
        conf_sum[b] += c;
    }
    let n = p.len() as f64;
    let mut ece = 0.0;
    let bins = (0..bins)
        .map(|b| {
            let (accuracy, confidence) = if count[b] == 0 {
                (0.0, 0.0)
            } else {
                let m = count[b] as f64;
                (correct[b] as f64 / m, conf_sum[b] / m)
            };
            ece += count[b] as f64 / n * (accuracy - confidence).abs();
            CalibrationBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                accuracy,
                confidence,
            }
        })
        .collect();
    Ok(Calibration { ece, bins })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_bins() {
        // Confidences 0.9 (right), 0.8 (wrong), 0.3 (right), 1.0 (right) in 2 bins.
        let s = [0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 1.0, 0.0];
        let p = Predictions::new(&[0, 0, 0, 0], &[0, 1, 0, 0], 2)
            .unwrap()
            .with_scores(&s)
            .unwrap();
        let cal = expected_calibration_error(&p, 2).unwrap();
        assert_eq!(cal.bins[0].count, 1);
        assert_eq!(cal.bins[1].count, 3);
        let high = (2.0f64 / 3.0 - (0.9f32 as f64 + 0.8f32 as f64 + 1.0) / 3.0).abs();
        let low = (1.0 - 0.3f32 as f64).abs();
        assert!((cal.ece - (0.25 * low + 0.75 * high)).abs() < 1e-12);
    }

    #[test]
    fn errors() {
        let p = Predictions::new(&[0], &[0], 2).unwrap();
        assert_eq!(
            expected_calibration_error(&p, 15),
            Err(QualityError::MissingScores)
        );
        let p = p.with_scores(&[1.5, -0.5]).unwrap();
        assert_eq!(expected_calibration_error(&p, 0), Err(QualityError::NoBins));
        assert!(matches!(
            expected_calibration_error(&p, 15),
            Err(QualityError::ConfidenceOutOfRange { row: 0, .. })
        ));
    }
}
