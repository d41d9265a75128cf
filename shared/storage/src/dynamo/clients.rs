//! Clients, their used auth token ids, and the hashed credentials kept
//! under them (API keys here, M-Pesa callback tokens in `mpesa.rs`) on
//! DynamoDB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clients::api_keys::ApiKey;
use domain::clients::secrets::Credential;
use domain::clients::{AccountId, Client as ApiClient, RegisteredKey};
use domain::clock::Timestamp;
use domain::{ApiKeyStore, ClientStore, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::dynamo::schema::{
    client_pk, credential_pk, credential_sk, CLIENTS_GSI, CLIENT_SK, PK, SK, TOKEN_SK,
    TTL_ATTRIBUTE,
};
use crate::dynamo::{
    any_failed_condition, conditional, corrupt, query_all, s, transaction_outcome, unavailable,
    DynamoStore, StoredItem,
};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientItem {
    pk: String,
    sk: String,
    client_key: AccountId,
    name: String,
    created_at: Timestamp,
    /// SPKI base64 -> time added. A map, so adding a key can be a
    /// conditional `SET publicKeys.#key`.
    public_keys: HashMap<String, Timestamp>,
    /// Every client in one partition of `gsi1`, in key order: how the
    /// credit notices visit each account (`notices.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

#[async_trait]
impl ClientStore for DynamoStore {
    async fn create_client(&self, client: &ApiClient) -> Result<(), StoreError> {
        let item = ClientItem {
            pk: client_pk(&client.key),
            sk: CLIENT_SK.into(),
            client_key: client.key.clone(),
            name: client.name.clone(),
            created_at: client.created_at,
            public_keys: client
                .public_keys
                .iter()
                .map(|k| (k.spki.clone(), k.added_at))
                .collect(),
            gsi1pk: Some(CLIENTS_GSI.into()),
            gsi1sk: Some(client.key.to_string()),
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_client(&self, key: &AccountId) -> Result<Option<ApiClient>, StoreError> {
        let Some(item) = self.get(client_pk(key), CLIENT_SK).await? else {
            return Ok(None);
        };
        let item: ClientItem = from_item(item).map_err(corrupt)?;
        let mut public_keys: Vec<RegisteredKey> = item
            .public_keys
            .into_iter()
            .map(|(spki, added_at)| RegisteredKey { spki, added_at })
            .collect();
        public_keys.sort_by(|a, b| (a.added_at, &a.spki).cmp(&(b.added_at, &b.spki)));
        Ok(Some(ApiClient {
            key: item.client_key,
            name: item.name,
            public_keys,
            created_at: item.created_at,
        }))
    }

    async fn add_public_key(
        &self,
        account: &AccountId,
        key: &RegisteredKey,
    ) -> Result<(), StoreError> {
        let added_at =
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(key.added_at).map_err(corrupt)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(client_pk(account)))
            .key(SK, AttributeValue::S(CLIENT_SK.into()))
            .update_expression("SET publicKeys.#key = :added")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(publicKeys.#key)")
            .expression_attribute_names("#key", &key.spki)
            .expression_attribute_values(":added", added_at)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                // The condition has two halves; a read tells which failed.
                match self.get_client(account).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::AlreadyExists),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn claim_token_id(
        &self,
        account: &AccountId,
        token_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        // An expired record may linger until TTL removes it, so the
        // condition also lets a write replace one whose time is up.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(format!("TOKEN#{account}#{token_id}")))
            .item(SK, AttributeValue::S(TOKEN_SK.into()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N(expires_at.secs().to_string()),
            )
            .item(
                "expiresAtMillis",
                AttributeValue::N(expires_at.millis().to_string()),
            )
            .condition_expression("attribute_not_exists(pk) OR expiresAtMillis <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.millis().to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::AlreadyExists))
    }
}

/// Where a kind of hashed credential lives: under `<kind>#<hash>` to find a
/// presented one, and as `<kind>#<id>` in its account's partition to list
/// and revoke it by id. The two items are written and deleted together.
pub(crate) const API_KEYS: &str = "APIKEY";

impl DynamoStore {
    pub(crate) async fn create_credential<T: Credential + Serialize>(
        &self,
        kind: &str,
        record: &T,
    ) -> Result<(), StoreError> {
        let by_hash = StoredItem {
            pk: credential_pk(kind, record.hash()),
            sk: kind.to_owned(),
            gsi1pk: None,
            gsi1sk: None,
            record,
        };
        let by_account = StoredItem {
            pk: client_pk(record.account()),
            sk: credential_sk(kind, record.id()),
            gsi1pk: None,
            gsi1sk: None,
            record,
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_step(to_item(by_hash).map_err(corrupt)?))
            .transact_items(self.put_step(to_item(by_account).map_err(corrupt)?))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::AlreadyExists))
    }

    pub(crate) async fn find_credential<T: DeserializeOwned>(
        &self,
        kind: &str,
        hash: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(credential_pk(kind, hash), kind).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<T> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    /// The account's credentials of `kind`, oldest first.
    pub(crate) async fn list_credentials<T: Credential + DeserializeOwned>(
        &self,
        kind: &str,
        account: &AccountId,
    ) -> Result<Vec<T>, StoreError> {
        let stored: Vec<StoredItem<T>> = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(client_pk(account)))
                .expression_attribute_values(":prefix", s(format!("{kind}#")))
                .consistent_read(true),
        )
        .await?;
        let mut records: Vec<T> = stored.into_iter().map(|k| k.record).collect();
        records.sort_by(|a, b| (a.created_at(), a.id()).cmp(&(b.created_at(), b.id())));
        Ok(records)
    }

    pub(crate) async fn revoke_credential<T: Credential + DeserializeOwned>(
        &self,
        kind: &str,
        account: &AccountId,
        id: &str,
    ) -> Result<(), StoreError> {
        let item = self
            .get(client_pk(account), &credential_sk(kind, id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored: StoredItem<T> = from_item(item).map_err(corrupt)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.delete_step(
                client_pk(account),
                &credential_sk(kind, id),
                Some("attribute_exists(pk)"),
            ))
            .transact_items(self.delete_step(
                credential_pk(kind, stored.record.hash()),
                kind,
                Some("attribute_exists(pk)"),
            ))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::NotFound))
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, api_key: &ApiKey) -> Result<(), StoreError> {
        self.create_credential(API_KEYS, api_key).await
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.find_credential(API_KEYS, hash).await
    }

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        self.list_credentials(API_KEYS, account).await
    }

    async fn revoke_api_key(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        self.revoke_credential::<ApiKey>(API_KEYS, account, id)
            .await
    }
}
