use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchOutput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use futures::StreamExt;
use sightline_aws::{AwsError, Class};

use crate::{parse_receive_count, Message, QueueError, MAX_VISIBILITY};

/// SQS limits: entries per batch call, bytes per `SendMessageBatch`, long-poll seconds.
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
const MAX_WAIT_SECS: u64 = 20;
/// Batch calls in flight at once (a backfill of 2,000 objects is 200 `SendMessageBatch`
/// calls).
const CONCURRENT_CALLS: usize = 16;

/// An Amazon SQS queue (or a compatible endpoint such as moto).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: Arc<str>,
}

impl SqsQueue {
    /// A queue using an already configured client.
    pub fn new(client: Client, queue_url: String) -> SqsQueue {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// A queue with a client configured from the environment
    /// ([`sightline_aws::load_config`]: region, credentials, `AWS_ENDPOINT_URL` /
    /// `AWS_ENDPOINT_URL_SQS`).
    pub async fn from_env(queue_url: String) -> SqsQueue {
        SqsQueue::new(Client::new(&sightline_aws::load_config().await), queue_url)
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// A failed call on this queue, classified.
    fn error<E>(&self, op: &'static str, err: &SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        AwsError::from_sdk(op, self.queue_url(), err).into()
    }

    pub(crate) async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.queue_url())
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(wait.as_secs().min(MAX_WAIT_SECS) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.error("receive_message", &e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Message {
                receive_count: parse_receive_count(
                    m.attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .map(String::as_str),
                ),
                id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    pub(crate) async fn ack(&self, messages: &[Message]) -> Result<(), QueueError> {
        let request = self
            .client
            .delete_message_batch()
            .queue_url(self.queue_url());
        let entry = |id, m: &Message| {
            let entry = DeleteMessageBatchRequestEntry::builder().id(id);
            entry.receipt_handle(&m.receipt).build()
        };
        let call = |entries| request.clone().set_entries(Some(entries)).send();
        let (op, refused) = ("delete_message_batch", DeleteMessageBatchOutput::failed);
        let chunks = messages.chunks(MAX_BATCH);
        self.in_batches(op, chunks, entry, call, refused, message_label)
            .await
    }

    pub(crate) async fn retry(
        &self,
        messages: &[Message],
        delay: Duration,
    ) -> Result<(), QueueError> {
        let timeout = delay.min(MAX_VISIBILITY).as_secs() as i32;
        let request = (self.client.change_message_visibility_batch()).queue_url(self.queue_url());
        let entry = |id, m: &Message| {
            let entry = ChangeMessageVisibilityBatchRequestEntry::builder().id(id);
            let entry = entry.receipt_handle(&m.receipt).visibility_timeout(timeout);
            entry.build()
        };
        let call = |entries| request.clone().set_entries(Some(entries)).send();
        let op = "change_message_visibility_batch";
        let refused = ChangeMessageVisibilityBatchOutput::failed;
        let chunks = messages.chunks(MAX_BATCH);
        self.in_batches(op, chunks, entry, call, refused, message_label)
            .await
    }

    pub(crate) async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        let request = self.client.send_message_batch().queue_url(self.queue_url());
        let entry = |id, body: &String| {
            let entry = SendMessageBatchRequestEntry::builder().id(id);
            entry.message_body(body).build()
        };
        let call = |entries| request.clone().set_entries(Some(entries)).send();
        let label = |body: &String| format!("body {:?}", body.chars().take(60).collect::<String>());
        let (op, refused) = ("send_message_batch", SendMessageBatchOutput::failed);
        self.in_batches(op, send_chunks(&bodies), entry, call, refused, label)
            .await
    }

    /// One batch call per chunk, [`CONCURRENT_CALLS`] at a time: `entry` builds the
    /// request entry of an item (its id is the item's index in the chunk), `call` sends a
    /// chunk's entries, `refused` picks the entries the queue refused out of the answer,
    /// `label` names an item in messages. Every chunk is tried; refused entries are then
    /// reported as one error, and a failed call as its own error (the first one).
    async fn in_batches<'a, T: 'a, Entry, Out, E, Fut>(
        &self,
        op: &'static str,
        chunks: impl IntoIterator<Item = &'a [T]>,
        entry: impl Fn(String, &T) -> Result<Entry, BuildError>,
        call: impl Fn(Vec<Entry>) -> Fut,
        refused: fn(&Out) -> &[BatchResultErrorEntry],
        label: impl Fn(&T) -> String,
    ) -> Result<(), QueueError>
    where
        Fut: Future<Output = Result<Out, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut calls = Vec::new();
        for chunk in chunks {
            let entries = (chunk.iter().enumerate())
                .map(|(i, item)| entry(i.to_string(), item))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    AwsError::new(op, self.queue_url(), Class::Permanent, e.to_string())
                })?;
            let sent = call(entries);
            calls.push(async move { (chunk, sent.await) });
        }
        let answers: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(CONCURRENT_CALLS)
            .collect()
            .await;
        let mut failed = Failures::default();
        let mut first_error = None;
        for (chunk, answer) in answers {
            match answer {
                Ok(out) => failed.extend(refused(&out), |i| chunk.get(i).map(&label)),
                Err(e) => {
                    first_error.get_or_insert_with(|| self.error(op, &e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => failed.into_result(op, self.queue_url()),
        }
    }
}

/// Names a message in error messages.
fn message_label(m: &Message) -> String {
    format!("message {}", m.id)
}

/// Chunks of at most [`MAX_BATCH`] bodies and [`MAX_BATCH_BYTES`], but at least one body.
fn send_chunks(bodies: &[String]) -> Vec<&[String]> {
    let mut chunks = Vec::new();
    let mut rest = bodies;
    while !rest.is_empty() {
        let mut n = 1;
        let mut bytes = rest[0].len();
        while n < rest.len().min(MAX_BATCH) && bytes + rest[n].len() <= MAX_BATCH_BYTES {
            bytes += rest[n].len();
            n += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Entries that a batch call refused, gathered over all chunks.
#[derive(Default)]
struct Failures {
    messages: Vec<String>,
    sender_fault: bool,
}

impl Failures {
    /// Records the refused entries of one chunk; `label` names the entry at an index.
    fn extend(
        &mut self,
        failed: &[BatchResultErrorEntry],
        label: impl Fn(usize) -> Option<String>,
    ) {
        for f in failed {
            self.sender_fault |= f.sender_fault();
            let what = f
                .id()
                .parse()
                .ok()
                .and_then(&label)
                .unwrap_or_else(|| format!("entry {}", f.id()));
            self.messages.push(format!(
                "{what}: {} {}",
                f.code(),
                f.message().unwrap_or_default()
            ));
        }
    }

    /// Refused entries make the call `op` on `queue` fail: permanent when any was the
    /// sender's fault.
    fn into_result(self, op: &'static str, queue: &str) -> Result<(), QueueError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let class = if self.sender_fault {
            Class::Permanent
        } else {
            Class::Transient
        };
        let message = format!(
            "{} entries failed: {}",
            self.messages.len(),
            self.messages.join("; ")
        );
        Err(AwsError::new(op, queue, class, message).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_chunks_respect_count_and_size() {
        let small: Vec<String> = (0..23).map(|i| i.to_string()).collect();
        let sizes: Vec<usize> = send_chunks(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);

        let big = "x".repeat(100 * 1024);
        let bodies = vec![
            big.clone(),
            big.clone(),
            big.clone(),
            "y".repeat(300 * 1024),
        ];
        let sizes: Vec<usize> = send_chunks(&bodies).iter().map(|c| c.len()).collect();
        assert_eq!(
            sizes,
            [2, 1, 1],
            "256 KiB per call, but an oversized body still goes"
        );
        assert!(send_chunks(&[]).is_empty());
    }
}
