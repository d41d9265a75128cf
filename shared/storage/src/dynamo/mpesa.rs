//! M-Pesa callback registrations on DynamoDB: hashed credentials like API
//! keys (`clients.rs`), of kind `MPESA`.

use async_trait::async_trait;
use domain::clients::AccountId;
use domain::mpesa::MpesaCallback;
use domain::{MpesaStore, StoreError};

use crate::dynamo::DynamoStore;

const CALLBACKS: &str = "MPESA";

#[async_trait]
impl MpesaStore for DynamoStore {
    async fn create_callback(&self, callback: &MpesaCallback) -> Result<(), StoreError> {
        self.create_credential(CALLBACKS, callback).await
    }

    async fn find_callback(&self, hash: &str) -> Result<Option<MpesaCallback>, StoreError> {
        self.find_credential(CALLBACKS, hash).await
    }

    async fn list_callbacks(&self, account: &AccountId) -> Result<Vec<MpesaCallback>, StoreError> {
        self.list_credentials(CALLBACKS, account).await
    }

    async fn revoke_callback(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        self.revoke_credential::<MpesaCallback>(CALLBACKS, account, id)
            .await
    }
}
