//! Adapters of the domain's storage ports: `DynamoStore` for Lambda and
//! DynamoDB Local, `MemoryStore` for the local API and fast tests.
#![forbid(unsafe_code)]

pub mod dynamo;
pub mod memory;
pub mod queue;
pub mod records;

pub use dynamo::{dynamodb_client, DynamoStore};
pub use memory::{MemoryStore, Seed};
pub use queue::{sqs_client, MemoryQueue, SqsQueue};

use std::sync::Arc;

use domain::ports::{BatchStore, ClientStore, CodeStore, DeviceStore};

/// The ports a function needs, all served by one adapter.
#[derive(Clone)]
pub struct Stores {
    pub clients: Arc<dyn ClientStore>,
    pub devices: Arc<dyn DeviceStore>,
    pub codes: Arc<dyn CodeStore>,
    pub batches: Arc<dyn BatchStore>,
}

impl Stores {
    pub fn from_adapter<S>(adapter: Arc<S>) -> Self
    where
        S: ClientStore + DeviceStore + CodeStore + BatchStore + 'static,
    {
        Stores {
            clients: adapter.clone(),
            devices: adapter.clone(),
            codes: adapter.clone(),
            batches: adapter,
        }
    }
}
