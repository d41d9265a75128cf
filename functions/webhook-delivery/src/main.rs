use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use domain::webhooks::url::UrlPolicy;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use runtime_support::{Platform, StoreBudget};
use webhook_delivery_function::{build, handle};
use webhook_sender::{HttpWebhookSender, SystemResolver};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::BACKGROUND).await?;
    let queue = runtime_support::config::delivery_queue_from_env(StoreBudget::BACKGROUND).await?;
    let policy = UrlPolicy::default();
    let sender = Arc::new(HttpWebhookSender::new(Arc::new(SystemResolver), policy));
    let courier = Arc::new(build(&platform, sender, queue, policy));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let courier = courier.clone();
        async move { Ok::<_, Error>(handle(&courier, event.payload).await) }
    }))
    .await
}
