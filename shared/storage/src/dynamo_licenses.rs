//! The DynamoDB adapter's licensing half: API keys, products, licenses and
//! what hangs off them. Keys and indexes are in `docs/storage.md`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValue, Select, TransactWriteItem, Update,
};
use domain::clients::api_keys::ApiKey;
use domain::clients::ClientKey;
use domain::clock::Timestamp;
use domain::licensing::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LicenseState,
    LoginToken, Product,
};
use domain::{ApiKeyStore, LicenseStore, Page, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::dynamo::{
    any_failed_condition, client_pk, conditional, corrupt, key, n, query_all, s,
    transaction_outcome, unavailable, DynamoStore, Item, StoredItem, GSI1, GSI1_PK, GSI1_SK, GSI2,
    GSI3, MAX_QUERIES_PER_PAGE, PK, SK,
};

// ---- API keys ----

const API_KEY_SK: &str = "APIKEY";

fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

fn api_key_sk(id: &str) -> String {
    format!("APIKEY#{id}")
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, api_key: &ApiKey) -> Result<(), StoreError> {
        // One item to find a presented key by its hash, one under the
        // account to list and revoke it by id.
        let by_hash = StoredItem {
            pk: api_key_pk(&api_key.hash),
            sk: API_KEY_SK.to_owned(),
            gsi1pk: None,
            gsi1sk: None,
            record: api_key,
        };
        let by_account = StoredItem {
            pk: client_pk(&api_key.account),
            sk: api_key_sk(&api_key.id),
            gsi1pk: None,
            gsi1sk: None,
            record: api_key,
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

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        match self.get(api_key_pk(hash), API_KEY_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<ApiKey> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn list_api_keys(&self, account: &ClientKey) -> Result<Vec<ApiKey>, StoreError> {
        let stored: Vec<StoredItem<ApiKey>> = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(client_pk(account)))
                .expression_attribute_values(":prefix", s("APIKEY#"))
                .consistent_read(true),
        )
        .await?;
        let mut keys: Vec<ApiKey> = stored.into_iter().map(|k| k.record).collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn revoke_api_key(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let item = self
            .get(client_pk(account), &api_key_sk(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let stored: StoredItem<ApiKey> = from_item(item).map_err(corrupt)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.delete_step(
                client_pk(account),
                &api_key_sk(id),
                Some("attribute_exists(pk)"),
            ))
            .transact_items(self.delete_step(
                api_key_pk(&stored.record.hash),
                API_KEY_SK,
                Some("attribute_exists(pk)"),
            ))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::NotFound))
    }
}

// ---- products, licenses and the rest ----

const PRODUCT_SK: &str = "PRODUCT";
const SKU_SK: &str = "SKU";
const LICENSE_SK: &str = "LICENSE";
const LICENSE_KEY_SK: &str = "LICENSEKEY";

fn product_pk(account: &ClientKey, id: &str) -> String {
    format!("PRODUCT#{account}#{id}")
}

fn products_gsi(account: &ClientKey) -> String {
    format!("PRODUCTS#{account}")
}

fn sku_pk(account: &ClientKey, sku: &str) -> String {
    format!("SKU#{account}#{sku}")
}

fn license_pk(account: &ClientKey, id: &str) -> String {
    format!("LICENSE#{account}#{id}")
}

fn licenses_gsi1(account: &ClientKey) -> String {
    format!("LICENSES#{account}")
}

fn licenses_gsi2(account: &ClientKey, product: &str) -> String {
    format!("LICENSEPRODUCT#{account}#{product}")
}

fn licenses_gsi3(account: &ClientKey, holder: &str) -> String {
    format!("LICENSEHOLDER#{account}#{holder}")
}

fn license_key_pk(key: &str) -> String {
    format!("LICENSEKEY#{key}")
}

/// A license with its three index keys. gsi1 lists an account's licenses,
/// gsi2 a product's, gsi3 a holder's, all in (name, id) order.
#[derive(Serialize, Deserialize)]
struct LicenseItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    #[serde(flatten)]
    record: License,
}

