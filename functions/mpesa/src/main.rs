use lambda_http::Error;
use mpesa_function::MpesaFunction;
use runtime_support::{Platform, StoreBudget};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let platform = Platform::from_env(StoreBudget::REQUEST).await?;
    http_api::run_on_lambda(MpesaFunction::build(&platform)).await
}
