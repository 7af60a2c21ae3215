//! One-vs-rest ROC AUC.

use crate::{Predictions, QualityError};

/// ROC AUC of each class against the rest, and their macro average.
#[derive(Debug, Clone, PartialEq)]
pub struct RocAuc {
    /// AUC per class (index = class); `None` when the class is undefined: it has no
    /// positive sample (absent from `y_true`) or no negative one.
    pub per_class: Vec<Option<f64>>,
    /// Unweighted mean over **all** classes; `None` as soon as one class is undefined.
    /// This mirrors scikit-learn 1.9, which returns NaN (with an `UndefinedMetricWarning`)
    /// for such a class and so for the macro average; older releases raised instead.
    pub macro_avg: Option<f64>,
}

impl RocAuc {
    /// Mean over the defined classes only (`None` if none is defined): a lenient
    /// alternative to [`RocAuc::macro_avg`] that scikit-learn does not offer.
    pub fn macro_over_defined(&self) -> Option<f64> {
        let defined: Vec<f64> = self.per_class.iter().flatten().copied().collect();
        if defined.is_empty() {
            None
        } else {
            Some(defined.iter().sum::<f64>() / defined.len() as f64)
        }
    }
}

/// One-vs-rest ROC AUC, as scikit-learn's
/// `roc_auc_score(y_true, scores, multi_class="ovr", average=None | "macro",
/// labels=range(n_classes))`.
///
/// For class `c`, positives are the samples with `y_true == c` (`P` of them), negatives
/// the rest (`N`), and the score is column `c`. The AUC is the probability that a
/// random positive scores above a random negative, ties counting ½:
/// `AUC = (R⁺ − P(P+1)/2) / (P·N)`, where `R⁺` is the sum of the positives' ranks among
/// all `n` scores (ascending, 1-based, tied scores sharing their average rank). This
/// equals the trapezoidal area under the ROC curve that sklearn integrates.
///
/// Unlike sklearn, rows need not sum to 1 (sklearn rejects such scores).
///
/// Errors: [`QualityError::MissingScores`].
pub fn roc_auc_ovr(p: &Predictions<'_>) -> Result<RocAuc, QualityError> {
    let scores = p.require_scores()?;
    let (n, k) = (p.len(), p.n_classes());
    let mut order: Vec<usize> = (0..n).collect();
    let mut per_class = Vec::with_capacity(k);
    for c in 0..k {
        let score = |i: usize| scores[i * k + c];
        let positives = p.y_true().iter().filter(|&&t| t == c).count();
        let negatives = n - positives;
        if positives == 0 || negatives == 0 {
            per_class.push(None);
            continue;
        }
        order.sort_by(|&a, &b| score(a).total_cmp(&score(b)));
        // Sum of the positives' average ranks, group by group of tied scores.
        let mut rank_sum = 0.0f64;
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n && score(order[end]) == score(order[start]) {
                end += 1;
            }
            // Ranks start+1 ..= end share their mean.
            let mean_rank = (start + 1 + end) as f64 / 2.0;
            let pos_in_group = order[start..end]
                .iter()
                .filter(|&&i| p.y_true()[i] == c)
                .count();
            rank_sum += mean_rank * pos_in_group as f64;
            start = end;
        }
        let (pf, nf) = (positives as f64, negatives as f64);
        per_class.push(Some((rank_sum - pf * (pf + 1.0) / 2.0) / (pf * nf)));
    }
    let macro_avg = per_class
        .iter()
        .copied()
        .collect::<Option<Vec<f64>>>()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64);
    Ok(RocAuc {
        per_class,
        macro_avg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_count_half() {
        // Class 0 column: positives {0.9, 0.5}, negatives {0.5, 0.1}:
        // pairs (0.9>0.5, 0.9>0.1, 0.5=0.5, 0.5>0.1) -> 3.5 / 4.
        let s = [0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.1, 0.9];
        let p = Predictions::new(&[0, 0, 1, 1], &[0, 0, 0, 1], 2)
            .unwrap()
            .with_scores(&s)
            .unwrap();
        let auc = roc_auc_ovr(&p).unwrap();
        assert_eq!(auc.per_class[0], Some(0.875));
        assert_eq!(auc.per_class[1], Some(0.875));
        assert_eq!(auc.macro_avg, Some(0.875));
    }

    #[test]
    fn absent_class_is_undefined() {
        let s = [0.8, 0.1, 0.1, 0.3, 0.6, 0.1];
        let p = Predictions::new(&[0, 1], &[0, 1], 3)
            .unwrap()
            .with_scores(&s)
            .unwrap();
        let auc = roc_auc_ovr(&p).unwrap();
        assert_eq!(auc.per_class, vec![Some(1.0), Some(1.0), None]);
        assert_eq!(auc.macro_avg, None);
        assert_eq!(auc.macro_over_defined(), Some(1.0));
        let p = Predictions::new(&[0, 1], &[0, 1], 3).unwrap();
        assert_eq!(roc_auc_ovr(&p), Err(QualityError::MissingScores));
    }
}
