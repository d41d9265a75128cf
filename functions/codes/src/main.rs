use codes_function::CodesFunction;
use lambda_http::Error;
use runtime_support::{Platform, StoreBudget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::REQUEST).await?;
    http_api::run_on_lambda(CodesFunction::build(
        &platform,
        runtime_support::config::verifier_from_env()?,
    ))
    .await
}
