use lambda_http::Error;
use licenses_function::LicensesFunction;
use runtime_support::{Platform, StoreBudget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::REQUEST).await?;
    http_api::run_on_lambda(LicensesFunction::build(
        &platform,
        runtime_support::config::verifier_from_env()?,
        runtime_support::config::certificate_key_from_env()?,
    ))
    .await
}
