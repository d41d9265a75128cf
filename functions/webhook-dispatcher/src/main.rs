use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use runtime_support::{Platform, StoreBudget};
use webhook_dispatcher_function::{build, handle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::BACKGROUND).await?;
    let queue = runtime_support::config::delivery_queue_from_env(StoreBudget::BACKGROUND).await?;
    let dispatcher = std::sync::Arc::new(build(&platform, queue));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let dispatcher = dispatcher.clone();
        async move { Ok::<_, Error>(handle(&dispatcher, event.payload).await) }
    }))
    .await
}
