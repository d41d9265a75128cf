//! Batches and their items in memory.

use super::*;

impl State {
    /// The pending item `item` names, or why it cannot be claimed.
    pub(super) fn pending_item(
        &mut self,
        item: &BatchItemRef,
    ) -> Result<&mut BatchItem, StoreError> {
        let stored = self
            .batch_items
            .get_mut(&(item.account.clone(), item.batch_id.clone()))
            .and_then(|items| items.get_mut(item.index as usize))
            .ok_or(StoreError::NotFound)?;
        if stored.state == ItemState::Pending {
            Ok(stored)
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    pub(super) fn count_on_batch(
        &mut self,
        item: &BatchItemRef,
        done: u32,
        failed: u32,
        at: Timestamp,
    ) {
        if let Some(batch) = self
            .batches
            .get_mut(&(item.account.clone(), item.batch_id.clone()))
        {
            batch.done += done;
            batch.failed += failed;
            batch.updated_at = batch.updated_at.max(at);
        }
    }
}

#[async_trait]
impl BatchStore for MemoryStore {
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError> {
        let mut state = self.lock();
        let client = batch.account.clone();
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
        account: &AccountId,
        key: &str,
    ) -> Result<Option<Batch>, StoreError> {
        let state = self.lock();
        Ok(state
            .idempotency_keys
            .get(&(account.clone(), key.to_owned()))
            .and_then(|id| state.batches.get(&(account.clone(), id.clone())))
            .cloned())
    }

    async fn get_batch(
        &self,
        account: &AccountId,
        id: &BatchId,
    ) -> Result<Option<Batch>, StoreError> {
        Ok(self
            .lock()
            .batches
            .get(&(account.clone(), id.clone()))
            .cloned())
    }

    async fn list_batches(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError> {
        let state = self.lock();
        let mut mine: Vec<&Batch> = state
            .batches
            .values()
            .filter(|b| b.account == *account && after.is_none_or(|a| b.position() < *a))
            .collect();
        mine.sort_by_key(|b| std::cmp::Reverse(b.position()));
        let more = mine.len() > limit;
        let items = mine.into_iter().take(limit).cloned().collect();
        Ok(Page::new(items, more, Batch::position))
    }

    async fn list_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        let state = self.lock();
        Ok(items_of(&state, account, batch_id)
            .skip(first as usize)
            .take(count as usize)
            .cloned()
            .collect())
    }

    async fn chunk_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        chunk: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        let state = self.lock();
        Ok(items_of(&state, account, batch_id)
            .filter(|item| item.item.chunk == chunk)
            .cloned()
            .collect())
    }

    async fn fail_run(
        &self,
        items: &[BatchItemRef],
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let Some(first) = items.first() else {
            return Ok(());
        };
        for item in items {
            state.pending_item(item)?;
        }
        for item in items {
            state.pending_item(item)?.state = ItemState::Failed {
                reason: reason.to_owned(),
            };
        }
        let failed = u32::try_from(items.len()).expect("a run is at most MAX_RUN items");
        state.count_on_batch(first, 0, failed, at);
        Ok(())
    }

    async fn record_completion(&self, batch: &Batch, at: Timestamp) -> Result<(), StoreError> {
        let event = batch.completed_event(at);
        let mut state = self.lock();
        state.append_event_once(event)
    }
}

/// A batch's items in index order; none for a batch that is not there.
fn items_of<'a>(
    state: &'a State,
    account: &AccountId,
    batch_id: &BatchId,
) -> impl Iterator<Item = &'a BatchItem> {
    state
        .batch_items
        .get(&(account.clone(), batch_id.clone()))
        .into_iter()
        .flatten()
}
