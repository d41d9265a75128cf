use std::sync::Arc;

use codes_function::CodesFunction;
use domain::clock::{Clock, SystemClock};
use domain::idempotency::Idempotency;
use domain::CodesService;
use http_api::{Authenticator, RouteHandler};
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let verifier = http_api::config::verifier_from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = Arc::new(CodesService::new(
        stores.devices,
        stores.codes,
        clock.clone(),
    ));
    let idempotency = Arc::new(Idempotency::new(stores.idempotency, clock.clone()));
    let function = Arc::new(CodesFunction::new(
        service,
        Authenticator::new(verifier, clock),
        idempotency,
    ));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
