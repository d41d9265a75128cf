//! The storage ports of clients and their API keys.

use async_trait::async_trait;

use super::api_keys::ApiKey;
use super::{AccountId, Client, RegisteredKey};
use crate::clock::Timestamp;
use crate::store::StoreError;

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client; `AlreadyExists` when its key is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;

    async fn get_client(&self, key: &AccountId) -> Result<Option<Client>, StoreError>;

    /// Adds a public key; `NotFound` for an unknown client, `AlreadyExists`
    /// when the key is already registered to it.
    async fn add_public_key(
        &self,
        account: &AccountId,
        key: &RegisteredKey,
    ) -> Result<(), StoreError>;

    /// Records an auth token id as used until `expires_at`. `AlreadyExists`
    /// when it is already recorded and has not expired by `now`: that is a
    /// replay. Exactly one of any number of racing claims succeeds.
    async fn claim_token_id(
        &self,
        account: &AccountId,
        token_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// `AlreadyExists` when the id or hash is taken.
    async fn create_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The account's keys, oldest first.
    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError>;

    /// Deletes the key so it stops working at once; `NotFound` when the
    /// account has no key with this id.
    async fn revoke_api_key(&self, account: &AccountId, id: &str) -> Result<(), StoreError>;
}
