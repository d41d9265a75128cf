//! The in-memory adapter: the local API's embedded default and the fast
//! half of the conformance suite. One mutex over plain maps; every port
//! operation is one critical section, which is what makes its conditional
//! writes atomic.

use std::collections::{btree_map, hash_map, BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, ItemState};
use domain::challenges::{
    Challenge, ChallengeQuery, ChallengeRef, DeliveryEvent, EndReason, Purpose,
};
use domain::clients::api_keys::ApiKey;
use domain::clients::{Client, ClientKey, RegisteredKey};
use domain::clock::Timestamp;
use domain::codes::{CodePosition, CodeQuery, CodeRecord};
use domain::devices::{Device, SerialNumber};
use domain::idempotency::{
    ClaimOutcome, IdempotencyRecord, KeyState, StoredResponse, KEY_TTL_SECS,
};
use domain::licensing::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LoginToken,
    Product,
};
use domain::paging::SortOrder;
use domain::{
    ApiKeyStore, BatchStore, ChallengeStore, ClientStore, CodeStore, DeviceStore, IdempotencyStore,
    LicenseStore, Page, RateLimitStore, StoreError,
};
use serde::{Deserialize, Serialize};

use crate::records::DeviceRecord;

#[derive(Default)]
struct State {
    clients: BTreeMap<ClientKey, Client>,
    token_ids: HashMap<(ClientKey, String), Timestamp>,
    devices: BTreeMap<(ClientKey, SerialNumber), Device>,
    codes: BTreeMap<(ClientKey, CodePosition), CodeRecord>,
    /// Each device's codes in time order, as DynamoDB's gsi1 keeps them: a
    /// device's listing reads its own codes, not all of the client's.
    device_codes: BTreeSet<(ClientKey, SerialNumber, CodePosition)>,
    batches: HashMap<(ClientKey, String), Batch>,
    batch_items: HashMap<(ClientKey, String), Vec<BatchItem>>,
    idempotency_keys: HashMap<(ClientKey, String), String>,
    api_keys: BTreeMap<String, ApiKey>,
    products: BTreeMap<(ClientKey, String), Product>,
    skus: HashMap<(ClientKey, String), String>,
    licenses: HashMap<(ClientKey, String), License>,
    license_keys: HashMap<String, (ClientKey, String)>,
    profiles: HashMap<(ClientKey, String), HolderProfile>,
    discounts: HashMap<String, Discount>,
    nonces: HashMap<(ClientKey, String), ActivationNonce>,
    login_tokens: HashMap<String, LoginToken>,
    challenges: BTreeMap<(ClientKey, String), Challenge>,
    challenge_purge_at: HashMap<(ClientKey, String), Timestamp>,
    challenge_slots: HashMap<(ClientKey, String, Purpose), (String, Timestamp)>,
    challenge_codes: HashMap<(ClientKey, String), (String, Timestamp)>,
    delivery_events: HashMap<(ClientKey, String), Vec<DeliveryEvent>>,
    request_keys: HashMap<(ClientKey, String), IdempotencyRecord>,
    rate_buckets: HashMap<String, (u32, Timestamp)>,
}

impl State {
    /// Frees a challenge's slot and code claims if they are still its own.
    fn release_claims(&mut self, challenge: &Challenge) {
        let slot = (
            challenge.account.clone(),
            challenge.person_id.clone(),
            challenge.purpose,
        );
        if self
            .challenge_slots
            .get(&slot)
            .is_some_and(|(id, _)| *id == challenge.id)
        {
            self.challenge_slots.remove(&slot);
        }
        let code = (challenge.account.clone(), challenge.code.clone());
        if self
            .challenge_codes
            .get(&code)
            .is_some_and(|(id, _)| *id == challenge.id)
        {
            self.challenge_codes.remove(&code);
        }
    }
}

