//! The storage port of activation challenges.

use async_trait::async_trait;

use super::{Challenge, ChallengeQuery, ChallengeRef, DeliveryEvent, EndReason, Purpose};
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::ids::ChallengeId;
use crate::store::StoreError;

/// Activation challenges, their person-and-purpose slots, their codes and
/// delivery events. A challenge is live while it has not ended and its
/// `expires_at` has not passed; a live challenge holds its slot and its code.
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores the challenge and claims its slot and its code, as one step.
    /// With `replacing`, the same step ends that challenge (invalidated,
    /// expiring now) and takes over its slot, on condition that it still
    /// holds it. `AlreadyExists` when, without `replacing`, a live challenge
    /// holds the slot; `Conflict` when the code is taken or `replacing`
    /// changed. Either way nothing is written.
    async fn create_challenge(
        &self,
        challenge: &Challenge,
        replacing: Option<&Challenge>,
        retention_secs: i64,
    ) -> Result<(), StoreError>;

    async fn get_challenge(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> Result<Option<Challenge>, StoreError>;

    /// The live challenge holding a person's slot for `purpose` at `now`.
    async fn live_challenge(
        &self,
        account: &AccountId,
        person_id: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError>;

    /// One page of matching challenges in creation order, after skipping
    /// `query.skip` matches.
    async fn list_challenges(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, StoreError>;

    /// Ends a live challenge at `at` (its `expires_at` becomes `at`) and
    /// frees its slot and code. `Conflict` when it already ended or expired,
    /// `NotFound` when it is gone.
    async fn end_challenge(
        &self,
        challenge: &Challenge,
        at: Timestamp,
        reason: EndReason,
        retention_secs: i64,
    ) -> Result<(), StoreError>;

    /// Counts one use, on condition that the challenge is live at `now` and
    /// below its `max_usage_count`: `Conflict` otherwise. Racing uses never
    /// pass the maximum.
    async fn use_challenge(&self, challenge: &Challenge, now: Timestamp) -> Result<(), StoreError>;

    /// Sets the attempt window to `window_start` with `failed` wrong codes,
    /// on condition that both are still as `challenge` has them: `Conflict`
    /// when another attempt got there first.
    async fn record_failed_attempt(
        &self,
        challenge: &Challenge,
        window_start: Timestamp,
        failed: u32,
    ) -> Result<(), StoreError>;

    /// Stores the event and counts it on its challenge, as one step, on
    /// condition that the challenge has fewer than `max_events`: `Conflict`
    /// when full, `NotFound` when the challenge is gone.
    async fn add_delivery_event(
        &self,
        event: &DeliveryEvent,
        max_events: u32,
    ) -> Result<(), StoreError>;

    async fn list_delivery_events(
        &self,
        challenge: &Challenge,
    ) -> Result<Vec<DeliveryEvent>, StoreError>;

    /// Up to `limit` challenges not yet marked whose `expires_at` is at or
    /// before `now`, across accounts.
    async fn expired_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError>;

    /// Marks an expired challenge, takes it off the cleanup's expiry index
    /// and frees its slot and code if it still holds them. `Conflict` when
    /// it is not expired or already marked; `NotFound` when it is gone.
    async fn mark_expired(
        &self,
        challenge: &ChallengeRef,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Up to `limit` challenges, across accounts, whose retention ended by
    /// `now`.
    async fn purgeable_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError>;

    /// Deletes a challenge and its delivery events. `NotFound` when it is
    /// gone.
    async fn purge_challenge(&self, challenge: &ChallengeRef) -> Result<(), StoreError>;
}
