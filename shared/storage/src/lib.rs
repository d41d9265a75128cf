//! Adapters of the domain's storage ports: `DynamoStore` for Lambda and
//! DynamoDB Local, `MemoryStore` for the local API and fast tests.
#![forbid(unsafe_code)]

pub mod device_record;
pub mod dynamo;
pub mod memory;
pub mod queue;

pub use dynamo::{dynamodb_client, DynamoStore};
pub use memory::{MemoryStore, Seed};
pub use queue::{sqs_client, MemoryQueue, SqsQueue};

use std::sync::Arc;

use domain::{
    ApiKeyStore, BatchStore, ChallengeStore, ClientStore, CodeStore, DeviceStore, IdempotencyStore,
    LicenseStore, RateLimitStore,
};

/// The ports a function needs, all served by one adapter.
#[derive(Clone)]
pub struct Stores {
    pub clients: Arc<dyn ClientStore>,
    pub devices: Arc<dyn DeviceStore>,
    pub codes: Arc<dyn CodeStore>,
    pub batches: Arc<dyn BatchStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub licenses: Arc<dyn LicenseStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rate_limits: Arc<dyn RateLimitStore>,
}

impl Stores {
    pub fn from_adapter<S>(adapter: Arc<S>) -> Self
    where
        S: ClientStore
            + DeviceStore
            + CodeStore
            + BatchStore
            + ApiKeyStore
            + LicenseStore
            + ChallengeStore
            + IdempotencyStore
            + RateLimitStore
            + 'static,
    {
        Stores {
            clients: adapter.clone(),
            devices: adapter.clone(),
            codes: adapter.clone(),
            batches: adapter.clone(),
            api_keys: adapter.clone(),
            licenses: adapter.clone(),
            challenges: adapter.clone(),
            idempotency: adapter.clone(),
            rate_limits: adapter,
        }
    }
}

/// The SDK configuration for a local stand-in at `endpoint` (dummy
/// credentials, a fixed region) or, with `None`, for AWS from the
/// environment. Loaded once per cold start.
pub async fn aws_config_for(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials();
    }
    loader.load().await
}