impl State {
    /// The pending item `item` names, or why it cannot be claimed.
    fn pending_item(&mut self, item: &BatchItemRef) -> Result<&mut BatchItem, StoreError> {
        let stored = self
            .batch_items
            .get_mut(&(item.client.clone(), item.batch_id.clone()))
            .and_then(|items| items.get_mut(item.index as usize))
            .ok_or(StoreError::NotFound)?;
        if stored.state == ItemState::Pending {
            Ok(stored)
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    fn count_on_batch(&mut self, item: &BatchItemRef, done: u32, failed: u32, at: Timestamp) {
        if let Some(batch) = self
            .batches
            .get_mut(&(item.client.clone(), item.batch_id.clone()))
        {
            batch.done += done;
            batch.failed += failed;
            batch.updated_at = batch.updated_at.max(at);
        }
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

/// The clients and devices of a memory store, as the admin CLI writes them
/// to a seed file and the local API loads them at start. Codes and used
/// token ids are not part of it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Seed {
    pub clients: Vec<Client>,
    pub devices: Vec<DeviceRecord>,
    /// Hashes only, like every store of API keys.
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_seed(seed: Seed) -> Result<Self, StoreError> {
        let store = MemoryStore::new();
        {
            let mut state = store.lock();
            for client in seed.clients {
                state.clients.insert(client.key.clone(), client);
            }
            for record in seed.devices {
                let device = Device::try_from(record)?;
                state
                    .devices
                    .insert((device.client.clone(), device.serial.clone()), device);
            }
            for key in seed.api_keys {
                state.api_keys.insert(key.hash.clone(), key);
            }
        }
        Ok(store)
    }

    pub fn to_seed(&self) -> Seed {
        let state = self.lock();
        Seed {
            clients: state.clients.values().cloned().collect(),
            devices: state.devices.values().map(DeviceRecord::from).collect(),
            api_keys: state.api_keys.values().cloned().collect(),
        }
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

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.lock()
            .clients
            .insert_new(client.key.clone(), client.clone())
    }

    async fn get_client(&self, key: &ClientKey) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(key).cloned())
    }

    async fn add_public_key(
        &self,
        client: &ClientKey,
        key: &RegisteredKey,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let client = state.clients.get_mut(client).ok_or(StoreError::NotFound)?;
        if client.public_keys.iter().any(|k| k.spki == key.spki) {
            return Err(StoreError::AlreadyExists);
        }
        client.public_keys.push(key.clone());
        Ok(())
    }

    async fn claim_token_id(
        &self,
        client: &ClientKey,
        token_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Expired entries are dropped as they are met, the way DynamoDB's
        // TTL eventually would.
        state.token_ids.retain(|_, expiry| *expiry > now);
        state
            .token_ids
            .insert_new((client.clone(), token_id.to_owned()), expires_at)
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let key = (device.client.clone(), device.serial.clone());
        self.lock().devices.insert_new(key, device.clone())
    }

    async fn get_device(
        &self,
        client: &ClientKey,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .lock()
            .devices
            .get(&(client.clone(), serial.clone()))
            .cloned())
    }

    async fn list_devices(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError> {
        let state = self.lock();
        let mut matching = state
            .devices
            .iter()
            .filter(|((owner, serial), _)| owner == client && after.is_none_or(|a| serial > a))
            .map(|(_, device)| device);
        let items: Vec<Device> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, |d| d.serial.clone()))
    }
}

