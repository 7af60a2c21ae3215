//! One batch of queue messages, end to end: intake (parse, route) → prepare → infer →
//! settle per message → write. Preparing and inference overlap: while one micro-batch is
//! on the models, the next images are fetched and decoded.

use std::collections::HashSet;

use futures::stream::{FuturesUnordered, StreamExt};
use sightline_core::{ResultRow, WorkItem};
use sightline_queue::{parse_body, Message};

use crate::heads::BatchHeads;
use crate::outcome::{ItemOutcome, Settled};
use crate::prepare::{PrepareResult, Prepared};
use crate::Pipeline;

/// The outcome of one batch.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Messages in the batch.
    pub messages: usize,
    /// Ids of messages to retry (transient failures, unparseable bodies, failed writes).
    pub failed: Vec<String>,
    /// Rows written (success and error rows).
    pub rows: usize,
    /// Error rows among them.
    pub error_rows: usize,
    /// Objects skipped: keys outside the incoming prefix, test events.
    pub skipped: usize,
    /// Keys of the Parquet files written.
    pub files: Vec<String>,
    /// The rows written, for callers that show or check them (not kept by the worker).
    pub written: Vec<ResultRow>,
    /// Milliseconds spent writing the Parquet files (encoding and PUTs).
    pub write_ms: f64,
}

/// The work items of a batch, each with the index of the message it came from.
#[derive(Debug, Default)]
struct Intake {
    items: Vec<WorkItem>,
    owners: Vec<usize>,
}

impl Pipeline {
    /// Processes one batch of queue messages: every object routed to a catalog ends as a
    /// row in this batch's Parquet file(s), or its message is reported in
    /// [`BatchReport::failed`] for retry (then nothing of that message is written, so a
    /// retry never duplicates rows).
    pub async fn process_messages(&self, messages: &[Message]) -> BatchReport {
        let mut report = BatchReport {
            messages: messages.len(),
            ..BatchReport::default()
        };
        let intake = self.intake(messages, &mut report);
        // Boxed: the stage futures nest deeply, and a binary that awaits this inside the
        // Lambda runtime's future otherwise hits rustc's query depth limit.
        let outcomes = Box::pin(self.process_items(intake.items)).await;
        let mut retry: HashSet<usize> = HashSet::new();
        for (o, &m) in outcomes.iter().zip(&intake.owners) {
            if let ItemOutcome::Retry(reason) = o {
                tracing::warn!(message_id = %messages[m].id, %reason, "transient failure, will retry");
                retry.insert(m);
            }
        }
        let rows: Vec<ResultRow> = outcomes
            .into_iter()
            .zip(&intake.owners)
            .filter(|(_, m)| !retry.contains(m))
            .filter_map(|(o, _)| match o {
                ItemOutcome::Row(r) => Some(*r),
                ItemOutcome::Retry(_) => None,
            })
            .collect();
        let writing = std::time::Instant::now();
        let written = self.write_rows(&rows).await;
        report.write_ms = writing.elapsed().as_secs_f64() * 1e3;
        match written {
            Ok(files) => {
                report.files = files;
                report.rows = rows.len();
                report.error_rows = rows.iter().filter(|r| r.error_kind.is_some()).count();
                report.written = rows;
            }
            Err(e) => {
                tracing::error!(error = %e, "writing results failed; the batch will be retried");
                retry.extend(intake.owners.iter().copied());
            }
        }
        let mut failed: Vec<usize> = retry.into_iter().collect();
        failed.sort();
        report
            .failed
            .extend(failed.into_iter().map(|m| messages[m].id.clone()));
        report
    }

    /// Parses and routes every message. Unparseable ones go straight to
    /// `report.failed` (the queue redelivers them, then dead-letters them).
    fn intake(&self, messages: &[Message], report: &mut BatchReport) -> Intake {
        let mut intake = Intake::default();
        for (m, msg) in messages.iter().enumerate() {
            let objects = match parse_body(&msg.body) {
                Ok(objects) => objects,
                Err(e) => {
                    tracing::warn!(message_id = %msg.id, error = %e, "unparseable message");
                    report.failed.push(msg.id.clone());
                    continue;
                }
            };
            if objects.is_empty() {
                report.skipped += 1; // s3:TestEvent and friends
            }
            for o in objects {
                match self.route(o) {
                    Some(item) => {
                        intake.items.push(item);
                        intake.owners.push(m);
                    }
                    None => report.skipped += 1,
                }
            }
        }
        intake
    }

    /// Runs every item through prepare → infer → row, overlapping the stages. Returns one
    /// outcome per item, in order.
    pub async fn process_items(&self, items: Vec<WorkItem>) -> Vec<ItemOutcome> {
        let n = items.len();
        let heads = self.batch_heads(&items).await;
        let mut out: Vec<Option<ItemOutcome>> = vec![None; n];
        let fetch = self.settings.fetch_concurrency.max(1);
        let batch = self.settings.infer_batch.max(1);
        // One run per inference thread plus one queued, so a thread never waits for work.
        let slots = self.settings.infer_threads.max(1) + 1;
        let mut next = 0;
        let mut preparing = FuturesUnordered::new();
        let mut inferring = FuturesUnordered::new();
        let mut ready: Vec<Prepared<'_>> = Vec::new();
        let mut record = |s: Settled| out[s.index] = Some(s.outcome);
        loop {
            while next < n && preparing.len() < fetch && ready.len() < batch * slots {
                preparing.push(self.prepare(next, &items[next]));
                next += 1;
            }
            while !ready.is_empty() && inferring.len() < slots {
                let take = ready.len().min(batch);
                inferring.push(self.infer_chunk(ready.drain(..take).collect(), &items, &heads));
            }
            if preparing.is_empty() && inferring.is_empty() {
                break;
            }
            // Images decoded while the engine is busy form the next, larger micro-batch.
            tokio::select! {
                Some(p) = preparing.next(), if !preparing.is_empty() => match p {
                    PrepareResult::Ready(p) => ready.push(*p),
                    PrepareResult::Settled(s) => record(s),
                },
                Some(done) = inferring.next(), if !inferring.is_empty() => {
                    done.into_iter().for_each(&mut record);
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| ItemOutcome::Retry("item was not processed".into())))
            .collect()
    }

    /// The champion head of every (results bucket, catalog) among `items` that has one.
    async fn batch_heads(&self, items: &[WorkItem]) -> BatchHeads {
        let mut heads = BatchHeads::new();
        for item in items {
            let key = self.head_key(item);
            if heads.contains_key(&key) {
                continue;
            }
            let Some(plan) = self.plans.get(&item.catalog) else {
                continue;
            };
            let Some(c) = &plan.classifier else { continue };
            let backbone = (
                self.plans.models().get(c.model).manifest.name.as_str(),
                plan.embedding_dim,
            );
            if let Some(h) = self.heads.current(&key.0, plan, backbone).await {
                heads.insert(key, h);
            }
        }
        heads
    }

    /// Where an item's head is looked up: its results bucket and catalog.
    pub(crate) fn head_key(&self, item: &WorkItem) -> (String, String) {
        let bucket = self.settings.results_bucket_for(&item.object.bucket);
        (bucket.to_string(), item.catalog.clone())
    }
}
