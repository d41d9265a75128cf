//! The storage ports: what the domain needs from a store, and nothing about
//! how a store keeps it. `storage` has the DynamoDB and in-memory adapters;
//! one conformance suite holds both to these contracts.

use async_trait::async_trait;

use crate::api_keys::ApiKey;
use crate::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, Chunk};
use crate::challenges::{
    Challenge, ChallengeQuery, ChallengeRef, DeliveryEvent, EndReason, Purpose,
};
use crate::clients::{Client, ClientKey, RegisteredKey};
use crate::clock::Timestamp;
use crate::codes::{CodePosition, CodeQuery, CodeRecord};
use crate::devices::{Device, SerialNumber};
use crate::idempotency::{ClaimOutcome, IdempotencyRecord, StoredResponse};
use crate::licensing::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LoginToken,
    Product,
};

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

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// `AlreadyExists` when the id or hash is taken.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The account's keys, oldest first.
    async fn list_api_keys(&self, account: &ClientKey) -> Result<Vec<ApiKey>, StoreError>;

    /// Deletes the key so it stops working at once; `NotFound` when the
    /// account has no key with this id.
    async fn revoke_api_key(&self, account: &ClientKey, id: &str) -> Result<(), StoreError>;
}

/// Products, licenses and what hangs off them. Every call is scoped to an
/// account except the two lookups a license key or login token alone must
/// answer.
#[async_trait]
pub trait LicenseStore: Send + Sync {
    /// Creates a product and claims its SKU in the account, as one step.
    /// `AlreadyExists` when the id or the SKU is taken.
    async fn create_product(&self, product: &Product) -> Result<(), StoreError>;

    async fn get_product(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Product>, StoreError>;

    async fn find_product_by_sku(
        &self,
        account: &ClientKey,
        sku: &str,
    ) -> Result<Option<Product>, StoreError>;

    /// The account's products in id order, after `after`.
    async fn list_products(
        &self,
        account: &ClientKey,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Product, String>, StoreError>;

    /// Writes the editable fields (name, description, latest version,
    /// updated time) and nothing else, so a racing license count survives.
    /// `NotFound` when the product is gone or retired.
    async fn update_product(&self, product: &Product) -> Result<(), StoreError>;

    /// Marks the product retired: from then on no license can be created
    /// on it. `NotFound` when it does not exist.
    async fn retire_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError>;

    /// Deletes the product and frees its SKU on condition that no license
    /// references it: `Conflict` when one does, `NotFound` when it is gone.
    async fn delete_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError>;

    /// Stores the license, claims its key and counts it on its product, as
    /// one step. `NotFound` when the product is missing or retired,
    /// `AlreadyExists` when the id (or the key) is taken.
    async fn create_license(&self, license: &License) -> Result<(), StoreError>;

    async fn get_license(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<License>, StoreError>;

    /// The license a key belongs to, in any account.
    async fn find_license_by_key(&self, key: &str) -> Result<Option<License>, StoreError>;

    /// Licenses matching the query in (name, id) order, after its position.
    async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, StoreError>;

    /// How many licenses match the query's filters, ignoring its paging.
    async fn count_licenses(&self, query: &LicenseQuery) -> Result<u64, StoreError>;

    /// Deletes the license, frees its key and uncounts it on its product,
    /// as one step. `NotFound` when it is gone.
    async fn delete_license(&self, account: &ClientKey, id: &str) -> Result<(), StoreError>;

    /// Stores `license.deployment` and `license.holder` on condition that
    /// the license has no deployment yet: `Conflict` when it has one,
    /// `NotFound` when it is gone.
    async fn record_deployment(&self, license: &License) -> Result<(), StoreError>;

    async fn put_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
        profile: &HolderProfile,
    ) -> Result<(), StoreError>;

    async fn get_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
    ) -> Result<Option<HolderProfile>, StoreError>;

    /// `AlreadyExists` when the code is taken, in any account.
    async fn create_discount(&self, discount: &Discount) -> Result<(), StoreError>;

    async fn get_discount(&self, code: &str) -> Result<Option<Discount>, StoreError>;

    async fn create_nonce(&self, nonce: &ActivationNonce) -> Result<(), StoreError>;

    async fn get_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError>;

    /// Deletes the nonce on condition that it exists and has not expired by
    /// `now`; `NotFound` otherwise. Exactly one of racing spends succeeds.
    async fn spend_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    async fn create_login_token(&self, token: &LoginToken) -> Result<(), StoreError>;

    /// Deletes and returns the token on condition that it belongs to
    /// `account` and has not expired by `now`; `NotFound` otherwise.
    /// Exactly one of racing redemptions succeeds.
    async fn redeem_login_token(
        &self,
        account: &ClientKey,
        hash: &str,
        now: Timestamp,
    ) -> Result<LoginToken, StoreError>;
}

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
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Challenge>, StoreError>;

    /// The live challenge holding a person's slot for `purpose` at `now`.
    async fn live_challenge(
        &self,
        account: &ClientKey,
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
        account: &ClientKey,
        key: &str,
        claim_id: &str,
        response: StoredResponse,
    ) -> Result<(), StoreError>;

    /// Removes the claim `claim_id`; `Conflict` when it is no longer held.
    async fn release_idempotency_key(
        &self,
        account: &ClientKey,
        key: &str,
        claim_id: &str,
    ) -> Result<(), StoreError>;
}

/// Fixed-window request counters (`rate_limits`).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Adds one to `bucket` if it is below `limit` and says whether it did.
    /// The bucket may be forgotten after `window_end`.
    async fn count_request(
        &self,
        bucket: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<bool, StoreError>;
}