#[async_trait]
impl CodeStore for MemoryStore {
    async fn record_code(
        &self,
        device: &Device,
        next_count: u32,
        code: &CodeRecord,
        batch_item: Option<&BatchItemRef>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(item) = batch_item {
            state.pending_item(item)?;
        }
        let code_key = (code.client_key.clone(), code.position());
        if state.codes.contains_key(&code_key) {
            return Err(StoreError::Conflict);
        }
        let stored = state
            .devices
            .get_mut(&(device.client.clone(), device.serial.clone()))
            .filter(|stored| stored.version == device.version)
            .ok_or(StoreError::Conflict)?;
        stored.count = next_count;
        stored.version += 1;
        state.device_codes.insert((
            code.client_key.clone(),
            code.serial_num.clone(),
            code.position(),
        ));
        state.codes.insert(code_key, code.clone());
        if let Some(item) = batch_item {
            state.pending_item(item)?.state = ItemState::Done {
                code_id: code.id.clone(),
                code: code.code.clone(),
                count: code.count,
            };
            state.count_on_batch(item, 1, 0, code.created_at);
        }
        Ok(())
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        let state = self.lock();
        let at = |created_at: Timestamp, id: &str| {
            (
                query.client.clone(),
                CodePosition {
                    created_at,
                    id: id.to_owned(),
                },
            )
        };
        // Ids are alphanumeric, so "" and "~" bracket every id at an instant.
        let mut lower = Bound::Included(at(query.created_from, ""));
        let mut upper = Bound::Included(at(query.created_to, "~"));
        if let Some(after) = &query.after {
            let after = Bound::Excluded((query.client.clone(), after.clone()));
            match query.order {
                SortOrder::Ascending => lower = tighter(lower, after, true),
                SortOrder::Descending => upper = tighter(upper, after, false),
            }
        }
        if is_empty_range(&lower, &upper) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let state = &*state;
        let range: Box<dyn DoubleEndedIterator<Item = &CodeRecord>> = match &query.serial {
            Some(serial) => {
                let of_device =
                    |bound: Bound<CodeKey>| bound.map(|(client, at)| (client, serial.clone(), at));
                Box::new(
                    state
                        .device_codes
                        .range((of_device(lower), of_device(upper)))
                        .filter_map(|(client, _, at)| {
                            state.codes.get(&(client.clone(), at.clone()))
                        }),
                )
            }
            None => Box::new(state.codes.range((lower, upper)).map(|(_, code)| code)),
        };
        let range = range.filter(|code| query.matches(code));
        let mut matching: Box<dyn Iterator<Item = &CodeRecord>> = match query.order {
            SortOrder::Ascending => Box::new(range),
            SortOrder::Descending => Box::new(range.rev()),
        };
        let items: Vec<CodeRecord> = matching.by_ref().take(query.limit).cloned().collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, CodeRecord::position))
    }
}

#[async_trait]
impl BatchStore for MemoryStore {
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError> {
        let mut state = self.lock();
        let client = batch.client_key.clone();
        if let Some(key) = &batch.idempotency_key {
            let key = (client.clone(), key.clone());
            let live = state
                .idempotency_keys
                .get(&key)
                .and_then(|id| state.batches.get(&(client.clone(), id.clone())))
                .is_some_and(|first| first.created_at.plus_secs(KEY_TTL_SECS) > batch.created_at);
            if live
                || state
                    .batches
                    .contains_key(&(client.clone(), batch.id.clone()))
            {
                return Err(StoreError::AlreadyExists);
            }
            state.idempotency_keys.insert(key, batch.id.clone());
        }
        let id = (client, batch.id.clone());
        state.batches.insert_new(id.clone(), batch.clone())?;
        state.batch_items.insert(id, items.to_vec());
        Ok(())
    }

    async fn find_by_idempotency_key(
        &self,
        client: &ClientKey,
        key: &str,
    ) -> Result<Option<Batch>, StoreError> {
        let state = self.lock();
        Ok(state
            .idempotency_keys
            .get(&(client.clone(), key.to_owned()))
            .and_then(|id| state.batches.get(&(client.clone(), id.clone())))
            .cloned())
    }

    async fn get_batch(&self, client: &ClientKey, id: &str) -> Result<Option<Batch>, StoreError> {
        Ok(self
            .lock()
            .batches
            .get(&(client.clone(), id.to_owned()))
            .cloned())
    }

