//! Precision, recall, F1 and support per class, with macro / micro / weighted averages.

use crate::ConfusionMatrix;

/// Precision, recall, F1 and support of one class (or of an average).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMetrics {
    /// `TP / (TP + FP)`; 0 when nothing was predicted as the class.
    pub precision: f64,
    /// `TP / (TP + FN)`; 0 when the class has no true samples.
    pub recall: f64,
    /// `2·TP / (2·TP + FP + FN)` (the harmonic mean of precision and recall); 0 when the
    /// denominator is 0.
    pub f1: f64,
    /// Samples whose true class this is; for averages, all samples.
    pub support: u64,
}

/// Per-class metrics and their three averages, as scikit-learn's
/// `precision_recall_fscore_support(y_true, y_pred, labels=range(n_classes),
/// zero_division=0)` with `average=None`, `"macro"`, `"micro"` and `"weighted"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// One entry per class, index = class.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean of the per-class precision, recall and F1 (every class counts,
    /// including classes without support, which contribute their zeros).
    pub macro_avg: ClassMetrics,
    /// Precision, recall and F1 of the pooled counts `ΣTP`, `ΣFP`, `ΣFN` (for single-label
    /// data all three equal the accuracy).
    pub micro_avg: ClassMetrics,
    /// Mean of the per-class precision, recall and F1 weighted by support.
    pub weighted_avg: ClassMetrics,
}

/// `num / den`, or 0 when `den` is 0 (`zero_division = 0`).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Metrics from the counts: `tp`, `pred = TP + FP`, `truth = TP + FN`.
fn metrics(tp: u64, pred: u64, truth: u64) -> ClassMetrics {
    ClassMetrics {
        precision: ratio(tp, pred),
        recall: ratio(tp, truth),
        f1: ratio(2 * tp, pred + truth),
        support: truth,
    }
}

/// Per-class precision / recall / F1 / support and their macro, micro and weighted
/// averages, from a confusion matrix (see [`ClassificationReport`] for the definitions).
pub fn precision_recall_f1(cm: &ConfusionMatrix) -> ClassificationReport {
    let k = cm.n_classes();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| metrics(cm.true_positives(c), cm.predicted(c), cm.support(c)))
        .collect();
    let total = cm.total();
    let tp: u64 = (0..k).map(|c| cm.true_positives(c)).sum();
    let mean = |f: fn(&ClassMetrics) -> f64, weighted: bool| {
        let (mut num, mut den) = (0.0, 0.0);
        for m in &per_class {
            let w = if weighted { m.support as f64 } else { 1.0 };
            num += w * f(m);
            den += w;
        }
        if den == 0.0 {
            0.0
        } else {
            num / den
        }
    };
    let average = |weighted: bool| ClassMetrics {
        precision: mean(|m| m.precision, weighted),
        recall: mean(|m| m.recall, weighted),
        f1: mean(|m| m.f1, weighted),
        support: total,
    };
    ClassificationReport {
        macro_avg: average(false),
        micro_avg: metrics(tp, total, total),
        weighted_avg: average(true),
        per_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Predictions;

    #[test]
    fn zero_division_is_zero() {
        // Class 2 is never predicted, class 3 never occurs.
        let p = Predictions::new(&[0, 0, 1, 2], &[0, 1, 1, 0], 4).unwrap();
        let r = precision_recall_f1(&ConfusionMatrix::from_predictions(&p));
        assert_eq!(r.per_class[2].precision, 0.0);
        assert_eq!(r.per_class[2].recall, 0.0);
        assert_eq!(
            r.per_class[3],
            ClassMetrics {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                support: 0
            }
        );
        assert_eq!(r.per_class[0].precision, 0.5);
        assert_eq!(r.per_class[0].recall, 0.5);
        assert_eq!(r.per_class[1].f1, 2.0 / 3.0);
        assert_eq!(r.micro_avg.f1, 0.5);
        // Macro precision: (0.5 + 0.5 + 0 + 0) / 4.
        assert_eq!(r.macro_avg.precision, 0.25);
        // Weighted recall: (2·0.5 + 1·1 + 1·0) / 4.
        assert_eq!(r.weighted_avg.recall, 0.5);
        assert_eq!(r.weighted_avg.support, 4);
    }
}
