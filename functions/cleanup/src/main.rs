use std::sync::Arc;

use cleanup_function::{build, handle};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use runtime_support::{Platform, StoreBudget};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    runtime_support::telemetry::init();
    let service = Arc::new(build(&Platform::from_env(StoreBudget::BACKGROUND).await?));
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            let report = handle(&service).await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
