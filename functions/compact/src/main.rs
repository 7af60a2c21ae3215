//! The `compact` Lambda: an EventBridge scheduled event in, the recent partitions of the
//! configured catalogs compacted (`sightline_lake::schedule`); answers with one report
//! per partition.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sightline_core::Settings;
use sightline_lake::schedule::{compact_recent, CompactSettings};
use sightline_storage::{S3Store, Store};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Arc::new(CompactSettings::from_lookup(|k| std::env::var(k).ok())?);
    let prefix = Arc::new(Settings::from_env()?.results_prefix);
    let store = Store::S3(S3Store::from_env().await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let (settings, prefix, store) = (settings.clone(), prefix.clone(), store.clone());
        let now = event.payload.time.unwrap_or_else(chrono::Utc::now);
        async move {
            // Boxed: the compaction future is deep enough to overflow the type checker's
            // query depth when inlined into the runtime's service future.
            let reports = Box::pin(compact_recent(&store, &settings, &prefix, now)).await?;
            Ok::<_, Error>(serde_json::to_value(reports)?)
        }
    }))
    .await
}
