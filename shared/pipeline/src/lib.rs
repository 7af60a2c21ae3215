//! Sightline's pipeline: a batch of queue messages in, one Parquet file per batch out,
//! the same code in every run mode. The stages, in order:
//!
//! * [`plan`]: catalogs compiled against their models at start-up ([`CatalogPlan`]).
//! * `batch`: intake (parse events, route to catalogs) and the scheduler that overlaps
//!   the stages ([`Pipeline::process_messages`]).
//! * `prepare`: fetch, reserve memory in the [`budget`] (estimated by `footprint` from
//!   the header), decode once, preprocess per model (blocking threads).
//! * `infer`: batched model runs through an [`Inference`] backend (the ONNX Runtime
//!   engine, or a fake in tests).
//! * [`analyze`]: model outputs → labels, tags, detections, gated faces (pure).
//! * [`turns`]: the face model's extra passes on the turned input (catalogs that
//!   redact), merged into the faces to redact.
//! * [`recheck`]: the redacted image re-checked by the face model until it finds nothing.
//! * [`redact`]: face-redacted copies, written concurrently.
//! * [`rows`]: where a results row is built (success and error rows alike).
//! * `write`: rows → Parquet in the results bucket.
//! * [`worker`]: the queue-polling loop (SQS in the container worker, the in-process queue
//!   in embedded mode) with graceful shutdown.
//! * [`embedded`]: a local folder treated as a bucket, fed through the in-process queue.
//! * [`lambda`]: the Lambda adapter (SQS event in, partial batch response out).

pub mod analyze;
mod batch;
pub mod budget;
pub mod embedded;
pub mod emf;
pub mod footprint;
pub mod heads;
mod infer;
pub mod inference;
pub mod lambda;
mod outcome;
mod pipeline;
pub mod plan;
mod prepare;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod recheck;
pub mod redact;
pub mod rows;
pub mod turns;
pub mod worker;
mod write;

pub use batch::BatchReport;
pub use budget::{BudgetError, BudgetPermit, MemoryBudget};
pub use inference::Inference;
pub use outcome::ItemOutcome;
pub use pipeline::{InferenceFactory, Pipeline, PipelineBuilder};
pub use plan::{CatalogPlan, CatalogPlans, ModelId, ModelSet};
pub use worker::{run_worker, WorkerOptions, WorkerStats};

use sightline_core::CoreError;
use sightline_queue::QueueError;
use sightline_storage::StorageError;
use sightline_tables::TablesError;
use sightline_vision::VisionError;

/// Errors that stop a pipeline from starting or a worker from running.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Configuration (settings, catalogs).
    #[error(transparent)]
    Config(#[from] CoreError),
    /// Models or the ONNX Runtime.
    #[error(transparent)]
    Vision(#[from] VisionError),
    /// Object storage.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The queue.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Encoding results.
    #[error(transparent)]
    Tables(#[from] TablesError),
    /// A decoder panicked on this input: a decoder bug the image triggers, so permanent.
    #[error("decoder panicked: {0}")]
    DecoderPanicked(String),
    /// Decoding and preparing the image would need more than the whole memory budget:
    /// permanent (a `too_large` row), never an out-of-memory kill.
    #[error(
        "image is {width}x{height}: decoding and preparing it needs about {needed_mib} MiB, \
         more than the whole memory budget of {budget_mib} MiB (SIGHTLINE_MEMORY_BUDGET_MB; \
         by default a share of the function's or machine's memory)"
    )]
    OverMemoryBudget {
        /// Header width.
        width: u32,
        /// Header height.
        height: u32,
        /// The estimated peak, MiB (rounded up).
        needed_mib: u64,
        /// The whole budget, MiB.
        budget_mib: u64,
    },
    /// The memory budget was closed while the image waited (shutting down): retried.
    #[error("the memory budget is closed (shutting down)")]
    BudgetClosed,
    /// The face-redacted copy could not be encoded.
    #[error("encoding the redacted copy: {0}")]
    RedactionEncoding(String),
    /// A blocking task (Parquet encoding, redaction) or a batch task panicked.
    #[error("{task} task failed: {message}")]
    TaskFailed {
        /// Which task.
        task: &'static str,
        /// The panic or cancellation.
        message: String,
    },
}

impl PipelineError {
    /// How one object's failure with this error is handled: the vision and storage
    /// layers classify their own errors; anything else is retried.
    pub fn disposition(&self) -> sightline_core::Disposition {
        match self {
            PipelineError::Vision(e) => e.disposition(),
            PipelineError::Storage(e) => e.disposition(),
            PipelineError::OverMemoryBudget { .. } => {
                sightline_core::Disposition::Permanent(sightline_core::ErrorKind::TooLarge)
            }
            PipelineError::DecoderPanicked(_) => {
                sightline_core::Disposition::Permanent(sightline_core::ErrorKind::CorruptImage)
            }
            _ => sightline_core::Disposition::Transient,
        }
    }
}
