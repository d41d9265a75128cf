//! The in-memory adapter: the local API's embedded default and the fast
//! half of the conformance suite. One mutex over plain maps; every port
//! operation is one critical section, which is what makes its conditional
//! writes atomic.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, ItemState};
use domain::clients::{Client, ClientKey, RegisteredKey};
use domain::clock::Timestamp;
use domain::codes::{CodePosition, CodeQuery, CodeRecord, SortOrder};
use domain::devices::{Device, SerialNumber};
use domain::ports::{BatchStore, ClientStore, CodeStore, DeviceStore, Page, StoreError};
use serde::{Deserialize, Serialize};

use crate::records::DeviceRecord;

#[derive(Default)]
struct State {
    clients: BTreeMap<ClientKey, Client>,
    token_ids: HashMap<(ClientKey, String), Timestamp>,
    devices: BTreeMap<(ClientKey, SerialNumber), Device>,
    codes: BTreeMap<(ClientKey, CodePosition), CodeRecord>,
    batches: HashMap<(ClientKey, String), Batch>,
    batch_items: HashMap<(ClientKey, String), Vec<BatchItem>>,
    idempotency_keys: HashMap<(ClientKey, String), String>,
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
        }
        Ok(store)
    }

    pub fn to_seed(&self) -> Seed {
        let state = self.lock();
        Seed {
            clients: state.clients.values().cloned().collect(),
            devices: state.devices.values().map(DeviceRecord::from).collect(),
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

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.clients.contains_key(&client.key) {
            return Err(StoreError::AlreadyExists);
        }
        state.clients.insert(client.key.clone(), client.clone());
        Ok(())
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
        let key = (client.clone(), token_id.to_owned());
        if state.token_ids.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state.token_ids.insert(key, expires_at);
        Ok(())
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (device.client.clone(), device.serial.clone());
        if state.devices.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        state.devices.insert(key, device.clone());
        Ok(())
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
        let range = state
            .codes
            .range((lower, upper))
            .map(|(_, code)| code)
            .filter(|code| query.matches(code));
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
            if state.idempotency_keys.contains_key(&key) {
                return Err(StoreError::AlreadyExists);
            }
            state.idempotency_keys.insert(key, batch.id.clone());
        }
        let id = (client, batch.id.clone());
        if state.batches.contains_key(&id) {
            return Err(StoreError::AlreadyExists);
        }
        state.batches.insert(id.clone(), batch.clone());
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
