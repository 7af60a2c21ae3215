//! Embedded mode: a local folder is the bucket, the in-process queue is the queue.
//! Every file under the folder is announced as if it had just been uploaded to
//! `incoming/<catalog>/<path>`, and the same worker loop as in the container processes it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sightline_core::Settings;
use sightline_queue::{s3_event_body, MemoryQueue, Queue};
use sightline_storage::{LocalStore, Store};

use crate::{run_worker, BatchReport, Pipeline, PipelineError, WorkerOptions, WorkerStats};

/// Name used as the bucket of a local source folder in result rows.
pub const LOCAL_BUCKET: &str = "local";

/// Deliveries of one message before the in-process queue dead-letters it.
pub const MAX_RECEIVES: u32 = 3;

/// An embedded run's outcome.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedRun {
    /// Objects announced.
    pub objects: usize,
    /// Worker totals.
    pub stats: WorkerStats,
    /// Keys of messages that failed [`MAX_RECEIVES`] times.
    pub dead_letters: Vec<String>,
}

/// The stores of an embedded run: `source` mounted at `incoming/<catalog>/`, results
/// written under `output`.
pub fn stores(source: &Path, catalog: &str, settings: &Settings, output: &Path) -> (Store, Store) {
    let mount = format!("{}{catalog}/", settings.incoming_prefix);
    (
        Store::Local(LocalStore::new(source).mounted_at(mount)),
        Store::Local(LocalStore::new(output)),
    )
}

/// Processes every file of the pipeline's source folder through the in-process queue.
/// `on_start` learns the number of objects; `on_batch` sees each batch.
pub async fn run_folder(
    pipeline: Arc<Pipeline>,
    source: &Store,
    batch: usize,
    on_start: impl FnOnce(usize),
    on_batch: impl Fn(&BatchReport) + Send + Sync + 'static,
) -> Result<EmbeddedRun, PipelineError> {
    let objects = source.list(LOCAL_BUCKET, "").await?;
    on_start(objects.len());
    let memory = MemoryQueue::new(MAX_RECEIVES);
    let queue = Queue::Memory(memory.clone());
    queue
        .send(
            objects
                .iter()
                .map(|o| s3_event_body(std::slice::from_ref(o)))
                .collect(),
        )
        .await?;
    let options = WorkerOptions {
        receive_max: batch,
        wait: Duration::from_millis(50),
        exit_when_idle: Some(Duration::ZERO),
        retry_delay: Duration::ZERO,
        ..WorkerOptions::default()
    };
    let stats = run_worker(pipeline, queue, options, std::future::pending(), on_batch).await?;
    let dead_letters = memory
        .dead_letters()
        .iter()
        .flat_map(|m| sightline_queue::parse_body(&m.body).unwrap_or_default())
        .map(|o| o.key)
        .collect();
    Ok(EmbeddedRun {
        objects: objects.len(),
        stats,
        dead_letters,
    })
}
