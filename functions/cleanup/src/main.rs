use std::sync::Arc;

use domain::clock::SystemClock;
use domain::ChallengeService;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    http_api::telemetry::init();
    let stores = http_api::config::stores_from_env().await?;
    let config = http_api::config::challenge_config_from_env()?;
    let service = Arc::new(ChallengeService::new(
        stores.challenges,
        Arc::new(SystemClock),
        config,
    ));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            let report = cleanup_function::handle(&service).await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
