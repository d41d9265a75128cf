use std::sync::Arc;

use codes_function::CodesFunction;
use http_api::RouteHandler;
use lambda_http::{service_fn, Error, Request};
use runtime_support::Platform;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env().await?;
    let function = Arc::new(CodesFunction::build(
        &platform,
        runtime_support::config::verifier_from_env()?,
    ));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
