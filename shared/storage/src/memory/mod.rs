//! The in-memory adapter: the local API's embedded default and the fast
//! half of the conformance suite. One mutex over plain maps; every port
//! operation is one critical section, which is what makes its conditional
//! writes atomic.

use std::collections::{btree_map, hash_map, BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, ItemState};
use domain::challenges::{
    Challenge, ChallengeQuery, ChallengeRef, DeliveryEvent, EndReason, Purpose,
};
use domain::clients::api_keys::ApiKey;
use domain::clients::{AccountId, Client, RegisteredKey};
use domain::clock::Timestamp;
use domain::codes::{Advance, CodePosition, CodeQuery, CodeRecord};
use domain::devices::PaymentPlan;
use domain::devices::{Device, ExpiryPosition, ExpiryQuery, SerialNumber};
use domain::events::Event;
use domain::idempotency::{
    ClaimOutcome, IdempotencyRecord, KeyState, StoredResponse, KEY_TTL_SECS,
};
use domain::ids::{BatchId, ChallengeId, LicenseId, ProductId};
use domain::licensing::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LoginToken,
    Product,
};
use domain::mpesa::MpesaCallback;
use domain::notices::NoticeAccount;
use domain::paging::SortOrder;
use domain::payments::{LedgerPosition, Payment, PaymentPosition, PaymentQuery};
use domain::webhooks::port::EndpointCreated;
use domain::webhooks::{Delivery, DeliveryPosition, Endpoint};
use domain::{
    ApiKeyStore, BatchStore, ChallengeStore, ClientStore, CodeStore, DeviceStore, IdempotencyStore,
    LicenseStore, MpesaStore, NoticeStore, Page, PaymentStore, RateLimitStore, StoreError,
    WebhookStore,
};
use serde::{Deserialize, Serialize};

use crate::device_record::DeviceRecord;

#[derive(Default)]
struct State {
    clients: BTreeMap<AccountId, Client>,
    token_ids: HashMap<(AccountId, String), Timestamp>,
    devices: BTreeMap<(AccountId, SerialNumber), Device>,
    codes: BTreeMap<(AccountId, CodePosition), CodeRecord>,
    /// Each device's codes in time order, as DynamoDB's gsi1 keeps them: a
    /// device's listing reads its own codes, not all of the client's.
    device_codes: BTreeSet<(AccountId, SerialNumber, CodePosition)>,
    batches: HashMap<(AccountId, BatchId), Batch>,
    batch_items: HashMap<(AccountId, BatchId), Vec<BatchItem>>,
    idempotency_keys: HashMap<(AccountId, String), BatchId>,
    api_keys: BTreeMap<String, ApiKey>,
    /// M-Pesa callback registrations by their token's hash.
    mpesa_callbacks: BTreeMap<String, MpesaCallback>,
    products: BTreeMap<(AccountId, ProductId), Product>,
    skus: HashMap<(AccountId, String), ProductId>,
    licenses: HashMap<(AccountId, LicenseId), License>,
    license_keys: HashMap<String, (AccountId, LicenseId)>,
    profiles: HashMap<(AccountId, String), HolderProfile>,
    discounts: HashMap<String, Discount>,
    nonces: HashMap<(AccountId, String), ActivationNonce>,
    login_tokens: HashMap<String, LoginToken>,
    challenges: BTreeMap<(AccountId, ChallengeId), Challenge>,
    challenge_purge_at: HashMap<(AccountId, ChallengeId), Timestamp>,
    challenge_slots: HashMap<(AccountId, String, Purpose), (ChallengeId, Timestamp)>,
    challenge_codes: HashMap<(AccountId, String), (ChallengeId, Timestamp)>,
    delivery_events: HashMap<(AccountId, ChallengeId), Vec<DeliveryEvent>>,
    request_keys: HashMap<(AccountId, String), IdempotencyRecord>,
    /// Payments by their provider reference, unique per account.
    payments: BTreeMap<(AccountId, String), Payment>,
    rate_buckets: HashMap<String, (u32, Timestamp)>,
    /// Every event written, in commit order: the memory twin of the
    /// table's stream, read by position. Written only by `append_event`.
    outbox: Vec<Event>,
    /// The ids in `outbox`, so that a once-only write is one lookup.
    outbox_ids: HashSet<String>,
    /// Webhook endpoints by account, in creation order.
    endpoints: BTreeMap<(AccountId, Timestamp, String), Endpoint>,
    deliveries: HashMap<(AccountId, String), Delivery>,
    /// The notice days each account set (`device.credit_expiring`).
    notice_days: HashMap<AccountId, u32>,
}

impl State {
    /// Appends an event to the outbox, as the outbox item a DynamoDB write
    /// puts (unconditionally: the callers' own checks make it one).
    fn append_event(&mut self, event: Event) {
        self.outbox_ids.insert(event.id.clone());
        self.outbox.push(event);
    }

    /// Appends an event unless one with its id is there, as DynamoDB's
    /// conditional put of the outbox item does.
    fn append_event_once(&mut self, event: Event) -> Result<(), StoreError> {
        if self.outbox_ids.contains(&event.id) {
            return Err(StoreError::AlreadyExists);
        }
        self.append_event(event);
        Ok(())
    }
}

mod batches;
mod challenges;
mod clients;
mod codes;
mod devices;
mod idempotency;
mod licensing;
mod mpesa;
mod notices;
mod payments;
mod rate_limits;
mod seed;
mod webhooks;

pub use seed::{write_private, Seed};

/// Entries the memory store's expiring maps may hold before a write sweeps
/// out the dead ones, so a long-running local API stays small.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a map half-updated:
        // each operation checks everything before it writes.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Insert-if-absent: the in-memory twin of a put conditional on
/// `attribute_not_exists(pk)`.
trait InsertNew<K, V> {
    fn insert_new(&mut self, key: K, value: V) -> Result<(), StoreError>;
}

impl<K: Ord, V> InsertNew<K, V> for BTreeMap<K, V> {
    fn insert_new(&mut self, key: K, value: V) -> Result<(), StoreError> {
        match self.entry(key) {
            btree_map::Entry::Vacant(slot) => {
                slot.insert(value);
                Ok(())
            }
            btree_map::Entry::Occupied(_) => Err(StoreError::AlreadyExists),
        }
    }
}

impl<K: Eq + Hash, V> InsertNew<K, V> for HashMap<K, V> {
    fn insert_new(&mut self, key: K, value: V) -> Result<(), StoreError> {
        match self.entry(key) {
            hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
                Ok(())
            }
            hash_map::Entry::Occupied(_) => Err(StoreError::AlreadyExists),
        }
    }
}
