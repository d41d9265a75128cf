use std::sync::Arc;

use batch_function::BatchFunction;
use domain::clock::{Clock, SystemClock};
use domain::rate_limits::RateLimiter;
use domain::{BatchService, CodesService};
use http_api::{Authenticator, RouteHandler};
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let queue = http_api::config::queue_from_env().await?;
    let verifier = http_api::config::verifier_from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let codes = Arc::new(CodesService::new(
        stores.devices,
        stores.codes,
        clock.clone(),
    ));
    let limits = http_api::config::rate_limits_from_env()?;
    let batches = BatchService::new(stores.batches, queue, codes, clock.clone());
    let submit_limit = RateLimiter::new("batch", limits.batch, stores.rate_limits, clock.clone());
    let function = Arc::new(BatchFunction::new(
        batches,
        Authenticator::new(verifier, clock),
        submit_limit,
    ));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
