use std::sync::Arc;

use domain::webhooks::url::UrlPolicy;
use lambda_http::Error;
use runtime_support::{Platform, StoreBudget};
use webhook_sender::SystemResolver;
use webhooks_function::WebhooksFunction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::REQUEST).await?;
    http_api::run_on_lambda(WebhooksFunction::build(
        &platform,
        runtime_support::config::verifier_from_env()?,
        runtime_support::config::delivery_queue_from_env(StoreBudget::REQUEST).await?,
        Arc::new(SystemResolver),
        UrlPolicy::default(),
    ))
    .await
}
