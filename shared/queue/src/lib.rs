//! Job queues and event parsing for Sightline.
//!
//! * [`parse_body`] turns one queue message body (an S3 event notification, the
//!   `s3:TestEvent`, an EventBridge "Object Created" event, or an SNS envelope around an
//!   S3 notification) into the [`ObjectRef`](sightline_core::ObjectRef)s to process. [`s3_event_body`] builds the same
//!   notification for backfills.
//! * [`Queue`] receives, acknowledges, retries and sends messages, on Amazon SQS
//!   ([`SqsQueue`]) or in process ([`MemoryQueue`]). (Lambda-delivered messages become
//!   [`Message`]s in the pipeline's Lambda adapter.)
//! * [`retry_delay`] and [`Backoff`]: exponential back-off with jitter for messages handed
//!   back and for failing receives.

mod backoff;
mod error;
mod event;
mod memory;
mod sqs;

use std::time::Duration;

pub use backoff::{retry_delay, Backoff, MAX_VISIBILITY};
pub use error::QueueError;
pub use event::{parse_body, s3_event_body};
pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The queue's message id.
    pub id: String,
    /// The receipt handle of this receive, used to acknowledge or retry it.
    pub receipt: String,
    /// The body, usually parsed with [`parse_body`].
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// The receive count of a message from its `ApproximateReceiveCount` attribute: 1 when
/// the attribute is missing or invalid.
pub fn parse_receive_count(attribute: Option<&str>) -> u32 {
    attribute.and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// A job queue: Amazon SQS or in-process. Cloning is cheap (clones share the queue).
#[derive(Debug, Clone)]
pub enum Queue {
    /// An Amazon SQS queue.
    Sqs(SqsQueue),
    /// An in-process queue (embedded mode, tests).
    Memory(MemoryQueue),
}

impl Queue {
    /// Receives up to `max` messages (SQS: at most 10), waiting up to `wait` for the first
    /// one (SQS long polling: at most 20 s). Returns an empty batch when none arrived.
    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, QueueError> {
        match self {
            Queue::Sqs(q) => q.receive(max, wait).await,
            Queue::Memory(q) => Ok(q.receive(max, wait).await),
        }
    }

    /// Deletes processed messages (SQS: `DeleteMessageBatch` in chunks of 10). Entries that
    /// the queue refused are reported as one error after every chunk was tried.
    pub async fn ack(&self, messages: &[Message]) -> Result<(), QueueError> {
        match self {
            Queue::Sqs(q) => q.ack(messages).await,
            Queue::Memory(q) => {
                q.ack(messages);
                Ok(())
            }
        }
    }

    /// Makes messages visible again after `delay` (zero: now), so they are redelivered
    /// (SQS: `ChangeMessageVisibilityBatch`, at most 12 hours).
    pub async fn retry(&self, messages: &[Message], delay: Duration) -> Result<(), QueueError> {
        match self {
            Queue::Sqs(q) => q.retry(messages, delay).await,
            Queue::Memory(q) => {
                q.retry(messages, delay);
                Ok(())
            }
        }
    }

    /// Sends messages (SQS: `SendMessageBatch` in chunks of at most 10 messages and 256 KiB).
    pub async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        match self {
            Queue::Sqs(q) => q.send(bodies).await,
            Queue::Memory(q) => {
                q.send(bodies);
                Ok(())
            }
        }
    }
}
