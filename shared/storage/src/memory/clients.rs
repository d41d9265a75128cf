//! Clients, their used auth token ids, and API keys in memory.

use domain::clients::secrets::Credential;

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

/// Hashed credentials of one kind, by hash: the operations every kind
/// shares (API keys here, M-Pesa callback tokens in `mpesa.rs`).
pub(super) fn create_credential<T: Credential + Clone>(
    by_hash: &mut BTreeMap<String, T>,
    record: &T,
) -> Result<(), StoreError> {
    let taken = by_hash.contains_key(record.hash())
        || by_hash
            .values()
            .any(|k| k.account() == record.account() && k.id() == record.id());
    if taken {
        return Err(StoreError::AlreadyExists);
    }
    by_hash.insert(record.hash().to_owned(), record.clone());
    Ok(())
}

/// The account's credentials, oldest first.
pub(super) fn list_credentials<T: Credential + Clone>(
    by_hash: &BTreeMap<String, T>,
    account: &AccountId,
) -> Vec<T> {
    let mut records: Vec<T> = by_hash
        .values()
        .filter(|k| k.account() == account)
        .cloned()
        .collect();
    records.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
    records
}

pub(super) fn revoke_credential<T: Credential>(
    by_hash: &mut BTreeMap<String, T>,
    account: &AccountId,
    id: &str,
) -> Result<(), StoreError> {
    let hash = by_hash
        .values()
        .find(|k| k.account() == account && k.id() == id)
        .map(|k| k.hash().to_owned())
        .ok_or(StoreError::NotFound)?;
    by_hash.remove(&hash);
    Ok(())
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        create_credential(&mut self.lock().api_keys, key)
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.lock().api_keys.get(hash).cloned())
    }

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        Ok(list_credentials(&self.lock().api_keys, account))
    }

    async fn revoke_api_key(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        revoke_credential(&mut self.lock().api_keys, account, id)
    }
}
