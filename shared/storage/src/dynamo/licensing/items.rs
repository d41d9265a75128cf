//! How the license store builds its items, scans its indexes, and counts.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::ids::LicenseId;
use domain::licensing::{License, LicensePosition, LicenseQuery, LicenseState, Product};
use domain::{LicenseStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::{ExpiringItem, LicenseItem, LicenseScan};
use crate::dynamo::schema::{
    license_pk, licenses_gsi1, licenses_gsi2, licenses_gsi3, product_pk, GSI1, GSI2, GSI3,
    LICENSE_SK, PK, PRODUCT_SK, SK,
};
use crate::dynamo::{corrupt, key, n, s, DynamoStore, Item, StoredItem};

impl LicenseItem {
    pub(super) fn new(license: &License) -> Self {
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

impl LicenseScan {
    pub(super) fn new(query: &LicenseQuery) -> Self {
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

    pub(super) fn start_key(&self, query: &LicenseQuery, position: &LicensePosition) -> Item {
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
    pub(super) fn license_from(item: Item) -> Result<License, StoreError> {
        let stored: LicenseItem = from_item(item).map_err(corrupt)?;
        Ok(stored.record)
    }

    /// A query for one license by id, answered with a read.
    pub(super) async fn license_by_id_query(
        &self,
        query: &LicenseQuery,
        id: &LicenseId,
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

    pub(super) async fn product_item(
        &self,
        account: &AccountId,
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

    pub(super) fn count_step(
        &self,
        account: &AccountId,
        product: &str,
        by: i64,
    ) -> TransactWriteItem {
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

    pub(super) async fn expiring_item<T: for<'de> Deserialize<'de>>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<ExpiringItem<T>>, StoreError> {
        match self.get(pk, sk).await? {
            None => Ok(None),
            Some(item) => Ok(Some(from_item(item).map_err(corrupt)?)),
        }
    }

    pub(super) async fn put_expiring<T: Serialize>(
        &self,
        pk: String,
        sk: &str,
        account: Option<&AccountId>,
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
