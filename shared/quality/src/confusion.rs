//! The confusion matrix.

use crate::Predictions;

/// Counts of (true class, predicted class) pairs over the classes `0..n_classes`
/// (scikit-learn `confusion_matrix(y_true, y_pred, labels=range(n_classes))`):
/// entry `(t, p)` is `#{i : y_true[i] == t and y_pred[i] == p}`; rows are true classes,
/// columns predicted classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    n_classes: usize,
    /// Row-major `n_classes × n_classes` counts.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Counts the pairs of `p`.
    pub fn from_predictions(p: &Predictions<'_>) -> Self {
        let k = p.n_classes();
        let mut counts = vec![0u64; k * k];
        for (&t, &q) in p.y_true().iter().zip(p.y_pred()) {
            counts[t * k + q] += 1;
        }
        ConfusionMatrix {
            n_classes: k,
            counts,
        }
    }

    /// Number of classes (rows and columns).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Samples of true class `t` predicted as `p`. Panics if either is not below
    /// `n_classes`.
    pub fn get(&self, t: usize, p: usize) -> u64 {
        assert!(
            t < self.n_classes && p < self.n_classes,
            "class out of range"
        );
        self.counts[t * self.n_classes + p]
    }

    /// Row of true class `t`: its samples by predicted class.
    pub fn row(&self, t: usize) -> &[u64] {
        &self.counts[t * self.n_classes..(t + 1) * self.n_classes]
    }

    /// The rows, as nested vectors (for serialising or comparing).
    pub fn to_rows(&self) -> Vec<Vec<u64>> {
        (0..self.n_classes).map(|t| self.row(t).to_vec()).collect()
    }

    /// True positives of class `c`: the diagonal entry `(c, c)`.
    pub fn true_positives(&self, c: usize) -> u64 {
        self.get(c, c)
    }

    /// Samples whose true class is `c` (row sum; the class's support).
    pub fn support(&self, c: usize) -> u64 {
        self.row(c).iter().sum()
    }

    /// Samples predicted as `c` (column sum).
    pub fn predicted(&self, c: usize) -> u64 {
        (0..self.n_classes).map(|t| self.get(t, c)).sum()
    }

    /// All samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let p = Predictions::new(&[0, 0, 1, 2, 2], &[0, 1, 1, 0, 2], 4).unwrap();
        let cm = ConfusionMatrix::from_predictions(&p);
        assert_eq!(
            cm.to_rows(),
            vec![
                vec![1, 1, 0, 0],
                vec![0, 1, 0, 0],
                vec![1, 0, 1, 0],
                vec![0; 4]
            ]
        );
        assert_eq!(
            (cm.support(0), cm.predicted(0), cm.true_positives(2)),
            (2, 2, 1)
        );
        assert_eq!((cm.support(3), cm.predicted(3), cm.total()), (0, 0, 5));
    }
}
