//! Clients, their used auth token ids, and API keys in memory.

use super::*;

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.lock()
            .clients
            .insert_new(client.key.clone(), client.clone())
    }

    async fn get_client(&self, key: &AccountId) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(key).cloned())
    }

    async fn add_public_key(
        &self,
        account: &AccountId,
        key: &RegisteredKey,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let client = state.clients.get_mut(account).ok_or(StoreError::NotFound)?;
        if client.public_keys.iter().any(|k| k.spki == key.spki) {
            return Err(StoreError::AlreadyExists);
        }
        client.public_keys.push(key.clone());
        Ok(())
    }

    async fn claim_token_id(
        &self,
        account: &AccountId,
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
            .insert_new((account.clone(), token_id.to_owned()), expires_at)
    }
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

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
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

    async fn revoke_api_key(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
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
