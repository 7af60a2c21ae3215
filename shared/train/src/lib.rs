//! Sightline training: a catalog's own classes learnt as a softmax head on the frozen
//! backbone's embeddings (the 1280 floats every result row stores).
//!
//! * [`dataset`]: labelled examples, the deterministic validation split (hash of the key)
//!   and balanced class weights.
//! * [`softmax`]: multinomial logistic regression (L2, sample weights) fitted with argmin's
//!   L-BFGS; the same objective as scikit-learn's `LogisticRegression` (parity tests in
//!   `tests/sklearn_parity.rs`), plus early stopping on the validation rows.
//! * [`trainer`]: the whole recipe: standardise, pick the L2 strength on the validation
//!   rows, fit, measure.
//! * [`head`]: the trained [`LinearHead`] and its scores.
//! * [`onnx`]: the head as an ONNX graph (Gemm + Softmax) any ONNX Runtime loads.
//!
//! No I/O here: reading rows and labels, the registry and the gate live in
//! `sightline-registry` and `sightline-retrain`.

pub mod dataset;
pub mod head;
pub mod onnx;
pub mod softmax;
pub mod trainer;

// Only for its `threading` feature: ndarray's products use it.
use matrixmultiply as _;

pub use dataset::{class_weights, Example, LabelledSet, Split};
pub use head::LinearHead;
pub use softmax::{fit_softmax, FitOptions, SoftmaxFit};
pub use trainer::{train_head, TrainConfig, TrainedHead, ValidationMetrics};

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Nothing to train on (no labelled rows, or a validation split left empty).
    #[error("no training data: {0}")]
    Empty(String),
    /// Fewer than two classes among the labelled rows.
    #[error("need at least two classes to train a head, found {found}: {classes:?}")]
    SingleClass {
        /// How many classes were found.
        found: usize,
        /// Their names.
        classes: Vec<String>,
    },
    /// Embeddings of different lengths, or not finite.
    #[error("bad embedding for {key}: {message}")]
    BadEmbedding {
        /// The row's key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A setting out of range.
    #[error("invalid training setting: {0}")]
    Config(String),
    /// The optimiser failed.
    #[error("optimiser failed: {0}")]
    Optimiser(String),
}