    async fn list_batches(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError> {
        let state = self.lock();
        let mut mine: Vec<&Batch> = state
            .batches
            .values()
            .filter(|b| b.client_key == *client && after.is_none_or(|a| b.position() < *a))
            .collect();
        mine.sort_by_key(|b| std::cmp::Reverse(b.position()));
        let more = mine.len() > limit;
        let items = mine.into_iter().take(limit).cloned().collect();
        Ok(Page::new(items, more, Batch::position))
    }

    async fn list_items(
        &self,
        client: &ClientKey,
        batch_id: &str,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        let state = self.lock();
        Ok(state
            .batch_items
            .get(&(client.clone(), batch_id.to_owned()))
            .map(|items| {
                items
                    .iter()
                    .skip(first as usize)
                    .take(count as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn fail_item(
        &self,
        item: &BatchItemRef,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.pending_item(item)?.state = ItemState::Failed {
            reason: reason.to_owned(),
        };
        state.count_on_batch(item, 0, 1, at);
        Ok(())
    }
}

type CodeKey = (ClientKey, CodePosition);

/// The narrower of two bounds on the same side of a range.
fn tighter(current: Bound<CodeKey>, candidate: Bound<CodeKey>, is_lower: bool) -> Bound<CodeKey> {
    let value = |b: &Bound<CodeKey>| match b {
        Bound::Included(v) | Bound::Excluded(v) => v.clone(),
        Bound::Unbounded => unreachable!("listing bounds are always set"),
    };
    let (c, n) = (value(&current), value(&candidate));
    let candidate_is_tighter = if is_lower { n >= c } else { n <= c };
    if candidate_is_tighter {
        candidate
    } else {
        current
    }
}

/// `BTreeMap::range` panics on an inverted range; such a listing is empty.
fn is_empty_range(lower: &Bound<CodeKey>, upper: &Bound<CodeKey>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

impl Seed {
    /// Reads a seed file; a missing file is an empty seed.
    pub fn load(path: &std::path::Path) -> Result<Seed, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Seed::default()),
            Err(err) => Err(format!("{}: {err}", path.display())),
        }
    }

    /// Writes the seed file whole (write then rename), readable by its owner
    /// only: it holds device keys.
    pub fn save(&self, path: &std::path::Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let text = serde_json::to_string_pretty(self).expect("seeds always serialize");
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, text.as_bytes()).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}

/// Writes `bytes` to a new file only its owner can read.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut state = self.lock();
        let taken = state.api_keys.contains_key(&key.hash)
            || state
                .api_keys
                .values()
                .any(|k| k.account == key.account && k.id == key.id);
        if taken {
            return Err(StoreError::AlreadyExists);
        }
        state.api_keys.insert(key.hash.clone(), key.clone());
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.lock().api_keys.get(hash).cloned())
    }

    async fn list_api_keys(&self, account: &ClientKey) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys: Vec<ApiKey> = self
            .lock()
            .api_keys
            .values()
            .filter(|k| k.account == *account)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_api_key(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let hash = state
            .api_keys
            .values()
            .find(|k| k.account == *account && k.id == id)
            .map(|k| k.hash.clone())
            .ok_or(StoreError::NotFound)?;
        state.api_keys.remove(&hash);
        Ok(())
    }
}

#[async_trait]
impl LicenseStore for MemoryStore {
    async fn create_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (product.account.clone(), product.id.clone());
        let sku = (product.account.clone(), product.sku.clone());
        if state.products.contains_key(&key) || state.skus.contains_key(&sku) {
            return Err(StoreError::AlreadyExists);
        }
        state.skus.insert(sku, product.id.clone());
        state.products.insert(key, product.clone());
        Ok(())
    }

    async fn get_product(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Product>, StoreError> {
        Ok(self
            .lock()
            .products
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn find_product_by_sku(
        &self,
        account: &ClientKey,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        let state = self.lock();
        Ok(state
            .skus
            .get(&(account.clone(), sku.to_owned()))
            .and_then(|id| state.products.get(&(account.clone(), id.clone())))
            .cloned())
    }

    async fn list_products(
        &self,
        account: &ClientKey,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Product, String>, StoreError> {
        let state = self.lock();
        let start = match after {
            Some(id) => Bound::Excluded((account.clone(), id.to_owned())),
            None => Bound::Included((account.clone(), String::new())),
        };
        let mut matching = state
            .products
            .range((start, Bound::Unbounded))
            .take_while(|((a, _), _)| a == account)
            .map(|(_, p)| p.clone());
        let items: Vec<Product> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, |p| p.id.clone()))
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .products
            .get_mut(&(product.account.clone(), product.id.clone()))
            .filter(|p| !p.retired)
            .ok_or(StoreError::NotFound)?;
        stored.name = product.name.clone();
        stored.description = product.description.clone();
        stored.latest_version = product.latest_version.clone();
        stored.updated_at = product.updated_at;
        Ok(())
    }

    async fn retire_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .products
            .get_mut(&(account.clone(), id.to_owned()))
            .ok_or(StoreError::NotFound)?;
        stored.retired = true;
        Ok(())
    }

    async fn delete_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (account.clone(), id.to_owned());
        let product = state.products.get(&key).ok_or(StoreError::NotFound)?;
        if product.license_count > 0 {
            return Err(StoreError::Conflict);
        }
        let sku = (account.clone(), product.sku.clone());
        state.skus.remove(&sku);
        state.products.remove(&key);
        Ok(())
    }

