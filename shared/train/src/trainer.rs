//! The training recipe: split by key hash, balanced class weights, standardise, choose the
//! L2 strength on the validation rows (with early stopping), and measure the result there.

use sightline_quality::{accuracy, precision_recall_f1, ConfusionMatrix, Predictions};

use crate::dataset::{class_weights, LabelledSet, Split};
use crate::head::{standard_scaler, LinearHead};
use crate::softmax::{fit_softmax, FitOptions, SoftmaxFit, Validation};
use crate::TrainError;

/// What to train, with defaults that suit a few thousand 1280-d embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Share of keys held out for validation (by key hash). Default: 0.2.
    pub validation_fraction: f64,
    /// Values of `C` tried; the lowest validation loss wins. Default: 1.0 alone (see the
    /// README: on the grocery and MRI embeddings, choosing `C` by validation loss picked
    /// smaller values that cost 0.5 to 1 point of accuracy in cross-validation).
    pub c_grid: Vec<f64>,
    /// Weight rows by `n / (classes × count)` so rare classes count as much. Default: true.
    pub balanced: bool,
    /// Optimiser settings (its `c` is replaced by each grid value).
    pub fit: FitOptions,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            validation_fraction: 0.2,
            c_grid: vec![1.0],
            balanced: true,
            fit: FitOptions::default(),
        }
    }
}

/// How a head does on labelled rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationMetrics {
    /// Rows judged.
    pub rows: usize,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Unweighted mean F1 over the head's classes.
    pub macro_f1: f64,
    /// Recall per class (head class order); `None` where the rows had none of the class.
    pub recall: Vec<Option<f64>>,
}

/// A trained head and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedHead {
    /// The head.
    pub head: LinearHead,
    /// The chosen `C`.
    pub c: f64,
    /// L-BFGS iterations of the kept fit.
    pub iterations: u64,
    /// Why the kept fit stopped.
    pub stop: &'static str,
    /// The rows fitted and judged.
    pub split: Split,
    /// Metrics on the validation rows.
    pub validation: ValidationMetrics,
}

/// Trains a head on `set` with `config` (see the module docs).
pub fn train_head(set: &LabelledSet, config: &TrainConfig) -> Result<TrainedHead, TrainError> {
    if !(0.0..1.0).contains(&config.validation_fraction) || config.c_grid.is_empty() {
        return Err(TrainError::Config(
            "validation_fraction must be in [0, 1) and c_grid non-empty".into(),
        ));
    }
    let split = Split::by_key_hash(set, config.validation_fraction);
    if split.validation.is_empty() {
        return Err(TrainError::Empty(format!(
            "no validation rows among {} (need more labelled images)",
            set.len()
        )));
    }
    let (train, valid) = (set.subset(&split.train), set.subset(&split.validation));
    let (head, fit, c) = fit_on(&train, Some(&valid), config)?;
    let validation = evaluate(&head, &valid)?;
    Ok(TrainedHead {
        head,
        c,
        iterations: fit.iterations,
        stop: fit.stop,
        split,
        validation,
    })
}

/// Fits one head per grid value on `train` and keeps the lowest validation loss (without
/// validation rows: the first grid value).
pub fn fit_on(
    train: &LabelledSet,
    valid: Option<&LabelledSet>,
    config: &TrainConfig,
) -> Result<(LinearHead, SoftmaxFit, f64), TrainError> {
    let (mean, scale) = standard_scaler(train.features.view());
    let x = (&train.features - &mean) / &scale;
    let xv = valid.map(|v| (&v.features - &mean) / &scale);
    let weights = if config.balanced {
        class_weights(&train.targets, train.classes.len())
    } else {
        vec![1.0; train.len()]
    };
    let mut best: Option<(SoftmaxFit, f64)> = None;
    let grid = if valid.is_some() {
        &config.c_grid[..]
    } else {
        &config.c_grid[..1]
    };
    for &c in grid {
        let options = FitOptions {
            c,
            ..config.fit.clone()
        };
        let validation = xv.as_ref().zip(valid).map(|(x, v)| Validation {
            x: x.view(),
            y: &v.targets,
        });
        let fit = fit_softmax(
            x.view(),
            &train.targets,
            train.classes.len(),
            &weights,
            &options,
            validation,
        )?;
        let loss = fit.validation_loss.unwrap_or(0.0);
        if best
            .as_ref()
            .is_none_or(|(b, _)| loss < b.validation_loss.unwrap_or(0.0))
        {
            best = Some((fit, c));
        }
    }
    let (fit, c) = best.ok_or_else(|| TrainError::Config("empty C grid".into()))?;
    let head = LinearHead {
        classes: train.classes.clone(),
        mean,
        scale,
        weights: fit.weights.clone(),
        bias: fit.bias.clone(),
    };
    Ok((head, fit, c))
}

/// Accuracy, macro-F1 and per-class recall of `head` on `rows` (whose class list must be
/// the head's).
pub fn evaluate(head: &LinearHead, rows: &LabelledSet) -> Result<ValidationMetrics, TrainError> {
    let predicted = head.predict(rows.features.view());
    metrics(&rows.targets, &predicted, head.classes.len())
}

/// Accuracy, macro-F1 and per-class recall of predicted class indices. A prediction equal
/// to `classes` stands for a class outside the list (a champion that knows other classes):
/// it is always wrong. Macro-F1 averages the `classes` listed, as scikit-learn's
/// `f1_score(average="macro", labels=range(classes))`.
pub fn metrics(
    truth: &[usize],
    predicted: &[usize],
    classes: usize,
) -> Result<ValidationMetrics, TrainError> {
    let p = Predictions::new(truth, predicted, classes + 1)
        .map_err(|e| TrainError::Empty(format!("cannot measure: {e}")))?;
    let cm = ConfusionMatrix::from_predictions(&p);
    let report = precision_recall_f1(&cm);
    let recall = (0..classes)
        .map(|c| (cm.support(c) > 0).then(|| report.per_class[c].recall))
        .collect();
    let macro_f1 = report.per_class[..classes]
        .iter()
        .map(|m| m.f1)
        .sum::<f64>()
        / classes.max(1) as f64;
    Ok(ValidationMetrics {
        rows: truth.len(),
        accuracy: accuracy(&p),
        macro_f1,
        recall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_outside_the_class_list_are_wrong_and_do_not_dilute_macro_f1() {
        // Two classes; the third "prediction" (index 2) is a class the set does not have.
        let m = metrics(&[0, 0, 1, 1], &[0, 2, 1, 1], 2).unwrap();
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.recall, [Some(0.5), Some(1.0)]);
        // F1: class 0 = 2/3 (P 1, R 0.5), class 1 = 1: macro over the two listed classes.
        assert!((m.macro_f1 - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
    }
}
