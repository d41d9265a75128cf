//! The storage port of codes.

use async_trait::async_trait;

use super::{BatchItemRef, CodePosition, CodeQuery, CodeRecord};
use crate::devices::Device;
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores `code` and moves `device` to `next_count` as one atomic step,
    /// on condition that the device is still at the version it was read at
    /// and no code of the account sits at the same position. With
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

    /// `record_code` for a run of one device's batch items, all of one
    /// chunk: every code stored, every item marked done, the chunk's count
    /// advanced by the run's length and the device moved to `next_count`,
    /// as one atomic step. The same conditions, and the same answers, as
    /// `record_code`; at most `MAX_RUN` items.
    async fn record_code_run(
        &self,
        device: &Device,
        next_count: u32,
        run: &[(CodeRecord, BatchItemRef)],
    ) -> Result<(), StoreError>;

    /// The account's codes matching the query, in creation order (ties by id).
    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError>;
}