impl LicenseItem {
    fn new(license: &License) -> Self {
        let position = license.position().sort_key();
        LicenseItem {
            pk: license_pk(&license.account, &license.id),
            sk: LICENSE_SK.to_owned(),
            gsi1pk: licenses_gsi1(&license.account),
            gsi1sk: position.clone(),
            gsi2pk: licenses_gsi2(&license.account, &license.product_id),
            gsi2sk: position.clone(),
            gsi3pk: license
                .holder
                .as_ref()
                .map(|h| licenses_gsi3(&license.account, h)),
            gsi3sk: license.holder.as_ref().map(|_| position),
            record: license.clone(),
        }
    }
}

/// A record kept under a wrapper, for items whose TTL attribute would
/// collide with the record's own `expiresAt`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpiringItem<T> {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<ClientKey>,
    /// Epoch seconds, for DynamoDB's TTL.
    expires_at: i64,
    /// Epoch milliseconds, for conditions.
    expires_at_millis: i64,
    record: T,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyClaim {
    pk: String,
    sk: String,
    account: ClientKey,
    license_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SkuClaim {
    pk: String,
    sk: String,
    product_id: String,
}

/// The index, key condition values and filter of a license query.
struct LicenseScan {
    index: &'static str,
    partition: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl LicenseScan {
    fn new(query: &LicenseQuery) -> Self {
        let (index, partition) = match (&query.product_id, &query.holder) {
            (Some(product), _) => (GSI2, licenses_gsi2(&query.account, product)),
            (None, Some(holder)) => (GSI3, licenses_gsi3(&query.account, holder)),
            (None, None) => (GSI1, licenses_gsi1(&query.account)),
        };
        let mut filters = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::from([(":pk".to_owned(), s(partition.clone()))]);
        if let (Some(holder), GSI2) = (&query.holder, index) {
            filters.push("holder = :holder".to_owned());
            values.insert(":holder".into(), s(holder.clone()));
        }
        if let Some(state) = query.state {
            names.insert("#status".to_owned(), "status".to_owned());
            // DynamoDB refuses values an expression does not use.
            if state == LicenseState::Suspended {
                values.insert(":inactive".into(), s("INACTIVE"));
            } else {
                values.insert(":now".into(), s(query.now.to_rfc3339()));
                values.insert(":active".into(), s("ACTIVE"));
            }
            filters.push(
                match state {
                    LicenseState::Suspended => "#status = :inactive",
                    LicenseState::Active => {
                        "#status = :active AND validFrom <= :now AND (attribute_not_exists(validUntil) OR validUntil > :now)"
                    }
                    LicenseState::Pending => "#status = :active AND validFrom > :now",
                    LicenseState::Expired => "#status = :active AND validFrom <= :now AND validUntil <= :now",
                }
                .to_owned(),
            );
        }
        if let Some(from) = query.window_from {
            filters.push("(attribute_not_exists(validUntil) OR validUntil > :windowFrom)".into());
            values.insert(":windowFrom".into(), s(from.to_rfc3339()));
        }
        if let Some(to) = query.window_to {
            filters.push("validFrom <= :windowTo".into());
            values.insert(":windowTo".into(), s(to.to_rfc3339()));
        }
        LicenseScan {
            index,
            partition,
            filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
            names,
            values,
        }
    }

    fn start_key(&self, query: &LicenseQuery, position: &LicensePosition) -> Item {
        let sort = position.sort_key();
        HashMap::from([
            (PK.to_owned(), s(license_pk(&query.account, &position.id))),
            (SK.to_owned(), s(LICENSE_SK)),
            (format!("{}pk", self.index), s(self.partition.clone())),
            (format!("{}sk", self.index), s(sort)),
        ])
    }
}

impl DynamoStore {
    fn license_from(item: Item) -> Result<License, StoreError> {
        let stored: LicenseItem = from_item(item).map_err(corrupt)?;
        Ok(stored.record)
    }

    /// A query for one license by id, answered with a read.
    async fn license_by_id_query(
        &self,
        query: &LicenseQuery,
        id: &str,
    ) -> Result<Vec<License>, StoreError> {
        let found = self.get_license(&query.account, id).await?;
        Ok(found
            .filter(|l| query.matches(l))
            .filter(|l| {
                query
                    .after
                    .as_ref()
                    .is_none_or(|after| l.position() > *after)
            })
            .into_iter()
            .collect())
    }

    async fn product_item(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Product>, StoreError> {
        match self.get(product_pk(account, id), PRODUCT_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Product> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    fn count_step(&self, account: &ClientKey, product: &str, by: i64) -> TransactWriteItem {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(product_pk(account, product), PRODUCT_SK)))
            .update_expression("ADD licenseCount :by")
            .expression_attribute_values(":by", n(by));
        update = if by > 0 {
            update
                .condition_expression("attribute_exists(pk) AND retired = :false")
                .expression_attribute_values(":false", AttributeValue::Bool(false))
        } else {
            update.condition_expression("attribute_exists(pk)")
        };
        TransactWriteItem::builder()
            .update(
                update
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build()
    }

    async fn expiring_item<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<ExpiringItem<T>>, StoreError> {
        match self.get(pk, sk).await? {
            None => Ok(None),
            Some(item) => Ok(Some(from_item(item).map_err(corrupt)?)),
        }
    }

    async fn put_expiring<T: Serialize>(
        &self,
        pk: String,
        sk: &str,
        account: Option<&ClientKey>,
        expires_at: Timestamp,
        record: &T,
    ) -> Result<(), StoreError> {
        let item = ExpiringItem {
            pk,
            sk: sk.to_owned(),
            account: account.cloned(),
            expires_at: expires_at.secs() + 1,
            expires_at_millis: expires_at.millis(),
            record,
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }
}

#[async_trait]
impl LicenseStore for DynamoStore {
    async fn create_product(&self, product: &Product) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: product_pk(&product.account, &product.id),
            sk: PRODUCT_SK.to_owned(),
            gsi1pk: Some(products_gsi(&product.account)),
            gsi1sk: Some(product.id.clone()),
            record: product,
        };
        let claim = SkuClaim {
            pk: sku_pk(&product.account, &product.sku),
            sk: SKU_SK.to_owned(),
            product_id: product.id.clone(),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_step(to_item(item).map_err(corrupt)?))
            .transact_items(self.put_step(to_item(claim).map_err(corrupt)?))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::AlreadyExists))
    }

    async fn get_product(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<Product>, StoreError> {
        self.product_item(account, id).await
    }

    async fn find_product_by_sku(
        &self,
        account: &ClientKey,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        let Some(item) = self.get(sku_pk(account, sku), SKU_SK).await? else {
            return Ok(None);
        };
        let claim: SkuClaim = from_item(item).map_err(corrupt)?;
        self.product_item(account, &claim.product_id).await
    }

    async fn list_products(
        &self,
        account: &ClientKey,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<Product, String>, StoreError> {
        let start = after.map(|id| {
            HashMap::from([
                (PK.to_owned(), s(product_pk(account, id))),
                (SK.to_owned(), s(PRODUCT_SK)),
                (GSI1_PK.to_owned(), s(products_gsi(account))),
                (GSI1_SK.to_owned(), s(id)),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(products_gsi(account)))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let stored: StoredItem<Product> = from_item(item).map_err(corrupt)?;
                Ok(stored.record)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::new(
            items,
            output.last_evaluated_key.is_some(),
            |p: &Product| p.id.clone(),
        ))
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let optional = |value: &Option<String>| match value {
            Some(text) => s(text.clone()),
            None => AttributeValue::Null(true),
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                product_pk(&product.account, &product.id),
                PRODUCT_SK,
            )))
            .update_expression(
                "SET #name = :name, description = :description, latestVersion = :version, updatedAt = :updated",
            )
            .condition_expression("attribute_exists(pk) AND retired = :false")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(product.name.clone()))
            .expression_attribute_values(":description", optional(&product.description))
            .expression_attribute_values(":version", optional(&product.latest_version))
            .expression_attribute_values(":updated", s(product.updated_at.to_rfc3339()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::NotFound))
    }

    async fn retire_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(product_pk(account, id), PRODUCT_SK)))
            .update_expression("SET retired = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::NotFound))
    }

    async fn delete_product(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let product = self
            .product_item(account, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let remove_product = TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(product_pk(account, id), PRODUCT_SK)))
                    .condition_expression("attribute_exists(pk) AND licenseCount = :zero")
                    .expression_attribute_values(":zero", n(0))
                    .build()
                    .expect("delete has table and key"),
            )
            .build();
        let result = self
            .client
            .transact_write_items()
            .transact_items(remove_product)
            .transact_items(self.delete_step(sku_pk(account, &product.sku), SKU_SK, None))
            .send()
            .await;
        match transaction_outcome(result, any_failed_condition(StoreError::Conflict)) {
            Err(StoreError::Conflict) if self.product_item(account, id).await?.is_none() => {
                Err(StoreError::NotFound)
            }
            other => other,
        }
    }

    async fn create_license(&self, license: &License) -> Result<(), StoreError> {
        let claim = KeyClaim {
            pk: license_key_pk(&license.key),
            sk: LICENSE_KEY_SK.to_owned(),
            account: license.account.clone(),
            license_id: license.id.clone(),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.count_step(&license.account, &license.product_id, 1))
            .transact_items(self.put_step(to_item(LicenseItem::new(license)).map_err(corrupt)?))
            .transact_items(self.put_step(to_item(claim).map_err(corrupt)?))
            .send()
            .await;
        // Steps: 0 the product's count, 1 the license, 2 its key.
        transaction_outcome(result, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::NotFound),
            _ if reasons.contains(&Some("ConditionalCheckFailed")) => {
                Some(StoreError::AlreadyExists)
            }
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        })
    }

    async fn get_license(
        &self,
        account: &ClientKey,
        id: &str,
    ) -> Result<Option<License>, StoreError> {
        self.get(license_pk(account, id), LICENSE_SK)
            .await?
            .map(Self::license_from)
            .transpose()
    }

    async fn find_license_by_key(&self, license_key: &str) -> Result<Option<License>, StoreError> {
        let Some(item) = self
            .get(license_key_pk(license_key), LICENSE_KEY_SK)
            .await?
        else {
            return Ok(None);
        };
        let claim: KeyClaim = from_item(item).map_err(corrupt)?;
        self.get_license(&claim.account, &claim.license_id).await
    }

    async fn list_licenses(
        &self,
        query: &LicenseQuery,
    ) -> Result<Page<License, LicensePosition>, StoreError> {
        if let Some(id) = &query.id {
            let items = self.license_by_id_query(query, id).await?;
            return Ok(Page { items, next: None });
        }
        let scan = LicenseScan::new(query);
        let mut start = query.after.as_ref().map(|p| scan.start_key(query, p));
        let mut items = Vec::new();
        let mut last_evaluated = None;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let wanted = query.limit - items.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(scan.index)
                .key_condition_expression(format!("{}pk = :pk", scan.index))
                .set_filter_expression(scan.filter.clone())
                .set_expression_attribute_names(
                    (!scan.names.is_empty()).then(|| scan.names.clone()),
                )
                .set_expression_attribute_values(Some(scan.values.clone()))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                items.push(Self::license_from(item)?);
            }
            last_evaluated = output.last_evaluated_key;
            match &last_evaluated {
                Some(key) if items.len() < query.limit => start = Some(key.clone()),
                _ => break,
            }
        }
        let sort_attribute = format!("{}sk", scan.index);
        let next = match last_evaluated {
            None => None,
            Some(key) => match key.get(&sort_attribute) {
                Some(AttributeValue::S(sort)) => Some(
                    LicensePosition::from_sort_key(sort)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad sort key {sort:?}")))?,
                ),
                _ => {
                    return Err(StoreError::Corrupt(
                        "a page ended without a sort key".into(),
                    ))
                }
            },
        };
        Ok(Page { items, next })
    }

    async fn count_licenses(&self, query: &LicenseQuery) -> Result<u64, StoreError> {
        if let Some(id) = &query.id {
            let mut unpaged = query.clone();
            unpaged.after = None;
            return Ok(self.license_by_id_query(&unpaged, id).await?.len() as u64);
        }
        let scan = LicenseScan::new(query);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(scan.index)
            .key_condition_expression(format!("{}pk = :pk", scan.index))
            .set_filter_expression(scan.filter)
            .set_expression_attribute_names((!scan.names.is_empty()).then_some(scan.names))
            .set_expression_attribute_values(Some(scan.values))
            .select(Select::Count)
            .into_paginator()
            .send();
        let mut count = 0u64;
        while let Some(page) = pages.next().await {
            count += u64::try_from(page.map_err(unavailable)?.count).unwrap_or(0);
        }
        Ok(count)
    }

    async fn delete_license(&self, account: &ClientKey, id: &str) -> Result<(), StoreError> {
        let license = self
            .get_license(account, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.delete_step(
                license_pk(account, id),
                LICENSE_SK,
                Some("attribute_exists(pk)"),
            ))
            .transact_items(self.delete_step(license_key_pk(&license.key), LICENSE_KEY_SK, None))
            .transact_items(self.count_step(account, &license.product_id, -1))
            .send()
            .await;
        transaction_outcome(result, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::NotFound),
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        })
    }

    async fn record_deployment(&self, license: &License) -> Result<(), StoreError> {
        let deployment = to_attribute_value(&license.deployment).map_err(corrupt)?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                license_pk(&license.account, &license.id),
                LICENSE_SK,
            )))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deployment)")
            .expression_attribute_values(":deployment", deployment);
        update = match &license.holder {
            Some(holder) => update
                .update_expression(
                    "SET deployment = :deployment, holder = :holder, gsi3pk = :gsi3pk, gsi3sk = :gsi3sk",
                )
                .expression_attribute_values(":holder", s(holder.clone()))
                .expression_attribute_values(
                    ":gsi3pk",
                    s(licenses_gsi3(&license.account, holder)),
                )
                .expression_attribute_values(":gsi3sk", s(license.position().sort_key())),
            None => update.update_expression("SET deployment = :deployment"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                match self.get_license(&license.account, &license.id).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::Conflict),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn put_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
        profile: &HolderProfile,
    ) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: format!("HOLDER#{account}#{holder}"),
            sk: "PROFILE".to_owned(),
            gsi1pk: None,
            gsi1sk: None,
            record: profile,
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item).map_err(corrupt)?))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get_holder_profile(
        &self,
        account: &ClientKey,
        holder: &str,
    ) -> Result<Option<HolderProfile>, StoreError> {
        match self
            .get(format!("HOLDER#{account}#{holder}"), "PROFILE")
            .await?
        {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<HolderProfile> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn create_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: format!("DISCOUNT#{}", discount.code),
            sk: "DISCOUNT".to_owned(),
            gsi1pk: None,
            gsi1sk: None,
            record: discount,
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_discount(&self, code: &str) -> Result<Option<Discount>, StoreError> {
        match self.get(format!("DISCOUNT#{code}"), "DISCOUNT").await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Discount> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn create_nonce(&self, nonce: &ActivationNonce) -> Result<(), StoreError> {
        self.put_expiring(
            nonce_pk(&nonce.account, &nonce.nonce),
            NONCE_SK,
            None,
            nonce.expires_at,
            nonce,
        )
        .await
    }

    async fn get_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError> {
        Ok(self
            .expiring_item(nonce_pk(account, nonce), NONCE_SK)
            .await?
            .map(|item| item.record))
    }

    async fn spend_nonce(
        &self,
        account: &ClientKey,
        nonce: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(nonce_pk(account, nonce), NONCE_SK)))
            .condition_expression("attribute_exists(pk) AND expiresAtMillis > :now")
            .expression_attribute_values(":now", n(now.millis()))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::NotFound))
    }

    async fn create_login_token(&self, token: &LoginToken) -> Result<(), StoreError> {
        self.put_expiring(
            login_token_pk(&token.hash),
            LOGIN_TOKEN_SK,
            Some(&token.account),
            token.expires_at,
            token,
        )
        .await
    }

    async fn redeem_login_token(
        &self,
        account: &ClientKey,
        hash: &str,
        now: Timestamp,
    ) -> Result<LoginToken, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(login_token_pk(hash), LOGIN_TOKEN_SK)))
            .condition_expression("account = :account AND expiresAtMillis > :now")
            .expression_attribute_values(":account", s(account.as_str()))
            .expression_attribute_values(":now", n(now.millis()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(conditional(StoreError::NotFound))?;
        let item = output.attributes.ok_or(StoreError::NotFound)?;
        let stored: ExpiringItem<LoginToken> = from_item(item).map_err(corrupt)?;
        Ok(stored.record)
    }
}

const NONCE_SK: &str = "NONCE";
const LOGIN_TOKEN_SK: &str = "LOGINTOKEN";

fn nonce_pk(account: &ClientKey, nonce: &str) -> String {
    format!("NONCE#{account}#{nonce}")
}

fn login_token_pk(hash: &str) -> String {
    format!("LOGINTOKEN#{hash}")
}
