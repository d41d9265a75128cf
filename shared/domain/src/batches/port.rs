//! The storage and queue ports of batches.

use async_trait::async_trait;

use super::{Batch, BatchItem, BatchItemRef, BatchPosition, Chunk};
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::ids::BatchId;
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Stores a batch and all its items. With an idempotency key, the key is
    /// claimed in the same step: `AlreadyExists` when the account already
    /// used it, and then nothing is stored.
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError>;

    async fn find_by_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<Batch>, StoreError>;

    async fn get_batch(
        &self,
        account: &AccountId,
        id: &BatchId,
    ) -> Result<Option<Batch>, StoreError>;

    /// The account's batches, newest first, after `after`.
    async fn list_batches(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError>;

    /// Up to `count` items from index `first`, in index order.
    async fn list_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError>;

    /// Every item of chunk `chunk`, in index order, with its state.
    async fn chunk_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        chunk: u32,
    ) -> Result<Vec<BatchItem>, StoreError>;

    /// Settles a run whose items all fail for `reason`: each marked failed
    /// and counted on its chunk, as one step. `items` are the whole run.
    /// `AlreadyExists` when the run was settled before.
    async fn fail_run(
        &self,
        items: &[BatchItemRef],
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Writes the batch's `completed_event`, once: `AlreadyExists` when it
    /// was written before. Every chunk that finishes after the batch did
    /// asks, so the event is neither lost nor doubled (`docs/delivery.md`).
    async fn record_completion(&self, batch: &Batch, at: Timestamp) -> Result<(), StoreError>;
}

/// Where chunks of batch work wait for the worker: SQS on AWS, a channel in
/// the local API. Delivery is at least once.
#[async_trait]
pub trait ChunkQueue: Send + Sync {
    async fn send(&self, chunks: &[Chunk]) -> Result<(), StoreError>;
}
