//! Sightline's model-quality reports: is the model still right (metrics against ground
//! truth, where labels exist) and have the incoming images changed (label-free drift)?
//!
//! A run ([`run::run_report`]) reads the results table of one catalog, splits it into a
//! reference and a current [`window`], joins ground truth from `labels/<catalog>/`
//! ([`labels`]), computes metrics and drift ([`compute`](mod@crate::compute)) and writes:
//! * `metrics/catalog=<c>/date=<d>/report-<id>.parquet` and
//!   `drift/catalog=<c>/date=<d>/report-<id>.parquet` ([`outputs`]),
//! * `reports/catalog=<c>/date=<d>/report-<id>.json` (the [`summary::Report`]) and
//!   `….html` ([`html`], self-contained, inline SVG),
//!
//! then, when a metric is below its floor or a drift test reaches alert, sends a
//! [`summary::RetrainRequest`] to the retrain queue.

pub mod compute;
pub mod emf;
pub mod html;
pub mod labels;
pub mod outputs;
pub mod run;
pub mod schedule;
pub mod summary;
pub mod versions;
pub mod window;
pub mod yolo;

pub use compute::{compute, ReportConfig};
pub use run::{run_report, ReportOutputs, ReportTarget};
pub use summary::{Report, RetrainRequest};

/// Errors of a report run.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading results or labels, or writing outputs.
    #[error(transparent)]
    Storage(#[from] sightline_storage::StorageError),
    /// Decoding results or encoding report tables.
    #[error(transparent)]
    Tables(#[from] sightline_tables::TablesError),
    /// The metrics rejected their input.
    #[error("metrics: {0}")]
    Quality(#[from] sightline_quality::QualityError),
    /// Sending the retrain request.
    #[error(transparent)]
    Queue(#[from] sightline_queue::QueueError),
    /// Encoding the JSON summary.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A labels file could not be read.
    #[error("labels file {key}: {message}")]
    Labels {
        /// Its key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A setting of the environment is malformed (the parsers shared with every function).
    #[error(transparent)]
    Settings(#[from] sightline_core::CoreError),
    /// A setting is missing or malformed.
    #[error("{name}: {message}")]
    Config {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A bug: a computation task panicked.
    #[error("{0}")]
    Internal(String),
    /// A window could not be parsed.
    #[error("window {spec:?}: {message}")]
    Window {
        /// The window as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
}

impl ReportError {
    /// Whether retrying the run may help (storage or queue trouble), as opposed to a
    /// configuration or data problem that needs a person.
    pub fn is_transient(&self) -> bool {
        match self {
            ReportError::Storage(e) => {
                matches!(e.disposition(), sightline_core::Disposition::Transient)
            }
            ReportError::Queue(_) => true,
            _ => false,
        }
    }
}
