//! Sightline's model-quality metrics: pure functions, no I/O.
//!
//! * [`coco`]: COCO-style detection AP (pycocotools-compatible).
//! * [`drift`]: label-free drift statistics between a reference and a current window,
//!   each matching scipy / numpy on committed fixtures (`tests/scipy_parity.rs`, made by
//!   `tests/fixtures/make_drift_fixtures.py`):
//!   * numeric features: [`psi`] (Population Stability Index on reference-quantile bins),
//!     [`ks_statistic`] (two-sample Kolmogorov–Smirnov D), [`wasserstein_normed`]
//!     (Wasserstein-1 over the reference standard deviation);
//!   * categorical features: [`psi_categorical`], [`js_distance`] (Jensen–Shannon
//!     distance, base 2);
//!   * embeddings: [`embedding_mean_shift`], [`mmd_rbf`] (squared MMD, RBF kernel);
//!   * [`DriftMethod`], [`Thresholds`] and [`DriftStatus`]: default warn / alert levels
//!     per statistic and the resulting status.
//! * Classification metrics, each matching scikit-learn 1.x on committed fixtures
//!   (`tests/sklearn_parity.rs`, made by `tests/fixtures/make_fixtures.py`):
//!   * [`Predictions`]: the validated input (true labels, top-1 labels, optional
//!     `n × n_classes` probability matrix).
//!   * [`accuracy()`], [`top_k_accuracy`], [`top_k_accuracy_from_lists`].
//!   * [`ConfusionMatrix`] and [`precision_recall_f1`] (per class, macro, micro,
//!     weighted, `zero_division = 0`).
//!   * [`roc_auc_ovr`]: one-vs-rest ROC AUC per class and its macro average.
//!   * [`expected_calibration_error`]: top-1 ECE over equal-width bins.
//!   * [`best_f1_thresholds`]: per class, the score threshold that maximises F1.
//!
//! Classes are the indices `0..n_classes`; every metric is computed over that full label
//! set (scikit-learn's `labels=range(n_classes)`), so a class absent from the data still
//! has a row, a column and a (zero) score.

pub mod accuracy;
pub mod calibration;
pub mod coco;
pub mod confusion;
pub mod drift;
pub mod predictions;
pub mod prf;
pub mod roc;
pub mod threshold;

pub use accuracy::{accuracy, top_k_accuracy, top_k_accuracy_from_lists};
pub use calibration::{expected_calibration_error, Calibration, CalibrationBin, DEFAULT_ECE_BINS};
pub use coco::{evaluate as evaluate_detections, DetectionMetrics, LabeledBox};
pub use confusion::ConfusionMatrix;
pub use drift::{
    embedding_displacement, embedding_mean_shift, js_distance, ks_statistic, mmd_rbf, psi,
    psi_categorical, wasserstein_normed, DriftMethod, DriftStatus, Thresholds, DEFAULT_PSI_BINS,
    MMD_MAX_SAMPLES, PSI_EPSILON,
};
pub use predictions::Predictions;
pub use prf::{precision_recall_f1, ClassMetrics, ClassificationReport};
pub use roc::{roc_auc_ovr, RocAuc};
pub use threshold::{best_f1_thresholds, BestThreshold};

/// Errors of the quality metrics and drift statistics: inputs that do not describe a valid
/// evaluation or comparison.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QualityError {
    /// No samples: every metric here is undefined on an empty set.
    #[error("no samples to evaluate")]
    Empty,
    /// `n_classes` is zero.
    #[error("n_classes must be at least 1")]
    NoClasses,
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        actual: usize,
    },
    /// A class index is not below `n_classes`.
    #[error("{what}[{row}] = {label} is not a class index below n_classes = {n_classes}")]
    LabelOutOfRange {
        /// Which input (`y_true`, `y_pred` or `top_k_lists`).
        what: &'static str,
        /// Sample index.
        row: usize,
        /// The offending label.
        label: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// A score is NaN or infinite.
    #[error("score of sample {row}, class {class} is not finite")]
    NonFiniteScore {
        /// Sample index.
        row: usize,
        /// Class index.
        class: usize,
    },
    /// The metric needs the probability matrix and [`Predictions`] has none.
    #[error("this metric needs scores; use Predictions::with_scores")]
    MissingScores,
    /// `k` is 0, above `n_classes`, or (for top-k lists) above a list's length.
    #[error("k = {k} is invalid: it must be in 1..={max}")]
    InvalidK {
        /// The requested `k`.
        k: usize,
        /// The largest valid `k`.
        max: usize,
    },
    /// A top-k list of [`top_k_accuracy_from_lists`] is shorter than `k`.
    #[error("top-k list of sample {row} has {len} labels, fewer than k = {k}")]
    TopKListTooShort {
        /// Sample index.
        row: usize,
        /// The list's length.
        len: usize,
        /// The requested `k`.
        k: usize,
    },
    /// Zero bins were asked for (calibration or [`psi`]).
    #[error("the number of bins must be at least 1")]
    NoBins,
    /// A top-1 confidence outside `[0, 1]`: calibration needs probabilities.
    #[error("confidence {confidence} of sample {row} is outside [0, 1]")]
    ConfidenceOutOfRange {
        /// Sample index.
        row: usize,
        /// The confidence.
        confidence: f32,
    },
    /// A drift window (`reference` or `current`) has no values or vectors.
    #[error("the {what} window is empty")]
    EmptyWindow {
        /// Which window: `"reference"` or `"current"`.
        what: &'static str,
    },
    /// A drift input holds NaN or an infinity.
    #[error("{what} value {index} is not finite")]
    NonFiniteValue {
        /// Which window: `"reference"` or `"current"`.
        what: &'static str,
        /// Index of the value (for embeddings: of the vector holding it).
        index: usize,
    },
    /// An embedding's dimension differs from the first reference vector's.
    #[error("{what} vector {index} has dimension {actual}, expected {expected}")]
    DimensionMismatch {
        /// Which window: `"reference"` or `"current"`.
        what: &'static str,
        /// Index of the vector.
        index: usize,
        /// The dimension of the first reference vector.
        expected: usize,
        /// The vector's dimension.
        actual: usize,
    },
    /// The embeddings have dimension 0.
    #[error("embeddings must have at least one dimension")]
    ZeroDimension,
}
