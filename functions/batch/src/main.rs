use std::sync::Arc;

use batch_function::BatchFunction;
use http_api::RouteHandler;
use lambda_http::{service_fn, Error, Request};
use runtime_support::Platform;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env().await?;
    let function = Arc::new(BatchFunction::build(
        &platform,
        runtime_support::config::verifier_from_env()?,
        runtime_support::config::queue_from_env().await?,
    ));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
