//! Per-class score threshold that maximises F1.

use std::cmp::Ordering;

use crate::{Predictions, QualityError};

/// The F1-optimal one-vs-rest threshold of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestThreshold {
    /// Predict the class when its score is `>= threshold`.
    pub threshold: f32,
    /// F1 at that threshold, `2·TP / (2·TP + FP + FN)`.
    pub f1: f64,
    /// Precision at that threshold, `TP / (TP + FP)`.
    pub precision: f64,
    /// Recall at that threshold, `TP / (TP + FN)`.
    pub recall: f64,
}

/// For each class `c`, the threshold `t` on score column `c` that maximises the
/// one-vs-rest F1 of the rule "predict `c` when `score ≥ t`" (positives:
/// `y_true == c`).
///
/// Candidates are the distinct scores of the column (scikit-learn's
/// `precision_recall_curve` thresholds). The largest F1 wins; among thresholds with
/// exactly equal F1 (compared as exact fractions) the **lowest** threshold wins. A class
/// with no positive sample gets `None` (its F1 is 0 at every threshold).
///
/// Errors: [`QualityError::MissingScores`].
pub fn best_f1_thresholds(p: &Predictions<'_>) -> Result<Vec<Option<BestThreshold>>, QualityError> {
    let scores = p.require_scores()?;
    let (n, k) = (p.len(), p.n_classes());
    let mut order: Vec<usize> = (0..n).collect();
    let mut out = Vec::with_capacity(k);
    for c in 0..k {
        let score = |i: usize| scores[i * k + c];
        let positives = p.y_true().iter().filter(|&&t| t == c).count() as u64;
        if positives == 0 {
            out.push(None);
            continue;
        }
        // Highest score first; lowering the threshold through each group of equal scores
        // adds the whole group to the predicted positives.
        order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
        // Best so far as (threshold, TP, predicted positives).
        let mut best: Option<(f32, u64, u64)> = None;
        let (mut tp, mut predicted) = (0u64, 0u64);
        let mut start = 0;
        while start < n {
            let t = score(order[start]);
            let mut end = start;
            while end < n && score(order[end]) == t {
                tp += u64::from(p.y_true()[order[end]] == c);
                predicted += 1;
                end += 1;
            }
            start = end;
            // F1 = 2·TP / (predicted + positives); later thresholds are lower, so `>=`
            // hands ties to the lowest threshold.
            let better = match best {
                None => true,
                Some((_, btp, bpred)) => {
                    let lhs = u128::from(2 * tp) * u128::from(bpred + positives);
                    let rhs = u128::from(2 * btp) * u128::from(predicted + positives);
                    lhs.cmp(&rhs) != Ordering::Less
                }
            };
            if better {
                best = Some((t, tp, predicted));
            }
        }
        // n >= 1 gives at least one candidate.
        let Some((threshold, tp, predicted)) = best else {
            out.push(None);
            continue;
        };
        out.push(Some(BestThreshold {
            threshold,
            f1: 2.0 * tp as f64 / (predicted + positives) as f64,
            precision: tp as f64 / predicted as f64,
            recall: tp as f64 / positives as f64,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_max_f1_and_lowest_on_ties() {
        // Class 1 column (scores of samples 0..4): 0.9 (pos), 0.6 (neg), 0.4 (pos), 0.1 (neg).
        // t=0.9: F1 = 2/3; t=0.6: F1 = 2·1/(2+2) = 0.5; t=0.4: F1 = 4/5; t=0.1: 4/6.
        let s = [0.1, 0.9, 0.4, 0.6, 0.6, 0.4, 0.9, 0.1];
        let p = Predictions::new(&[1, 0, 1, 0], &[1, 1, 0, 0], 2)
            .unwrap()
            .with_scores(&s)
            .unwrap();
        let b = best_f1_thresholds(&p).unwrap();
        let one = b[1].unwrap();
        assert_eq!(one.threshold, 0.4);
        assert!((one.f1 - 0.8).abs() < 1e-12);
        assert_eq!((one.precision, one.recall), (2.0 / 3.0, 1.0));
        // Class 0 column: 0.1 (neg), 0.4 (pos), 0.6 (neg), 0.9 (pos): the same curve.
        assert_eq!(b[0].unwrap().threshold, 0.4);
    }

    #[test]
    fn exact_f1_tie_goes_to_lowest_threshold() {
        // Class 0: positives {0.9, 0.3}, negatives {0.6, 0.5}:
        // t=0.9: 2/3, t=0.6: 2/4, t=0.5: 2/5, t=0.3: 4/6 = 2/3 -> 0.3 wins the tie.
        let s = [0.9, 0.1, 0.6, 0.4, 0.5, 0.5, 0.3, 0.7];
        let p = Predictions::new(&[0, 1, 1, 0], &[0, 0, 0, 1], 2)
            .unwrap()
            .with_scores(&s)
            .unwrap();
        let b = best_f1_thresholds(&p).unwrap();
        assert_eq!(b[0].unwrap().threshold, 0.3);
        assert!((b[0].unwrap().f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(b[0].unwrap().recall, 1.0);
    }

    #[test]
    fn no_positives_and_missing_scores() {
        let p = Predictions::new(&[0, 0], &[0, 0], 2).unwrap();
        assert_eq!(best_f1_thresholds(&p), Err(QualityError::MissingScores));
        let p = p.with_scores(&[0.7, 0.3, 0.6, 0.4]).unwrap();
        let b = best_f1_thresholds(&p).unwrap();
        assert_eq!(b[1], None);
        assert_eq!(b[0].unwrap().threshold, 0.6);
        assert_eq!(b[0].unwrap().f1, 1.0);
    }
}
