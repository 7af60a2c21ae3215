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
    /// A failure that may go away on retry (5xx, throttling, timeouts, connection errors).
    #[error("{op} failed (transient): {message}")]
    Transient {
        /// The operation (`receive_message`, `delete_message_batch`, …).
        op: &'static str,
        /// What happened.
        message: String,
    },
    /// A failure that retrying will not fix (missing queue, access denied, invalid receipt
    /// handle, invalid request).
    #[error("{op} failed: {message}")]
    Permanent {
        /// The operation (`receive_message`, `delete_message_batch`, …).
        op: &'static str,
        /// What happened.
        message: String,
    },
}
