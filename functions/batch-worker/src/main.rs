use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use batch_worker_function::{handle, DEFAULT_MAX_RECEIVES};
use domain::clock::{Clock, SystemClock};
use domain::{BatchService, CodesService};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use storage::MemoryQueue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let max_receives = std::env::var("MAX_RECEIVE_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_MAX_RECEIVES);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let codes = Arc::new(CodesService::new(
        stores.devices,
        stores.codes,
        clock.clone(),
    ));
    // The worker only processes chunks; it never queues any.
    let queue = Arc::new(MemoryQueue::closed());
    let batches = Arc::new(BatchService::new(stores.batches, queue, codes, clock));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let batches = batches.clone();
        async move { Ok::<_, Error>(handle(&batches, event.payload, max_receives).await) }
    }))
    .await
}
