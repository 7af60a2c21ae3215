//! The `retrain` Lambda: retrain requests from the report's queue (SQS, idempotent on the
//! report key) and scheduled runs (EventBridge) in; new head versions in the registry, the
//! gate's decision in the alias and the metrics table. The handler lives in
//! `sightline-retrain` (`lambda::handle_event`).

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use sightline_core::Settings;
use sightline_retrain::lambda::handle_event;
use sightline_retrain::{RetrainService, RetrainSettings};
use sightline_storage::{S3Store, Store};

/// Logs go to stdout through `lambda_runtime`'s subscriber (JSON under the template's
/// logging config).
#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let service = Arc::new(RetrainService {
        settings: Settings::from_env()?,
        retrain: RetrainSettings::from_lookup(|k| std::env::var(k).ok())?,
        store: Store::S3(S3Store::from_env().await),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let service = Arc::clone(&service);
        async move { Ok::<_, Error>(handle_event(&service, event.payload).await?) }
    }))
    .await
}
