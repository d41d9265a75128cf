//! Products, licenses and what hangs off them on DynamoDB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, ReturnValue, Select, TransactWriteItem};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::ids::{LicenseId, ProductId};
use domain::licensing::{
    ActivationNonce, Discount, HolderProfile, License, LicensePosition, LicenseQuery, LoginToken,
    Product,
};
use domain::{LicenseStore, Page, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::dynamo::schema::{
    license_key_pk, license_pk, licenses_gsi3, login_token_pk, nonce_pk, product_pk, products_gsi,
    sku_pk, GSI1, GSI1_PK, GSI1_SK, LICENSE_KEY_SK, LICENSE_SK, LOGIN_TOKEN_SK, NONCE_SK, PK,
    PRODUCT_SK, SK, SKU_SK,
};
use crate::dynamo::webhooks::outbox_item;
use crate::dynamo::{
    any_failed_condition, conditional, corrupt, key, n, s, transaction_outcome, unavailable,
    DynamoStore, StoredItem, MAX_QUERIES_PER_PAGE,
};

mod items;

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

/// A record kept under a wrapper, for items whose TTL attribute would
/// collide with the record's own `expiresAt`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpiringItem<T> {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<AccountId>,
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
    account: AccountId,
    license_id: LicenseId,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SkuClaim {
    pk: String,
    sk: String,
    product_id: ProductId,
}

/// The index, key condition values and filter of a license query.
struct LicenseScan {
    index: &'static str,
    partition: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

#[async_trait]
impl LicenseStore for DynamoStore {
    async fn create_product(&self, product: &Product) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: product_pk(&product.account, &product.id),
            sk: PRODUCT_SK.to_owned(),
            gsi1pk: Some(products_gsi(&product.account)),
            gsi1sk: Some(product.id.to_string()),
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
        account: &AccountId,
        id: &ProductId,
    ) -> Result<Option<Product>, StoreError> {
        self.product_item(account, id).await
    }

    async fn find_product_by_sku(
        &self,
        account: &AccountId,
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
        account: &AccountId,
        limit: usize,
        after: Option<&ProductId>,
    ) -> Result<Page<Product, ProductId>, StoreError> {
        let start = after.map(|id| {
            HashMap::from([
                (PK.to_owned(), s(product_pk(account, id))),
                (SK.to_owned(), s(PRODUCT_SK)),
                (GSI1_PK.to_owned(), s(products_gsi(account))),
                (GSI1_SK.to_owned(), s(id.as_str())),
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

    async fn retire_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError> {
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

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> Result<(), StoreError> {
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
            .transact_items(self.put_step(outbox_item(&license.created_event())?))
            .send()
            .await;
        // Steps: 0 the product's count, 1 the license, 2 its key, 3 its
        // event.
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
        account: &AccountId,
        id: &LicenseId,
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

    async fn delete_license(
        &self,
        account: &AccountId,
        id: &LicenseId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
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
            .transact_items(self.put_step(outbox_item(&license.deleted_event(at))?))
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
        account: &AccountId,
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
        account: &AccountId,
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
        account: &AccountId,
        nonce: &str,
    ) -> Result<Option<ActivationNonce>, StoreError> {
        Ok(self
            .expiring_item(nonce_pk(account, nonce), NONCE_SK)
            .await?
            .map(|item| item.record))
    }

    async fn spend_nonce(
        &self,
        account: &AccountId,
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
        account: &AccountId,
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
