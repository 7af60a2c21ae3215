//! The Lambda adapter: one function takes both an SQS event of retrain requests (a
//! partial batch response out) and an EventBridge scheduled event (the outcomes out).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;

use crate::request::RetrainService;
use crate::RetrainError;

/// Handles a Lambda payload: `Records` → SQS retrain requests, else a scheduled event.
pub async fn handle_event(service: &RetrainService, payload: Value) -> Result<Value, RetrainError> {
    let bad = |e: serde_json::Error| RetrainError::Invalid(format!("unexpected event: {e}"));
    if payload.get("Records").is_some() {
        let event: SqsEvent = serde_json::from_value(payload).map_err(bad)?;
        let response = handle_sqs(service, event).await;
        return serde_json::to_value(response).map_err(bad);
    }
    let event: EventBridgeEvent = serde_json::from_value(payload).map_err(bad)?;
    let outcomes = service.handle_schedule(&event.detail).await?;
    serde_json::to_value(outcomes).map_err(bad)
}

/// Every request of the event; the ones that failed transiently are retried.
pub async fn handle_sqs(service: &RetrainService, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        match service.handle_message(body).await {
            Ok(outcome) => tracing::info!(message_id = %id, ?outcome, "retrain request handled"),
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "retrain request failed; will retry");
                response.add_failure(id);
            }
        }
    }
    response
}
