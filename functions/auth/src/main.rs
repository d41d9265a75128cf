use std::sync::Arc;

use auth_function::AuthFunction;
use domain::auth::AuthConfig;
use domain::clock::{Clock, SystemClock};
use domain::rate_limits::RateLimiter;
use domain::AuthService;
use http_api::RouteHandler;
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let signing_key = http_api::config::signing_key_from_env()?;
    let limits = http_api::config::rate_limits_from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = AuthService::new(
        stores.clients,
        clock.clone(),
        signing_key,
        AuthConfig::default(),
    )
    .with_rate_limit(RateLimiter::new(
        "auth",
        limits.auth,
        stores.rate_limits,
        clock,
    ));
    let function = Arc::new(AuthFunction::new(service));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
