//! The `report` Lambda: an EventBridge scheduled event in, metrics/drift tables, JSON and
//! HTML reports in the bucket, and a retrain request when quality drops. The handler
//! lives in `sightline-report` (`schedule::Scheduler`).

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sightline_core::Settings;
use sightline_queue::{Queue, SqsQueue};
use sightline_report::emf;
use sightline_report::schedule::{ReportSettings, Scheduler};
use sightline_storage::{S3Store, Store};

/// Logs go to stdout through `lambda_runtime`'s subscriber: JSON when the function's
/// logging config is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`, as `infra/template.yaml` sets),
/// filtered by `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let report = ReportSettings::from_lookup(|k| std::env::var(k).ok())?;
    let retrain = match &report.retrain_queue_url {
        Some(url) => Some(Queue::Sqs(SqsQueue::from_env(url.clone()).await)),
        None => None,
    };
    let scheduler = Arc::new(Scheduler {
        settings: Settings::from_env()?,
        report,
        store: Store::S3(S3Store::from_env().await),
        retrain,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let scheduler = Arc::clone(&scheduler);
        let event = event.payload;
        async move {
            let outcomes = scheduler.handle(&event.detail, event.time).await?;
            // CloudWatch EMF: reports at alert (the stack's ReportAlertAlarm), per catalog.
            for line in emf::outcome_lines(&outcomes, chrono::Utc::now()) {
                println!("{line}");
            }
            Ok::<_, Error>(outcomes)
        }
    }))
    .await
}
