//! k-fold cross-validation of the whole recipe (holdout fit choosing `C` and iterations on
//! the fold's own key-hash split, then the served fit on every training row of the fold),
//! scored on the fold's held-out rows. Folds come from [`sightline_train::dataset::fold_of`],
//! which `scripts/head_cv.py` reproduces to score scikit-learn on the same folds.

use std::time::Instant;

use sightline_train::trainer::{evaluate, fit_on};
use sightline_train::{train_head, LabelledSet, Split, TrainConfig};

use crate::RetrainError;

/// One fold's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldScore {
    /// Fold index.
    pub fold: usize,
    /// Held-out rows.
    pub rows: usize,
    /// Accuracy of the served fit on them.
    pub accuracy: f64,
    /// Its macro-F1.
    pub macro_f1: f64,
    /// The `C` the holdout fit chose.
    pub c: f64,
}

/// Cross-validation scores.
#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    /// Per fold.
    pub folds: Vec<FoldScore>,
    /// Accuracy over all held-out rows (pooled).
    pub accuracy: f64,
    /// Mean macro-F1 over folds.
    pub macro_f1: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs `k`-fold cross-validation of the recipe in `config` on `set`.
pub fn cross_validate(
    set: &LabelledSet,
    k: usize,
    config: &TrainConfig,
) -> Result<CvReport, RetrainError> {
    if k < 2 {
        return Err(RetrainError::Invalid(
            "cross-validation needs at least 2 folds".into(),
        ));
    }
    let started = Instant::now();
    let mut folds = Vec::new();
    for (fold, split) in Split::folds(set, k).into_iter().enumerate() {
        if split.validation.is_empty() {
            continue;
        }
        let train = set.subset(&split.train);
        let test = set.subset(&split.validation);
        let holdout = train_head(&train, config)?;
        let mut served_config = config.clone();
        served_config.c_grid = vec![holdout.c];
        served_config.fit.max_iter = holdout.iterations.max(1);
        let (served, _, _) = fit_on(&train, None, &served_config)?;
        let m = evaluate(&served, &test)?;
        tracing::info!(fold, accuracy = m.accuracy, c = holdout.c, "fold done");
        folds.push(FoldScore {
            fold,
            rows: m.rows,
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            c: holdout.c,
        });
    }
    let rows: usize = folds.iter().map(|f| f.rows).sum();
    let correct: f64 = folds.iter().map(|f| f.accuracy * f.rows as f64).sum();
    Ok(CvReport {
        accuracy: correct / rows.max(1) as f64,
        macro_f1: folds.iter().map(|f| f.macro_f1).sum::<f64>() / folds.len().max(1) as f64,
        folds,
        seconds: started.elapsed().as_secs_f64(),
    })
}
