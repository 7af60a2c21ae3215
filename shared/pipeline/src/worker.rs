//! The queue-polling loop: receive a batch, process it, acknowledge what was written,
//! hand back what must be retried. Used by the container worker (SQS) and by embedded
//! mode (the in-process queue).

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use sightline_queue::{retry_delay, Backoff, Message, Queue, QueueError};
use tokio::task::JoinSet;

use crate::{BatchReport, Pipeline, PipelineError};

/// How the worker polls.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    /// Messages per receive. Default 10 (the SQS maximum).
    pub receive_max: usize,
    /// Long-poll wait per receive. Default 20 s (the SQS maximum).
    pub wait: Duration,
    /// Batches in flight at once. Default 2: one batch is on the inference threads while
    /// the next is downloaded and decoded.
    pub concurrent_batches: usize,
    /// Stop once the queue has been empty this long and nothing is in flight. Receives that
    /// keep failing (transiently) count as idle too: the worker then stops with the last
    /// error. Default `None`: run until shutdown.
    pub exit_when_idle: Option<Duration>,
    /// Base of the delay before a failed message becomes visible again: exponential in its
    /// receive count, with jitter, at most 12 hours ([`sightline_queue::retry_delay`]).
    /// Default 5 s; zero makes failed messages visible again at once.
    pub retry_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            receive_max: 10,
            wait: Duration::from_secs(20),
            concurrent_batches: 2,
            exit_when_idle: None,
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// Totals over a worker's life.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    /// Batches processed.
    pub batches: usize,
    /// Messages received (a retried message counts each time).
    pub messages: usize,
    /// Rows written.
    pub rows: usize,
    /// Error rows among them.
    pub error_rows: usize,
    /// Messages handed back for retry.
    pub retried: usize,
    /// Objects skipped (outside the incoming prefix, test events).
    pub skipped: usize,
    /// Parquet files written.
    pub files: usize,
    /// Seconds from the first message received to the last batch finished (model
    /// loading and idle waiting excluded): the denominator of throughput figures.
    pub busy_seconds: f64,
}

impl WorkerStats {
    fn add(&mut self, r: &BatchReport, messages: usize) {
        self.batches += 1;
        self.messages += messages;
        self.rows += r.rows;
        self.error_rows += r.error_rows;
        self.retried += r.failed.len();
        self.skipped += r.skipped;
        self.files += r.files.len();
    }
}

/// The first wait after a failed receive; it doubles (with jitter) on each further failure.
const RECEIVE_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between failed receives (the SQS long-poll time).
const RECEIVE_BACKOFF_CAP: Duration = Duration::from_secs(20);

async fn settle(queue: &Queue, messages: &[Message], report: &BatchReport, base: Duration) {
    let (failed, ok): (Vec<Message>, Vec<Message>) = messages
        .iter()
        .cloned()
        .partition(|m| report.failed.contains(&m.id));
    if let Err(e) = queue.ack(&ok).await {
        // The rows are written under content-derived names: a redelivery overwrites them.
        tracing::warn!(error = %e, "acknowledging messages failed; they will be redelivered");
    }
    if !failed.is_empty() {
        let count = failed
            .iter()
            .map(|m| m.receive_count)
            .max()
            .unwrap_or(1)
            .max(1);
        if let Err(e) = queue.retry(&failed, retry_delay(base, count)).await {
            tracing::warn!(error = %e, "returning messages for retry failed; they reappear after the visibility timeout");
        }
    }
}

/// A received batch, to process and settle on its own task.
struct Batch {
    pipeline: Arc<Pipeline>,
    queue: Queue,
    messages: Vec<Message>,
    retry_delay: Duration,
}

impl Batch {
    /// Processes the messages, acknowledges or returns them, shows the report.
    async fn run(self, on_batch: &(dyn Fn(&BatchReport) + Send + Sync)) -> Done {
        let report = self.pipeline.process_messages(&self.messages).await;
        settle(&self.queue, &self.messages, &report, self.retry_delay).await;
        on_batch(&report);
        (report, self.messages.len(), Instant::now())
    }
}

impl WorkerOptions {
    /// The long-poll wait: when exiting on idle, no longer than the idle time (at least 1 s).
    fn poll_wait(&self) -> Duration {
        self.exit_when_idle.map_or(self.wait, |idle| {
            self.wait.min(idle.max(Duration::from_secs(1)))
        })
    }
}

/// A finished batch: its report, how many messages it had, when it finished.
type Done = (BatchReport, usize, Instant);

