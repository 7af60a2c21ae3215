//! Accuracy and top-k accuracy.

use crate::predictions::check_labels;
use crate::{Predictions, QualityError};

/// Fraction of samples whose top-1 label is right: `#{i : y_pred[i] == y_true[i]} / n`
/// (scikit-learn `accuracy_score`).
pub fn accuracy(p: &Predictions<'_>) -> f64 {
    let hits = p
        .y_true()
        .iter()
        .zip(p.y_pred())
        .filter(|(t, q)| t == q)
        .count();
    hits as f64 / p.len() as f64
}

/// Fraction of samples whose true class is among the `k` highest scores, as
/// scikit-learn's `top_k_accuracy_score(y_true, scores, k=k, labels=range(n_classes))`.
///
/// Ranking rule (sklearn's reversed stable `argsort`): classes are ordered by score,
/// highest first, and among equal scores the **higher class index ranks first**. So
/// sample `i` is a hit when `#{c : s[c] > s[t] or (s[c] == s[t] and c > t)} < k`, with
/// `t = y_true[i]`. `k == n_classes` gives 1.0 (sklearn warns that this is meaningless).
///
/// Errors: [`QualityError::MissingScores`]; [`QualityError::InvalidK`] for `k == 0` or
/// `k > n_classes` (sklearn would silently score 1.0 for the latter).
pub fn top_k_accuracy(p: &Predictions<'_>, k: usize) -> Result<f64, QualityError> {
    p.require_scores()?;
    let n_classes = p.n_classes();
    if k == 0 || k > n_classes {
        return Err(QualityError::InvalidK { k, max: n_classes });
    }
    let mut hits = 0usize;
    for (i, &t) in p.y_true().iter().enumerate() {
        let row = p.score_row(i).ok_or(QualityError::MissingScores)?;
        let st = row[t];
        let ahead = row
            .iter()
            .enumerate()
            .filter(|&(c, &s)| s > st || (s == st && c > t))
            .count();
        if ahead < k {
            hits += 1;
        }
    }
    Ok(hits as f64 / p.len() as f64)
}

/// Top-k accuracy from ranked label lists (e.g. the top-k labels stored per image):
/// the fraction of samples `i` with `y_true[i]` among the first `k` entries of
/// `top_k_lists[i]`. Equals [`top_k_accuracy`] when the lists are ranked by its rule.
///
/// Errors: [`QualityError::Empty`], [`QualityError::NoClasses`],
/// [`QualityError::LengthMismatch`], [`QualityError::LabelOutOfRange`] (labels or list
/// entries not below `n_classes`), [`QualityError::InvalidK`] (`k == 0` or
/// `k > n_classes`), [`QualityError::TopKListTooShort`] (a list with fewer than `k`
/// entries).
pub fn top_k_accuracy_from_lists<L: AsRef<[usize]>>(
    y_true: &[usize],
    top_k_lists: &[L],
    n_classes: usize,
    k: usize,
) -> Result<f64, QualityError> {
    if n_classes == 0 {
        return Err(QualityError::NoClasses);
    }
    if y_true.is_empty() {
        return Err(QualityError::Empty);
    }
    if top_k_lists.len() != y_true.len() {
        return Err(QualityError::LengthMismatch {
            what: "top_k_lists",
            expected: y_true.len(),
            actual: top_k_lists.len(),
        });
    }
    if k == 0 || k > n_classes {
        return Err(QualityError::InvalidK { k, max: n_classes });
    }
    check_labels("y_true", y_true, n_classes)?;
    let mut hits = 0usize;
    for (row, (&t, list)) in y_true.iter().zip(top_k_lists).enumerate() {
        let list = list.as_ref();
        if list.len() < k {
            return Err(QualityError::TopKListTooShort {
                row,
                len: list.len(),
                k,
            });
        }
        if let Some(&label) = list.iter().find(|&&l| l >= n_classes) {
            return Err(QualityError::LabelOutOfRange {
                what: "top_k_lists",
                row,
                label,
                n_classes,
            });
        }
        if list[..k].contains(&t) {
            hits += 1;
        }
    }
    Ok(hits as f64 / y_true.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_top_k() {
        let scores = [0.5, 0.3, 0.2, 0.2, 0.2, 0.6, 0.1, 0.1, 0.8];
        let p = Predictions::new(&[0, 1, 0], &[0, 2, 2], 3)
            .unwrap()
            .with_scores(&scores)
            .unwrap();
        assert!((accuracy(&p) - 1.0 / 3.0).abs() < 1e-12);
        // Sample 1: class 1 ties class 0 at 0.2; the higher index (1) ranks first.
        assert!((top_k_accuracy(&p, 1).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((top_k_accuracy(&p, 2).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(top_k_accuracy(&p, 3).unwrap(), 1.0);
    }

    #[test]
    fn top_k_ties_prefer_higher_index() {
        // True class 0 ties with class 1: class 1 ranks first, so top-1 misses.
        let p = Predictions::new(&[0], &[0], 2)
            .unwrap()
            .with_scores(&[0.5, 0.5])
            .unwrap();
        assert_eq!(top_k_accuracy(&p, 1).unwrap(), 0.0);
        let p = Predictions::new(&[1], &[1], 2)
            .unwrap()
            .with_scores(&[0.5, 0.5])
            .unwrap();
        assert_eq!(top_k_accuracy(&p, 1).unwrap(), 1.0);
    }

    #[test]
    fn invalid_k_and_missing_scores() {
        let p = Predictions::new(&[0, 1], &[0, 1], 2).unwrap();
        assert_eq!(top_k_accuracy(&p, 1), Err(QualityError::MissingScores));
        let p = p.with_scores(&[0.9, 0.1, 0.2, 0.8]).unwrap();
        assert_eq!(
            top_k_accuracy(&p, 0),
            Err(QualityError::InvalidK { k: 0, max: 2 })
        );
        assert_eq!(
            top_k_accuracy(&p, 3),
            Err(QualityError::InvalidK { k: 3, max: 2 })
        );
    }

    #[test]
    fn from_lists() {
        let lists = [vec![2, 0], vec![1, 2], vec![0, 1]];
        let y = [0, 1, 2];
        assert!((top_k_accuracy_from_lists(&y, &lists, 3, 1).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((top_k_accuracy_from_lists(&y, &lists, 3, 2).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            top_k_accuracy_from_lists(&y, &lists, 3, 3),
            Err(QualityError::TopKListTooShort {
                row: 0,
                len: 2,
                k: 3
            })
        );
        assert_eq!(
            top_k_accuracy_from_lists(&y, &lists, 3, 4),
            Err(QualityError::InvalidK { k: 4, max: 3 })
        );
        assert_eq!(
            top_k_accuracy_from_lists::<Vec<usize>>(&[], &[], 3, 1),
            Err(QualityError::Empty)
        );
        assert!(matches!(
            top_k_accuracy_from_lists(&y, &lists[..2], 3, 1),
            Err(QualityError::LengthMismatch { .. })
        ));
        assert!(matches!(
            top_k_accuracy_from_lists(&y, &[vec![0], vec![7], vec![1]], 3, 1),
            Err(QualityError::LabelOutOfRange {
                what: "top_k_lists",
                row: 1,
                ..
            })
        ));
    }
}
