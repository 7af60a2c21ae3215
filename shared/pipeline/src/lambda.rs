//! The Lambda adapter: an SQS event in, a partial batch response out.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use sightline_queue::Message;

use crate::Pipeline;

/// Processes an SQS event and lists the messages to retry as batch item failures
/// (the event source mapping must enable `ReportBatchItemFailures`).
pub async fn handle_sqs_event(pipeline: &Pipeline, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<Message> = event.records.iter().map(Message::from_lambda).collect();
    let report = pipeline.process_messages(&messages).await;
    tracing::info!(
        messages = messages.len(),
        rows = report.rows,
        error_rows = report.error_rows,
        failed = report.failed.len(),
        files = ?report.files,
        "batch done"
    );
    let mut response = SqsBatchResponse::default();
    for id in report.failed {
        response.add_failure(id);
    }
    response
}