    async fn create_license(&self, license: &License) -> Result<(), StoreError> {
        let mut state = self.lock();
        let product_key = (license.account.clone(), license.product_id.clone());
        match state.products.get(&product_key) {
            Some(p) if !p.retired => {}
            _ => return Err(StoreError::NotFound),
        }
        let key = (license.account.clone(), license.id.clone());
        if state.licenses.contains_key(&key) || state.license_keys.contains_key(&license.key) {
            return Err(StoreError::AlreadyExists);
        }
        state.license_keys.insert(license.key.clone(), key.clone());
        state.licenses.insert(key, license.clone());
        if let Some(product) = state.products.get_mut(&product_key) {
            product.license_count += 1;
        }
        Ok(())
    }

    async fn get_license(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<License>, StoreError> {
        Ok(self
            .lock()
            .licenses
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn find_license_by_key(&self, key: &str) -> Result<Option<License>, StoreError> {
        let state = self.lock();
        Ok(state
            .license_keys
            .get(key)
            .and_then(|k| state.licenses.get(k))
            .cloned())
    }

    async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, StoreError> {
        let state = self.lock();
        let mut matching: Vec<&License> = state
            .licenses
            .values()
            .filter(|l| query.matches(l))
            .filter(|l| {
                query
                    .after
                    .as_ref()
                    .is_none_or(|after| l.position() > *after)
            })
            .collect();
        matching.sort_by_key(|l| l.position());
        let more = matching.len() > query.limit;
        let items = matching.into_iter().take(query.limit).cloned().collect();
        Ok(Page::new(items, more, License::position))
    }

    async fn count_licenses(&self, query: &LicenseQuery) -> Result<u64, StoreError> {
        let state = self.lock();
        Ok(state.licenses.values().filter(|l| query.matches(l)).count() as u64)
    }

    async fn delete_license(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let license = state
            .licenses
            .remove(&(account.clone(), id.to_owned()))
            .ok_or(StoreError::NotFound)?;
        state.license_keys.remove(&license.key);
        if let Some(product) = state
            .products
            .get_mut(&(account.clone(), license.product_id.clone()))
        {
            product.license_count = product.license_count.saturating_sub(1);
        }
        Ok(())
    }

    async fn record_deployment(&self, license: &License) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .licenses
            .get_mut(&(license.account.clone(), license.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.deployment.is_some() {
            return Err(StoreError::Conflict);
        }
        stored.deployment = license.deployment.clone();
        stored.holder = license.holder.clone();
        Ok(())
    }

    async fn put_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
        profile: &HolderProfile,
    ) -> Result<(), StoreError> {
        self.lock()
            .profiles
            .insert((account.clone(), holder.to_owned()), profile.clone());
        Ok(())
    }

    async fn get_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
    ) -> Result<Option<HolderProfile>, StoreError> {
        Ok(self
            .lock()
            .profiles
            .get(&(account.clone(), holder.to_owned()))
            .cloned())
    }

    async fn create_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        self.lock()
            .discounts
            .insert_new(discount.code.clone(), discount.clone())
    }

    async fn get_discount(&self, code: &str) -> Result<Option<Discount>, StoreError> {
        Ok(self.lock().discounts.get(code).cloned())
    }

    async fn create_nonce(&self, nonce: &ActivationNonce) -> Result<(), StoreError> {
        let key = (nonce.account.clone(), nonce.nonce.clone());
        self.lock().nonces.insert_new(key, nonce.clone())
    }

    async fn get_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError> {
        Ok(self
            .lock()
            .nonces
            .get(&(account.clone(), nonce.to_owned()))
            .cloned())
    }

    async fn spend_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (account.clone(), nonce.to_owned());
        match state.nonces.get(&key) {
            Some(stored) if now < stored.expires_at => {
                state.nonces.remove(&key);
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn create_login_token(&self, token: &LoginToken) -> Result<(), StoreError> {
        self.lock()
            .login_tokens
            .insert_new(token.hash.clone(), token.clone())
    }

    async fn redeem_login_token(
        &self,
        account: &ClientKey,
        hash: &str,
        now: Timestamp,
    ) -> Result<LoginToken, StoreError> {
        let mut state = self.lock();
        match state.login_tokens.get(hash) {
            Some(token) if token.account == *account && now < token.expires_at => {
                state.login_tokens.remove(hash).ok_or(StoreError::NotFound)
            }
            _ => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn create_challenge(
        &self,
        challenge: &Challenge,
        replacing: Option<&Challenge>,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let now = challenge.created_at;
        let account = &challenge.account;
        let slot_key = (
            account.clone(),
            challenge.person_id.clone(),
            challenge.purpose,
        );
        let slot = state.challenge_slots.get(&slot_key).cloned();
        match replacing {
            None => {
                if slot.is_some_and(|(_, expires)| expires > now) {
                    return Err(StoreError::AlreadyExists);
                }
            }
            Some(old) => {
                let holds = slot.is_some_and(|(id, _)| id == old.id);
                let stored = state.challenges.get(&(account.clone(), old.id.clone()));
                let live = stored.is_some_and(|c| c.ended.is_none() && !c.is_expired(now));
                if !holds || !live {
                    return Err(StoreError::Conflict);
                }
            }
        }
        let code_key = (account.clone(), challenge.code.clone());
        if state
            .challenge_codes
            .get(&code_key)
            .is_some_and(|(_, expires)| *expires > now)
        {
            return Err(StoreError::Conflict);
        }
        let key = (account.clone(), challenge.id.clone());
        if state.challenges.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        if let Some(old) = replacing {
            let old_key = (account.clone(), old.id.clone());
            if let Some(stored) = state.challenges.get_mut(&old_key) {
                stored.ended = Some(EndReason::Invalidated);
                stored.expires_at = now;
            }
            let ended = state.challenges[&old_key].clone();
            state.release_claims(&ended);
            state
                .challenge_purge_at
                .insert(old_key, ended.purge_at(retention_secs));
        }
        state
            .challenge_slots
            .insert(slot_key, (challenge.id.clone(), challenge.expires_at));
        state
            .challenge_codes
            .insert(code_key, (challenge.id.clone(), challenge.expires_at));
        state
            .challenge_purge_at
            .insert(key.clone(), challenge.purge_at(retention_secs));
        state.challenges.insert(key, challenge.clone());
        Ok(())
    }

    async fn get_challenge(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .lock()
            .challenges
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn live_challenge(
        &self,
        account: &ClientKey,
        person_id: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError> {
        let state = self.lock();
        let Some((id, _)) =
            state
                .challenge_slots
                .get(&(account.clone(), person_id.to_owned(), purpose))
        else {
            return Ok(None);
        };
        Ok(state
            .challenges
            .get(&(account.clone(), id.clone()))
            .filter(|c| c.ended.is_none() && !c.is_expired(now))
            .cloned())
    }

    async fn list_challenges(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, StoreError> {
        let state = self.lock();
        Ok(state
            .challenges
            .values()
            .filter(|c| query.matches(c))
            .skip(query.skip)
            .take(query.size)
            .cloned()
            .collect())
    }

    async fn end_challenge(
        &self,
        challenge: &Challenge,
        at: Timestamp,
        reason: EndReason,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (challenge.account.clone(), challenge.id.clone());
        let stored = state.challenges.get_mut(&key).ok_or(StoreError::NotFound)?;
        if stored.ended.is_some() || stored.is_expired(at) {
            return Err(StoreError::Conflict);
        }
        stored.ended = Some(reason);
        stored.expires_at = at;
        let ended = stored.clone();
        state.release_claims(&ended);
        state
            .challenge_purge_at
            .insert(key, ended.purge_at(retention_secs));
        Ok(())
    }

    async fn use_challenge(&self, challenge: &Challenge, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        let usable = stored.ended.is_none()
            && !stored.is_expired(now)
            && stored.usage_count < stored.max_usage_count;
        if !usable {
            return Err(StoreError::Conflict);
        }
        stored.usage_count += 1;
        Ok(())
    }

    async fn record_failed_attempt(
        &self,
        challenge: &Challenge,
        window_start: Timestamp,
        failed: u32,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.attempt_window_start != challenge.attempt_window_start
            || stored.failed_attempts != challenge.failed_attempts
        {
            return Err(StoreError::Conflict);
        }
        stored.attempt_window_start = window_start;
        stored.failed_attempts = failed;
        Ok(())
    }

    async fn add_delivery_event(
        &self,
        event: &DeliveryEvent,
        max_events: u32,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (event.account.clone(), event.challenge_id.clone());
        let stored = state.challenges.get_mut(&key).ok_or(StoreError::NotFound)?;
        if stored.event_count >= max_events {
            return Err(StoreError::Conflict);
        }
        stored.event_count += 1;
        state
            .delivery_events
            .entry(key)
            .or_default()
            .push(event.clone());
        Ok(())
    }

    async fn list_delivery_events(
        &self,
        challenge: &Challenge,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        Ok(self
            .lock()
            .delivery_events
            .get(&(challenge.account.clone(), challenge.id.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn expired_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        let state = self.lock();
        let mut due: Vec<&Challenge> = state
            .challenges
            .values()
            .filter(|c| !c.marked_expired && c.ended.is_none() && c.is_expired(now))
            .collect();
        due.sort_by_key(|c| c.expires_at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|c| ChallengeRef {
                account: c.account.clone(),
                id: c.id.clone(),
            })
            .collect())
    }

    async fn mark_expired(
        &self,
        challenge: &ChallengeRef,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .challenges
            .get_mut(&(challenge.account.clone(), challenge.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.marked_expired || stored.ended.is_some() || !stored.is_expired(now) {
            return Err(StoreError::Conflict);
        }
        stored.marked_expired = true;
        let marked = stored.clone();
        state.release_claims(&marked);
        Ok(())
    }

    async fn purgeable_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        let state = self.lock();
        let mut due: Vec<(&(ClientKey, String), &Timestamp)> = state
            .challenge_purge_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .collect();
        due.sort_by_key(|(_, at)| **at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|((account, id), _)| ChallengeRef {
                account: account.clone(),
                id: id.clone(),
            })
            .collect())
    }

    async fn purge_challenge(&self, challenge: &ChallengeRef) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (challenge.account.clone(), challenge.id.clone());
        let removed = state.challenges.remove(&key).ok_or(StoreError::NotFound)?;
        state.release_claims(&removed);
        state.challenge_purge_at.remove(&key);
        state.delivery_events.remove(&key);
        Ok(())
    }
}

/// Entries the memory store's expiring maps may hold before a write sweeps
/// out the dead ones, so a long-running local API stays small.
const SWEEP_AT: usize = 10_000;

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency_key(
        &self,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut state = self.lock();
        if state.request_keys.len() >= SWEEP_AT {
            state.request_keys.retain(|_, r| r.expires_at > now);
        }
        let slot = (record.account.clone(), record.key.clone());
        match state.request_keys.get(&slot) {
            Some(existing) if !existing.is_free_at(now) => {
                Ok(ClaimOutcome::Taken(existing.clone()))
            }
            _ => {
                state.request_keys.insert(slot, record.clone());
                Ok(ClaimOutcome::Claimed)
            }
        }
    }

    async fn complete_idempotency_key(
        &self,
        account: &ClientKey,
        key: &str,
        claim_id: &str,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state
            .request_keys
            .get_mut(&(account.clone(), key.to_owned()))
        {
            Some(record) if holds(record, claim_id) => {
                record.state = KeyState::Completed { response };
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn release_idempotency_key(
        &self,
        account: &ClientKey,
        key: &str,
        claim_id: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let slot = (account.clone(), key.to_owned());
        match state.request_keys.get(&slot) {
            Some(record) if holds(record, claim_id) => {
                state.request_keys.remove(&slot);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }
}

fn holds(record: &IdempotencyRecord, claim: &str) -> bool {
    matches!(&record.state, KeyState::Claimed { claim_id, .. } if claim_id == claim)
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn count_request(
        &self,
        bucket: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.rate_buckets.len() >= SWEEP_AT {
            // Buckets of windows that ended before this one began are dead.
            state.rate_buckets.retain(|_, (_, end)| *end >= window_end);
        }
        let (count, _) = state
            .rate_buckets
            .entry(bucket.to_owned())
            .or_insert((0, window_end));
        if *count < limit {
            *count += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
