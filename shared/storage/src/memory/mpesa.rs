//! M-Pesa callback registrations in memory: hashed credentials like API
//! keys (`clients.rs`).

use super::clients::{create_credential, list_credentials, revoke_credential};
use super::*;

#[async_trait]
impl MpesaStore for MemoryStore {
    async fn create_callback(&self, callback: &MpesaCallback) -> Result<(), StoreError> {
        create_credential(&mut self.lock().mpesa_callbacks, callback)
    }

    async fn find_callback(&self, hash: &str) -> Result<Option<MpesaCallback>, StoreError> {
        Ok(self.lock().mpesa_callbacks.get(hash).cloned())
    }

    async fn list_callbacks(&self, account: &AccountId) -> Result<Vec<MpesaCallback>, StoreError> {
        Ok(list_credentials(&self.lock().mpesa_callbacks, account))
    }

    async fn revoke_callback(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        revoke_credential(&mut self.lock().mpesa_callbacks, account, id)
    }
}
