use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use batch_worker_function::{build, handle, DEFAULT_MAX_RECEIVES};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use runtime_support::{Platform, StoreBudget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::BACKGROUND).await?;
    let max_receives = std::env::var("MAX_RECEIVE_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_MAX_RECEIVES);
    let batches = Arc::new(build(&platform));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let batches = batches.clone();
        async move { Ok::<_, Error>(handle(&batches, event.payload, max_receives).await) }
    }))
    .await
}
