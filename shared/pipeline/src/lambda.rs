//! The Lambda adapter: an SQS event in, a partial batch response out.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use sightline_queue::{parse_receive_count, Message};

use crate::Pipeline;

/// Processes an SQS event and lists the messages to retry as batch item failures
/// (the event source mapping must enable `ReportBatchItemFailures`); prints the batch's
/// metrics to stdout as CloudWatch EMF lines ([`crate::emf`]).
pub async fn handle_sqs_event(pipeline: &Pipeline, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<Message> = event.records.iter().map(message_from_lambda).collect();
    let report = pipeline.process_messages(&messages).await;
    tracing::info!(
        messages = messages.len(),
        rows = report.rows,
        error_rows = report.error_rows,
        failed = report.failed.len(),
        files = ?report.files,
        "batch done"
    );
    for line in crate::emf::batch_lines(&report, chrono::Utc::now()) {
        println!("{line}");
    }
    let mut response = SqsBatchResponse::default();
    for id in report.failed {
        response.add_failure(id);
    }
    response
}

/// A message delivered by the Lambda SQS event source. Missing fields become empty
/// strings, and a missing or invalid `ApproximateReceiveCount` attribute becomes 1.
pub fn message_from_lambda(m: &SqsMessage) -> Message {
    let count = m.attributes.get("ApproximateReceiveCount");
    Message {
        id: m.message_id.clone().unwrap_or_default(),
        receipt: m.receipt_handle.clone().unwrap_or_default(),
        body: m.body.clone().unwrap_or_default(),
        receive_count: parse_receive_count(count.map(String::as_str)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_message(json: &str) -> Message {
        let event: SqsEvent = serde_json::from_str(json).unwrap();
        message_from_lambda(&event.records[0])
    }

    #[test]
    fn sample_events_become_messages() {
        let m = first_message(include_str!("../../../events/sqs-s3-put.json"));
        assert_eq!(m.id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert!(m.receipt.starts_with("AQEB"));
        assert!(m.body.contains("shelf+photo+1.jpg"), "{}", m.body);
        assert_eq!(m.receive_count, 1);
        let m = first_message(include_str!("../../../events/sqs-moto-shape.json"));
        assert_eq!(m.receive_count, 2);
    }

    #[test]
    fn missing_fields_default() {
        let m = message_from_lambda(&SqsMessage::default());
        assert_eq!(
            (m.id.as_str(), m.body.as_str(), m.receive_count),
            ("", "", 1)
        );
    }
}