/// Polls `queue` until `shutdown` resolves (or the queue stays idle, see
/// [`WorkerOptions::exit_when_idle`]). On shutdown it stops receiving and finishes the
/// batches in flight, acknowledging them, so no received message is lost. A receive in
/// progress gets [`RECEIVE_GRACE`] (0.5 s) to return what it took; an idle long poll is
/// then abandoned, so an idle worker stops within about half a second. `on_batch` sees every batch report.
///
/// A failed receive is retried after an exponential back-off with jitter (0.5 s doubling
/// to at most 20 s, reset by a successful receive) while it is transient. A permanent one
/// (the queue does not exist, access denied) stops the worker: it finishes the batches in
/// flight and returns the error.
pub async fn run_worker(
    pipeline: Arc<Pipeline>,
    queue: Queue,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()>,
    on_batch: impl Fn(&BatchReport) + Send + Sync + 'static,
) -> Result<WorkerStats, PipelineError> {
    let on_batch = Arc::new(on_batch);
    let mut stats = WorkerStats::default();
    let mut inflight: JoinSet<Done> = JoinSet::new();
    let mut first_receive: Option<Instant> = None;
    let mut last_work = Instant::now();
    let mut record = |done: Result<Done, tokio::task::JoinError>, last_work: &mut Instant| {
        let (report, n, at) = done.map_err(|e| PipelineError::TaskFailed {
            task: "batch",
            message: e.to_string(),
        })?;
        stats.add(&report, n);
        *last_work = (*last_work).max(at);
        Ok::<_, PipelineError>(())
    };
    // Fused: polled again after it fired, it stays pending instead of panicking.
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut stopping = false;
    let mut backoff = Backoff::new(RECEIVE_BACKOFF, RECEIVE_BACKOFF_CAP);
    let wait = options.poll_wait();
    // The loop ends with the receive error that stopped the worker, if one did.
    let failure = loop {
        while let Some(done) = inflight.try_join_next() {
            record(done, &mut last_work)?;
        }
        // Keep at most `concurrent_batches` in flight.
        while inflight.len() >= options.concurrent_batches.max(1) {
            if let Some(done) = inflight.join_next().await {
                record(done, &mut last_work)?;
            }
        }
        stopping |= shutdown.as_mut().now_or_never().is_some();
        if stopping {
            tracing::info!("shutdown requested; finishing batches in flight");
            break None;
        }
        let receive = queue.receive(options.receive_max, wait);
        let Some(received) = unless_shutdown(receive, shutdown.as_mut(), &mut stopping).await
        else {
            tracing::info!(
                "shutdown requested during an idle receive; finishing batches in flight"
            );
            break None;
        };
        let idle_left = (options.exit_when_idle.filter(|_| inflight.is_empty()))
            .map(|idle| idle.saturating_sub(last_work.elapsed()));
        let messages = match received {
            Ok(m) => m,
            Err(e) => match back_off(e, &mut backoff, idle_left, shutdown.as_mut()).await {
                ControlFlow::Continue(()) => continue,
                ControlFlow::Break(error) => break error,
            },
        };
        backoff.reset();
        if messages.is_empty() {
            if idle_left == Some(Duration::ZERO) {
                break None;
            }
            continue;
        }
        last_work = Instant::now();
        first_receive.get_or_insert(last_work);
        let batch = Batch {
            pipeline: Arc::clone(&pipeline),
            queue: queue.clone(),
            messages,
            retry_delay: options.retry_delay,
        };
        let on_batch = Arc::clone(&on_batch);
        inflight.spawn(async move { batch.run(&*on_batch).await });
    };
    while let Some(done) = inflight.join_next().await {
        record(done, &mut last_work)?;
    }
    if let Some(first) = first_receive {
        stats.busy_seconds = last_work.duration_since(first).as_secs_f64();
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(stats),
    }
}

/// How long a receive may still run once shutdown is requested: a receive that has
/// messages returns them at once (they are then processed and acknowledged), so only an
/// idle long poll outlives this and is abandoned.
const RECEIVE_GRACE: Duration = Duration::from_millis(500);

/// A receive, unless shutdown is requested while it waits (`stopping` is then set): it
/// gets [`RECEIVE_GRACE`] to finish and is abandoned after that (`None`). An abandoned
/// receive took nothing in practice (it was idle); had a message arrived in that instant,
/// the queue hands it out again after its visibility timeout, so nothing is lost.
async fn unless_shutdown<T>(
    receive: impl Future<Output = T>,
    shutdown: Pin<&mut impl Future<Output = ()>>,
    stopping: &mut bool,
) -> Option<T> {
    tokio::pin!(receive);
    if !*stopping {
        tokio::select! {
            received = &mut receive => return Some(received),
            () = shutdown => *stopping = true,
        }
    }
    tokio::time::timeout(RECEIVE_GRACE, receive).await.ok()
}

/// After a failed receive: waits out the back-off and continues, or breaks the polling
/// loop with the error when it is permanent or the worker has been idle long enough
/// (`idle_left` is zero), or without one when shutdown is requested while waiting.
async fn back_off(
    error: QueueError,
    backoff: &mut Backoff,
    idle_left: Option<Duration>,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> ControlFlow<Option<QueueError>> {
    if !error.is_transient() {
        tracing::error!(error = %error, "receive failed permanently; stopping");
        return ControlFlow::Break(Some(error));
    }
    if idle_left == Some(Duration::ZERO) {
        tracing::error!(error = %error, "receive keeps failing and the worker is idle; stopping");
        return ControlFlow::Break(Some(error));
    }
    let delay = backoff.next_delay();
    let delay = idle_left.map_or(delay, |left| delay.min(left));
    tracing::warn!(error = %error, ?delay, "receive failed; backing off");
    tokio::select! {
        () = tokio::time::sleep(delay) => ControlFlow::Continue(()),
        () = shutdown => {
            tracing::info!("shutdown requested; finishing batches in flight");
            ControlFlow::Break(None)
        }
    }
}
