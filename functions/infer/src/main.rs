//! The `infer` Lambda: SQS messages holding S3 notifications in, Parquet results in the
//! bucket and a partial batch response out. The handler lives in `sightline-pipeline`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sightline_core::Settings;
use sightline_pipeline::{lambda::handle_sqs_event, Pipeline};
use sightline_storage::{S3Store, Store};

/// Logs go to stdout through `lambda_runtime`'s subscriber: JSON when the function's
/// logging config is JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`, as `infra/template.yaml` sets),
/// filtered by `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = Store::S3(S3Store::from_env().await);
    let pipeline = Arc::new(Pipeline::open(Settings::from_env()?, store.clone(), store)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let pipeline = Arc::clone(&pipeline);
        async move { Ok::<_, Error>(handle_sqs_event(&pipeline, event.payload).await) }
    }))
    .await
}
