use std::sync::Arc;

use domain::clock::{Clock, SystemClock};
use domain::idempotency::Idempotency;
use domain::licensing::deploy::CertificateDeployer;
use domain::LicenseService;
use http_api::{Authenticator, RouteHandler};
use lambda_http::{service_fn, Error, Request};
use licenses_function::LicensesFunction;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let verifier = http_api::config::verifier_from_env()?;
    let certificate_key = http_api::config::certificate_key_from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let licenses = LicenseService::new(
        stores.licenses,
        Arc::new(CertificateDeployer::new(certificate_key)),
        clock.clone(),
    );
    let auth = Authenticator::new(verifier, clock.clone()).with_api_keys(stores.api_keys);
    let idempotency = Arc::new(Idempotency::new(stores.idempotency, clock));
    let function = Arc::new(LicensesFunction::new(licenses, auth, idempotency));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
