//! Idempotency-Key records in memory.

use super::*;

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
        account: &AccountId,
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
        account: &AccountId,
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
