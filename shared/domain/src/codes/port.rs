//! The storage port of codes.

use async_trait::async_trait;

use super::{Advance, BatchItemRef, CodePosition, CodeQuery, CodeRecord};
use crate::clock::Timestamp;
use crate::devices::Device;
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores `code`, its `issued_event` and moves `device` to `next` (its
    /// count and credit) as one atomic step,
    /// on condition that the device is still at the version it was read at
    /// and no code of the account sits at the same position.
    ///
    /// `Conflict` when the device moved or the position is taken: read
    /// again and retry. Nothing is written then.
    async fn record_code(
        &self,
        device: &Device,
        next: &Advance,
        code: &CodeRecord,
    ) -> Result<(), StoreError>;

    /// Settles one run of a chunk's batch items (all of one device, one
    /// chunk and one run number): every issued code stored, the device
    /// moved to `next`, each item's result recorded (`issued` done
    /// with its code, `refused` failed with its reason) and the chunk's
    /// counts advanced, as one atomic step, on condition that the run is
    /// not settled yet. With no code issued the device is left alone.
    ///
    /// `AlreadyExists` when the run was settled before; `Conflict` as for
    /// `record_code`. Either way nothing is written. At most `MAX_RUN`
    /// items in all.
    async fn record_code_run(
        &self,
        device: &Device,
        next: &Advance,
        issued: &[(CodeRecord, BatchItemRef)],
        refused: &[(BatchItemRef, String)],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The account's codes matching the query, in creation order (ties by id).
    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError>;
}
