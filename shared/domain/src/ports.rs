//! The storage ports: what the domain needs from a store, and nothing about
//! how a store keeps it. `storage` has the DynamoDB and in-memory adapters;
//! one conformance suite holds both to these contracts.

use async_trait::async_trait;

use crate::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, Chunk};
use crate::clients::{Client, ClientKey, RegisteredKey};
use crate::clock::Timestamp;
use crate::codes::{CodePosition, CodeQuery, CodeRecord};
use crate::devices::{Device, SerialNumber};

/// Why a store operation failed. Only `Unavailable` and `Corrupt` are the
/// store's fault; the others are outcomes the domain turns into answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A create met an existing record, or a single-use value was used.
    #[error("the record already exists")]
    AlreadyExists,
    /// An update named a record that does not exist.
    #[error("the record does not exist")]
    NotFound,
    /// A conditional write lost a race: the record changed since it was read.
    #[error("the record changed since it was read")]
    Conflict,
    /// The store could not be reached or refused the call.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back into the domain's types.
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}

/// One page of a listing and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, P> {
    pub items: Vec<T>,
    /// `None` when the listing is exhausted. A store may hand out a position
    /// whose next page turns out empty.
    pub next: Option<P>,
}

impl<T, P> Page<T, P> {
    /// A page whose listing goes on after its last item when `more` is set.
    pub fn new(items: Vec<T>, more: bool, position: impl Fn(&T) -> P) -> Self {
        let next = if more {
            items.last().map(position)
        } else {
            None
        };
        Page { items, next }
    }
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client; `AlreadyExists` when its key is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;

    async fn get_client(&self, key: &ClientKey) -> Result<Option<Client>, StoreError>;

    /// Adds a public key; `NotFound` for an unknown client, `AlreadyExists`
    /// when the key is already registered to it.
    async fn add_public_key(
        &self,
        client: &ClientKey,
        key: &RegisteredKey,
    ) -> Result<(), StoreError>;

    /// Records an auth token id as used until `expires_at`. `AlreadyExists`
    /// when it is already recorded and has not expired by `now`: that is a
    /// replay. Exactly one of any number of racing claims succeeds.
    async fn claim_token_id(
        &self,
        client: &ClientKey,
        token_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates a device; `AlreadyExists` when the client already has the serial.
    async fn create_device(&self, device: &Device) -> Result<(), StoreError>;

    async fn get_device(
        &self,
        client: &ClientKey,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError>;

    /// The client's devices in serial-number order, after `after`.
    async fn list_devices(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError>;
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores `code` and moves `device` to `next_count` as one atomic step,
    /// on condition that the device is still at the version it was read at
    /// and no code of the client sits at the same position. With
    /// `batch_item`, the same step marks that item done (and counts it on
    /// its batch), on condition that it is still pending.
    ///
    /// `Conflict` when the device moved or the position is taken: read
    /// again and retry. `AlreadyExists` when the batch item is no longer
    /// pending: its code exists. Either way nothing is written.
    async fn record_code(
        &self,
        device: &Device,
        next_count: u32,
        code: &CodeRecord,
        batch_item: Option<&BatchItemRef>,
    ) -> Result<(), StoreError>;

    /// The client's codes matching the query, in creation order (ties by id).
    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError>;
}

#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Stores a batch and all its items. With an idempotency key, the key is
    /// claimed in the same step: `AlreadyExists` when the client already
    /// used it, and then nothing is stored.
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError>;

    async fn find_by_idempotency_key(
        &self,
        client: &ClientKey,
        key: &str,
    ) -> Result<Option<Batch>, StoreError>;

    async fn get_batch(&self, client: &ClientKey, id: &str) -> Result<Option<Batch>, StoreError>;

    /// The client's batches, newest first, after `after`.
    async fn list_batches(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError>;

    /// Up to `count` items from index `first`, in index order.
    async fn list_items(
        &self,
        client: &ClientKey,
        batch_id: &str,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError>;

    /// Marks a pending item failed and counts it on its batch, as one step.
    /// `AlreadyExists` when the item is no longer pending.
    async fn fail_item(
        &self,
        item: &BatchItemRef,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Where chunks of batch work wait for the worker: SQS on AWS, a channel in
/// the local API. Delivery is at least once.
#[async_trait]
pub trait ChunkQueue: Send + Sync {
    async fn send(&self, chunks: &[Chunk]) -> Result<(), StoreError>;
}
