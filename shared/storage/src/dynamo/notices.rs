//! Credit notice settings on DynamoDB: the days live on the client's own
//! item, and every client item sits in the `CLIENTS` partition of `gsi1`,
//! so a run visits the accounts with queries, never a scan. A client
//! written before that partition existed joins it when its notice days
//! are set (`docs/delivery.md`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clients::AccountId;
use domain::notices::NoticeAccount;
use domain::{NoticeStore, Page, StoreError};
use serde::Deserialize;
use serde_dynamo::aws_sdk_dynamodb_1::from_item;

use crate::dynamo::schema::{client_pk, CLIENTS_GSI, CLIENT_SK, GSI1, GSI1_PK, GSI1_SK, PK, SK};
use crate::dynamo::{conditional, corrupt, n, s, unavailable, DynamoStore};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedClient {
    client_key: AccountId,
    #[serde(default)]
    credit_notice_days: Option<u32>,
}

#[async_trait]
impl NoticeStore for DynamoStore {
    async fn set_notice_days(&self, account: &AccountId, days: u32) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(client_pk(account)))
            .key(SK, s(CLIENT_SK.to_owned()))
            .update_expression("SET creditNoticeDays = :days, gsi1pk = :listed, gsi1sk = :key")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":days", n(days))
            .expression_attribute_values(":listed", s(CLIENTS_GSI.to_owned()))
            .expression_attribute_values(":key", s(account.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::NotFound))
    }

    async fn notice_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Page<NoticeAccount, AccountId>, StoreError> {
        let start = after.map(|account| {
            HashMap::from([
                (PK.to_owned(), s(client_pk(account))),
                (SK.to_owned(), s(CLIENT_SK.to_owned())),
                (GSI1_PK.to_owned(), s(CLIENTS_GSI.to_owned())),
                (GSI1_SK.to_owned(), s(account.to_string())),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :listed")
            .expression_attribute_values(":listed", AttributeValue::S(CLIENTS_GSI.into()))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let more = output.last_evaluated_key.is_some();
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let listed: ListedClient = from_item(item).map_err(corrupt)?;
                Ok(NoticeAccount {
                    account: listed.client_key,
                    days: listed.credit_notice_days,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = more
            .then(|| items.last().map(|a| a.account.clone()))
            .flatten();
        Ok(Page { items, next })
    }
}
