//! Adapters of the domain's storage ports: `DynamoStore` for Lambda and
//! DynamoDB Local (feature `dynamo`), `MemoryStore` for the local API and
//! fast tests (feature `memory`), and the chunk queue on SQS (feature `sqs`)
//! or in process. A function enables only the adapters it runs on, so its
//! binary links only the SDKs it calls (`docs/architecture.md`).
#![forbid(unsafe_code)]

#[cfg(not(any(feature = "dynamo", feature = "memory")))]
compile_error!("storage needs at least one of the features `dynamo` and `memory`");

pub mod device_record;
#[cfg(feature = "dynamo")]
pub mod dynamo;
#[cfg(feature = "memory")]
pub mod memory;
pub mod memory_queue;
#[cfg(feature = "sqs")]
pub mod sqs_queue;

#[cfg(feature = "dynamo")]
pub use dynamo::{dynamodb_client, DynamoStore};
#[cfg(feature = "memory")]
pub use memory::{MemoryStore, Seed};
pub use memory_queue::MemoryQueue;
#[cfg(feature = "sqs")]
pub use sqs_queue::{sqs_client, SqsQueue};

use std::sync::Arc;

use domain::{
    ApiKeyStore, BatchStore, ChallengeStore, ClientStore, CodeStore, DeviceStore, IdempotencyStore,
    LicenseStore, RateLimitStore,
};

#[derive(Clone)]
enum Adapter {
    #[cfg(feature = "memory")]
    Memory(Arc<MemoryStore>),
    #[cfg(feature = "dynamo")]
    Dynamo(Arc<DynamoStore>),
}

/// The ports a function needs, all served by one adapter. Each port is
/// handed out on request rather than held ready: a function that never asks
/// for, say, the licensing port never instantiates that adapter code, so
/// link-time optimisation drops it from the binary.
#[derive(Clone)]
pub struct Stores(Adapter);

/// One accessor per port: the adapter itself, seen through that port.
macro_rules! ports {
    ($($(#[$doc:meta])* $name:ident: $port:ident,)*) => {
        impl Stores {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Arc<dyn $port> {
                    match &self.0 {
                        #[cfg(feature = "memory")]
                        Adapter::Memory(store) => store.clone(),
                        #[cfg(feature = "dynamo")]
                        Adapter::Dynamo(store) => store.clone(),
                    }
                }
            )*
        }
    };
}

ports! {
    clients: ClientStore,
    devices: DeviceStore,
    codes: CodeStore,
    batches: BatchStore,
    api_keys: ApiKeyStore,
    licenses: LicenseStore,
    challenges: ChallengeStore,
    idempotency: IdempotencyStore,
    rate_limits: RateLimitStore,
}

#[cfg(feature = "memory")]
impl From<Arc<MemoryStore>> for Stores {
    fn from(store: Arc<MemoryStore>) -> Self {
        Stores(Adapter::Memory(store))
    }
}

#[cfg(feature = "dynamo")]
impl From<Arc<DynamoStore>> for Stores {
    fn from(store: Arc<DynamoStore>) -> Self {
        Stores(Adapter::Dynamo(store))
    }
}

/// The SDK configuration for a local stand-in at `endpoint` (dummy
/// credentials, a fixed region) or, with `None`, for AWS from the
/// environment. Loaded once per cold start.
#[cfg(any(feature = "dynamo", feature = "sqs"))]
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
