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
pub mod memory_delivery_queue;
pub mod memory_queue;
#[cfg(feature = "sqs")]
pub mod sqs_queue;

#[cfg(feature = "dynamo")]
pub use dynamo::{dynamodb_client, DynamoStore};
#[cfg(feature = "memory")]
pub use memory::{MemoryStore, Seed};
pub use memory_delivery_queue::MemoryDeliveryQueue;
pub use memory_queue::MemoryQueue;
#[cfg(feature = "sqs")]
pub use sqs_queue::{sqs_client, SqsQueue};

use std::sync::Arc;
use std::time::Duration;

use domain::{
    ApiKeyStore, BatchStore, ChallengeStore, ClientStore, CodeStore, DeviceStore, IdempotencyStore,
    LicenseStore, MpesaStore, NoticeStore, PaymentStore, RateLimitStore, WebhookStore,
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

impl Stores {
    /// The memory adapter itself, when that is what serves the ports: the
    /// local dispatcher reads its outbox.
    #[cfg(feature = "memory")]
    pub fn memory(&self) -> Option<Arc<MemoryStore>> {
        match &self.0 {
            Adapter::Memory(store) => Some(store.clone()),
            #[cfg(feature = "dynamo")]
            Adapter::Dynamo(_) => None,
        }
    }

    /// The DynamoDB adapter itself, when that is what serves the ports:
    /// the local dispatcher reads its table's stream.
    #[cfg(feature = "dynamo")]
    pub fn dynamo(&self) -> Option<Arc<DynamoStore>> {
        match &self.0 {
            Adapter::Dynamo(store) => Some(store.clone()),
            #[cfg(feature = "memory")]
            Adapter::Memory(_) => None,
        }
    }
}

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
    payments: PaymentStore,
    mpesa: MpesaStore,
    rate_limits: RateLimitStore,
    webhooks: WebhookStore,
    notices: NoticeStore,
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

/// How long one store call may take and how often it is tried, so that a
/// stalled store becomes an error the caller can answer, not a wait that
/// outlives it (`docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreBudget {
    /// Opening a connection.
    pub connect: Duration,
    /// One attempt, from sending to the whole answer.
    pub attempt: Duration,
    /// Every attempt of one call, retries and their backoff included.
    pub operation: Duration,
    /// Attempts of one call, the first included.
    pub max_attempts: u32,
}

impl StoreBudget {
    /// A call made while an API request waits. Two calls that both run out
    /// of budget still end inside the HTTP functions' 10-second Lambda
    /// timeout, itself well inside API Gateway's 30 seconds, so the
    /// function answers 503 `store_unavailable` itself.
    pub const REQUEST: StoreBudget = StoreBudget {
        connect: Duration::from_secs(1),
        attempt: Duration::from_millis(1_500),
        operation: Duration::from_secs(4),
        max_attempts: 3,
    };

    /// A call of the batch worker, the cleanup or the admin CLI: nobody is
    /// waiting on an answer, so it rides out a longer stall, while one call
    /// still ends well inside the worker's 60-second Lambda timeout.
    pub const BACKGROUND: StoreBudget = StoreBudget {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(20),
        max_attempts: 5,
    };
}

/// The SDK configuration for a local stand-in at `endpoint` (dummy
/// credentials, a fixed region) or, with `None`, for AWS from the
/// environment, with `budget`'s timeouts and retries. Loaded once per cold
/// start.
#[cfg(any(feature = "dynamo", feature = "sqs"))]
pub async fn aws_config_for(endpoint: Option<&str>, budget: StoreBudget) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(budget.connect)
        .operation_attempt_timeout(budget.attempt)
        .operation_timeout(budget.operation)
        .build();
    let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(budget.max_attempts);
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries);
    if let Some(url) = endpoint {
        loader = loader
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials();
    }
    loader.load().await
}
