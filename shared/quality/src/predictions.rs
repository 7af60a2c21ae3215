//! The validated input of the classification metrics.

use crate::QualityError;

/// True labels, top-1 predicted labels and (optionally) class probabilities of `n`
/// samples over the classes `0..n_classes`, checked once so the metrics need not.
///
/// Invariants: `n ≥ 1`, `n_classes ≥ 1`, `y_true.len() == y_pred.len() == n`, every
/// label `< n_classes`, and scores (if any) are a finite row-major `n × n_classes`
/// matrix (`scores[i * n_classes + c]` is sample `i`'s score for class `c`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predictions<'a> {
    y_true: &'a [usize],
    y_pred: &'a [usize],
    n_classes: usize,
    scores: Option<&'a [f32]>,
}

impl<'a> Predictions<'a> {
    /// Labels only. Errors: [`QualityError::Empty`], [`QualityError::NoClasses`],
    /// [`QualityError::LengthMismatch`], [`QualityError::LabelOutOfRange`].
    pub fn new(
        y_true: &'a [usize],
        y_pred: &'a [usize],
        n_classes: usize,
    ) -> Result<Self, QualityError> {
        if n_classes == 0 {
            return Err(QualityError::NoClasses);
        }
        if y_true.is_empty() {
            return Err(QualityError::Empty);
        }
        if y_pred.len() != y_true.len() {
            return Err(QualityError::LengthMismatch {
                what: "y_pred",
                expected: y_true.len(),
                actual: y_pred.len(),
            });
        }
        check_labels("y_true", y_true, n_classes)?;
        check_labels("y_pred", y_pred, n_classes)?;
        Ok(Predictions {
            y_true,
            y_pred,
            n_classes,
            scores: None,
        })
    }

    /// Adds the row-major `n × n_classes` score matrix (probabilities for
    /// [`expected_calibration_error`](crate::expected_calibration_error); any finite
    /// values for the ranking metrics). Errors: [`QualityError::LengthMismatch`],
    /// [`QualityError::NonFiniteScore`].
    pub fn with_scores(self, scores: &'a [f32]) -> Result<Self, QualityError> {
        let expected = self.len() * self.n_classes;
        if scores.len() != expected {
            return Err(QualityError::LengthMismatch {
                what: "scores (n × n_classes)",
                expected,
                actual: scores.len(),
            });
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(QualityError::NonFiniteScore {
                row: i / self.n_classes,
                class: i % self.n_classes,
            });
        }
        Ok(Predictions {
            scores: Some(scores),
            ..self
        })
    }

    /// Number of samples `n` (at least 1).
    pub fn len(&self) -> usize {
        self.y_true.len()
    }

    /// Always `false`: construction rejects empty input.
    pub fn is_empty(&self) -> bool {
        self.y_true.is_empty()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// True class of each sample.
    pub fn y_true(&self) -> &'a [usize] {
        self.y_true
    }

    /// Top-1 predicted class of each sample.
    pub fn y_pred(&self) -> &'a [usize] {
        self.y_pred
    }

    /// The row-major score matrix, if given.
    pub fn scores(&self) -> Option<&'a [f32]> {
        self.scores
    }

    /// The score matrix, or [`QualityError::MissingScores`].
    pub(crate) fn require_scores(&self) -> Result<&'a [f32], QualityError> {
        self.scores.ok_or(QualityError::MissingScores)
    }

    /// Scores of sample `i` (one per class), if scores were given.
    pub fn score_row(&self, i: usize) -> Option<&'a [f32]> {
        let k = self.n_classes;
        self.scores.map(|s| &s[i * k..(i + 1) * k])
    }
}

/// Checks that every label is below `n_classes`.
pub(crate) fn check_labels(
    what: &'static str,
    labels: &[usize],
    n_classes: usize,
) -> Result<(), QualityError> {
    match labels.iter().position(|&l| l >= n_classes) {
        Some(row) => Err(QualityError::LabelOutOfRange {
            what,
            row,
            label: labels[row],
            n_classes,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Predictions::new(&[], &[], 3), Err(QualityError::Empty));
        assert_eq!(
            Predictions::new(&[0], &[0], 0),
            Err(QualityError::NoClasses)
        );
        assert!(matches!(
            Predictions::new(&[0, 1], &[0], 2),
            Err(QualityError::LengthMismatch {
                what: "y_pred",
                expected: 2,
                actual: 1
            })
        ));
        assert!(matches!(
            Predictions::new(&[0, 2], &[0, 1], 2),
            Err(QualityError::LabelOutOfRange {
                what: "y_true",
                row: 1,
                label: 2,
                ..
            })
        ));
        assert!(matches!(
            Predictions::new(&[0, 1], &[5, 1], 2),
            Err(QualityError::LabelOutOfRange {
                what: "y_pred",
                row: 0,
                ..
            })
        ));
        let p = Predictions::new(&[0, 1], &[0, 1], 2).unwrap();
        assert!(matches!(
            p.with_scores(&[0.5, 0.5, 1.0]),
            Err(QualityError::LengthMismatch {
                expected: 4,
                actual: 3,
                ..
            })
        ));
        assert_eq!(
            p.with_scores(&[0.5, 0.5, f32::NAN, 0.0]),
            Err(QualityError::NonFiniteScore { row: 1, class: 0 })
        );
    }

    #[test]
    fn rows() {
        let s = [0.1, 0.9, 0.7, 0.3];
        let p = Predictions::new(&[1, 0], &[1, 0], 2).unwrap();
        assert_eq!(p.score_row(0), None);
        let p = p.with_scores(&s).unwrap();
        assert_eq!(p.score_row(1), Some(&s[2..4]));
        assert_eq!((p.len(), p.n_classes(), p.is_empty()), (2, 2, false));
    }
}
