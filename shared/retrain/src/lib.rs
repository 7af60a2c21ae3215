//! Retraining a catalog's head: labelled result rows → a new version in the registry →
//! the champion/challenger gate → the alias, plus the numbers in the metrics table.
//!
//! * [`examples`]: the latest row per key joined with `labels/<catalog>/`.
//! * [`gate`]: the promotion rule (pure).
//! * [`run`]: one retrain against a bucket ([`retrain`]).
//! * [`request`]: retrain requests from the report's queue, idempotent on `report_key`,
//!   and scheduled runs; [`lambda`] adapts them to Lambda events.
//! * [`cv`]: k-fold cross-validation of the recipe (the accuracy command in the README).

pub mod cv;
pub mod examples;
pub mod gate;
pub mod lambda;
pub mod request;
pub mod run;

pub use examples::{load_examples, LabelledRows};
pub use gate::{GateConfig, GateDecision};

pub use request::{RequestOutcome, RetrainService, RetrainSettings};
pub use run::{backbone_for, retrain, RetrainOptions, RetrainOutcome, RetrainTarget};

use sightline_registry::RegistryError;
use sightline_report::ReportError;
use sightline_storage::StorageError;
use sightline_train::TrainError;

/// Why a retrain failed. Nothing is promoted when it fails.
#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// Reading rows or writing outputs failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading labels or writing the metrics table failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The registry refused or is corrupt.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Training failed (no data, a single class, bad embeddings).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// Running a head failed.
    #[error("head evaluation failed: {0}")]
    Head(String),
    /// A setting of the environment is malformed.
    #[error(transparent)]
    Settings(#[from] sightline_core::CoreError),
    /// Anything else about the request (unknown catalog, bad message).
    #[error("{0}")]
    Invalid(String),
}
