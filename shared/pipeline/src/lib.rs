//! Sightline's pipeline: a batch of queue messages in, one Parquet file per batch out,
//! the same code in every run mode.
//!
//! * [`Pipeline`]: parse events → route to catalogs → fetch concurrently → decode and
//!   preprocess on blocking threads → batched inference → rows → Parquet in the bucket.
//! * [`rows`]: where a results row is built (success and error rows alike).
//! * [`worker`]: the queue-polling loop (SQS in the container worker, the in-process queue
//!   in embedded mode) with graceful shutdown.
//! * [`embedded`]: a local folder treated as a bucket, fed through the in-process queue.

pub mod embedded;
pub mod lambda;
mod pipeline;
pub mod rows;
pub mod worker;

pub use pipeline::{BatchReport, ItemOutcome, Pipeline};
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
}

impl PipelineError {
    /// How one object's failure with this error is handled: the vision and storage
    /// layers classify their own errors; anything else is retried.
    pub fn disposition(&self) -> sightline_core::Disposition {
        match self {
            PipelineError::Vision(e) => e.disposition(),
            PipelineError::Storage(e) => e.disposition(),
            _ => sightline_core::Disposition::Transient,
        }
    }
}
