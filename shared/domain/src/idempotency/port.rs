//! The storage port of idempotency keys.

use async_trait::async_trait;

use super::{ClaimOutcome, IdempotencyRecord, StoredResponse};
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::store::StoreError;

/// `Idempotency-Key` records (`idempotency`). Records past `expires_at`
/// count as absent whether or not the store has removed them yet.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Writes `record` (a claim) unless a record that is not free at `now`
    /// (`IdempotencyRecord::is_free_at`) holds its key; then returns that one.
    async fn claim_idempotency_key(
        &self,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Completes the claim `claim_id` with `response`; `Conflict` when the
    /// key is no longer held by that claim.
    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
        claim_id: &str,
        response: StoredResponse,
    ) -> Result<(), StoreError>;

    /// Removes the claim `claim_id`; `Conflict` when it is no longer held.
    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
        claim_id: &str,
    ) -> Result<(), StoreError>;
}
