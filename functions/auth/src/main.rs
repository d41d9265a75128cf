use std::sync::Arc;

use auth_function::AuthFunction;
use domain::auth::AuthConfig;
use domain::clock::SystemClock;
use domain::AuthService;
use http_api::RouteHandler;
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let signing_key = http_api::config::signing_key_from_env()?;
    let service = AuthService::new(
        stores.clients,
        Arc::new(SystemClock),
        signing_key,
        AuthConfig::default(),
    );
    let function = Arc::new(AuthFunction::new(service));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
