use sightline_aws::AwsError;

/// Why a queue operation or an event parse failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A message body that is not an event Sightline understands. Retrying cannot help:
    /// log it and acknowledge the message.
    #[error("bad message: {reason}")]
    BadMessage {
        /// What is wrong with it.
        reason: String,
    },
    /// A failed SQS call (its target is the queue URL), classified by
    /// [`AwsError::from_sdk`]: transient (5xx, throttling, timeouts, connection errors), or
    /// not (missing queue, access denied, invalid receipt handle, invalid request).
    #[error(transparent)]
    Sqs(#[from] AwsError),
}

impl QueueError {
    /// Whether retrying the same operation may succeed. A worker keeps polling through
    /// transient errors and stops on the others (a queue that does not exist stays missing).
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::BadMessage { .. } => false,
            QueueError::Sqs(e) => e.is_transient(),
        }
    }
}
