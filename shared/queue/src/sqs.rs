use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use crate::{parse_receive_count, Message, QueueError};

/// SQS limits: entries per batch call, bytes per `SendMessageBatch`, long-poll seconds and
/// visibility timeout seconds.
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
const MAX_WAIT_SECS: u64 = 20;
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;

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

    /// A queue with a client configured from the environment (`aws_config` defaults: region,
    /// credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SQS`).
    pub async fn from_env(queue_url: String) -> SqsQueue {
        let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
        SqsQueue::new(Client::new(&shared), queue_url)
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The queue URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub(crate) async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&*self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(wait.as_secs().min(MAX_WAIT_SECS) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| classify("receive_message", &e))?;
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
        const OP: &str = "delete_message_batch";
        let mut failed = Failures::new(OP);
        for chunk in messages.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Permanent {
                    op: OP,
                    message: e.to_string(),
                })?;
            let out = (self
                .client
                .delete_message_batch()
                .queue_url(&*self.queue_url))
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(OP, &e))?;
            failed.extend(out.failed(), |i| {
                chunk.get(i).map(|m| format!("message {}", m.id))
            });
        }
        failed.into_result()
    }

    pub(crate) async fn retry(
        &self,
        messages: &[Message],
        delay: Duration,
    ) -> Result<(), QueueError> {
        const OP: &str = "change_message_visibility_batch";
        let timeout = delay.as_secs().min(MAX_VISIBILITY_SECS) as i32;
        let mut failed = Failures::new(OP);
        for chunk in messages.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&m.receipt)
                        .visibility_timeout(timeout)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Permanent {
                    op: OP,
                    message: e.to_string(),
                })?;
            let out = (self
                .client
                .change_message_visibility_batch()
                .queue_url(&*self.queue_url))
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(OP, &e))?;
            failed.extend(out.failed(), |i| {
                chunk.get(i).map(|m| format!("message {}", m.id))
            });
        }
        failed.into_result()
    }

    pub(crate) async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        const OP: &str = "send_message_batch";
        let mut failed = Failures::new(OP);
        let mut rest = bodies.as_slice();
        while !rest.is_empty() {
            // At most MAX_BATCH entries and MAX_BATCH_BYTES, but always at least one.
            let mut n = 1;
            let mut bytes = rest[0].len();
            while n < rest.len().min(MAX_BATCH) && bytes + rest[n].len() <= MAX_BATCH_BYTES {
                bytes += rest[n].len();
                n += 1;
            }
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Permanent {
                    op: OP,
                    message: e.to_string(),
                })?;
            let out = (self.client.send_message_batch().queue_url(&*self.queue_url))
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(OP, &e))?;
            failed.extend(out.failed(), |i| {
                chunk
                    .get(i)
                    .map(|b| format!("body {:?}", b.chars().take(60).collect::<String>()))
            });
        }
        failed.into_result()
    }
}

/// Entries that a batch call refused, gathered over all chunks.
struct Failures {
    op: &'static str,
    messages: Vec<String>,
    sender_fault: bool,
}

impl Failures {
    fn new(op: &'static str) -> Failures {
        Failures {
            op,
            messages: Vec::new(),
            sender_fault: false,
        }
    }

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

    /// Refused entries make the call fail: permanent when any was the sender's fault.
    fn into_result(self) -> Result<(), QueueError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let message = format!(
            "{} entries failed: {}",
            self.messages.len(),
            self.messages.join("; ")
        );
        Err(if self.sender_fault {
            QueueError::Permanent {
                op: self.op,
                message,
            }
        } else {
            QueueError::Transient {
                op: self.op,
                message,
            }
        })
    }
}

/// The one place where SQS errors are classified: service errors with HTTP 5xx, 429 or a
/// throttling code are transient, other service errors (missing queue, access denied,
/// invalid receipt handle) permanent; timeouts, connection failures and unparseable
/// responses transient; a request that could not be built permanent.
fn classify<E>(op: &'static str, err: &SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("");
            let message = format!(
                "HTTP {status} {code}: {}",
                ctx.err().message().unwrap_or_default()
            );
            let throttled = matches!(
                code,
                "ThrottlingException"
                    | "RequestThrottled"
                    | "KmsThrottled"
                    | "ServiceUnavailable"
                    | "InternalError"
            );
            if throttled || status == 429 || status >= 500 {
                QueueError::Transient { op, message }
            } else {
                QueueError::Permanent { op, message }
            }
        }
        SdkError::ConstructionFailure(_) => QueueError::Permanent {
            op,
            message: DisplayErrorContext(err).to_string(),
        },
        _ => QueueError::Transient {
            op,
            message: DisplayErrorContext(err).to_string(),
        },
    }
}
