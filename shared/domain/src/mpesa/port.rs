//! The storage port of M-Pesa callback registrations.

use async_trait::async_trait;

use super::MpesaCallback;
use crate::clients::AccountId;
use crate::store::StoreError;

#[async_trait]
pub trait MpesaStore: Send + Sync {
    /// `AlreadyExists` when the id or hash is taken.
    async fn create_callback(&self, callback: &MpesaCallback) -> Result<(), StoreError>;

    /// The registration whose token hashes to `hash`.
    async fn find_callback(&self, hash: &str) -> Result<Option<MpesaCallback>, StoreError>;

    /// The account's registrations, oldest first.
    async fn list_callbacks(&self, account: &AccountId) -> Result<Vec<MpesaCallback>, StoreError>;

    /// Deletes the registration so its token stops working at once;
    /// `NotFound` when the account has none with this id.
    async fn revoke_callback(&self, account: &AccountId, id: &str) -> Result<(), StoreError>;
}
