use std::sync::Arc;

use activation_challenges_function::ActivationChallengesFunction;
use domain::clock::{Clock, SystemClock};
use domain::idempotency::Idempotency;
use domain::rate_limits::RateLimiter;
use domain::ChallengeService;
use http_api::{Authenticator, RouteHandler};
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let verifier = http_api::config::verifier_from_env()?;
    let config = http_api::config::challenge_config_from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let limits = http_api::config::rate_limits_from_env()?;
    let challenges = ChallengeService::new(stores.challenges, clock.clone(), config);
    let verify_limit = RateLimiter::new("verify", limits.verify, stores.rate_limits, clock.clone());
    let idempotency = Arc::new(Idempotency::new(stores.idempotency, clock.clone()));
    let function = Arc::new(ActivationChallengesFunction::new(
        challenges,
        Authenticator::new(verifier, clock),
        idempotency,
        verify_limit,
    ));
    lambda_http::run(service_fn(move |request: Request| {
        let function = function.clone();
        async move { Ok::<_, Error>(function.handle(request).await) }
    }))
    .await
}
