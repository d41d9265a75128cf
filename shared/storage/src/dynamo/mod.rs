//! The DynamoDB adapter: one table (`schema`), one file per aggregate with
//! the same names as the memory adapter's, and the request helpers they share.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use domain::StoreError;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::from_item;

use crate::dynamo::schema::{PK, SK};

mod batches;
mod challenges;
mod clients;
mod codes;
mod devices;
mod idempotency;
mod licensing;
mod merge;
mod mpesa;
mod notices;
mod payments;
mod rate_limits;
pub mod schema;
#[cfg(feature = "streams")]
pub mod stream;
mod webhooks;

pub use webhooks::{event_of_image, OUTBOX_KIND};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How many DynamoDB queries one listing page may take when a filter drops
/// items, so a page is bounded in work as well as in size.
pub(crate) const MAX_QUERIES_PER_PAGE: usize = 8;

#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// The items with these keys that exist, read consistently in calls of
    /// up to 100 keys (DynamoDB's limit), in no particular order.
    pub(crate) async fn get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for group in keys.chunks(100) {
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(group.to_vec()))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let read = until_processed(wanted, "keys", |keys| async move {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(unavailable)?;
                let items = output
                    .responses
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default();
                let rest = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                    .filter(|keys| !keys.keys.is_empty());
                Ok((items, rest))
            })
            .await?;
            found.extend(read);
        }
        Ok(found)
    }

    /// Runs `steps` as one transaction; `classify` names what a
    /// cancellation means from its per-step reasons.
    pub(crate) async fn transact(
        &self,
        steps: Vec<TransactWriteItem>,
        classify: impl Fn(&[Option<&str>]) -> Option<StoreError>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        transaction_outcome(result, classify)
    }

    /// Every item of one partition, strongly consistent, over all its pages.
    pub(crate) async fn partition_items(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        query_items(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk))
                .consistent_read(true),
        )
        .await
    }

    /// A transaction step that writes `item` where no item has its key.
    pub(crate) fn put_step(&self, item: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put has table and item"),
            )
            .build()
    }

    /// A transaction step that deletes an item, on `condition` if given.
    pub(crate) fn delete_step(
        &self,
        pk: String,
        sk: &str,
        condition: Option<&str>,
    ) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .set_condition_expression(condition.map(str::to_owned))
                    .build()
                    .expect("delete has table and key"),
            )
            .build()
    }

    /// Puts `item` only where no item has its key.
    pub(crate) async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::AlreadyExists))
    }
}

/// Sends `first`, then whatever DynamoDB answers it left unprocessed
/// (which it does under throttling), with a growing pause, a bounded number
/// of times; collects what each call gives back. `send` answers what it got
/// and what is left, `None` when nothing is.
pub(crate) async fn until_processed<T, R, F, Fut>(
    first: T,
    what: &str,
    mut send: F,
) -> Result<Vec<R>, StoreError>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<R>, Option<T>), StoreError>>,
{
    let mut answered = Vec::new();
    let mut pending = Some(first);
    for attempt in 0..8u32 {
        let Some(now) = pending.take() else { break };
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
        }
        let (got, rest) = send(now).await?;
        answered.extend(got);
        pending = rest;
    }
    match pending {
        None => Ok(answered),
        Some(_) => Err(StoreError::Unavailable(format!(
            "DynamoDB kept {what} unprocessed"
        ))),
    }
}

pub(crate) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A string attribute.
pub(crate) fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// A number attribute.
pub(crate) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// The primary key of an item.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// Maps a failed conditional write to `when_condition_fails`, anything else
/// to `Unavailable`.
pub(crate) fn conditional<E, R>(
    when_condition_fails: StoreError,
) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    move |err| {
        if err.code() == Some("ConditionalCheckFailedException") {
            when_condition_fails
        } else {
            unavailable(err)
        }
    }
}

pub(crate) fn corrupt(err: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// Every item `query` matches, over as many pages as DynamoDB cuts the
/// answer into, decoded as `T`.
pub(crate) async fn query_all<T: serde::de::DeserializeOwned>(
    query: QueryFluentBuilder,
) -> Result<Vec<T>, StoreError> {
    query_items(query)
        .await?
        .into_iter()
        .map(|item| from_item(item).map_err(corrupt))
        .collect()
}

/// The records `items` hold, each read as a `StoredItem<T>`.
pub(crate) fn records_of<T: serde::de::DeserializeOwned>(
    items: Vec<Item>,
) -> Result<Vec<T>, StoreError> {
    items
        .into_iter()
        .map(|item| {
            from_item::<StoredItem<T>>(item)
                .map(|stored| stored.record)
                .map_err(corrupt)
        })
        .collect()
}

/// Every item a query selects, as stored, over all its pages.
pub(crate) async fn query_items(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(unavailable)
}

/// A `transaction_outcome` classifier for transactions whose conditions
/// all mean the same thing: any failed one answers `error`.
pub(crate) fn any_failed_condition(
    error: StoreError,
) -> impl Fn(&[Option<&str>]) -> Option<StoreError> {
    move |reasons| {
        reasons
            .contains(&Some("ConditionalCheckFailed"))
            .then(|| error.clone())
    }
}

/// Turns a transaction's result into the port's answer. `classify` reads
/// the per-step cancellation reasons; `None` means an unexpected failure.
pub(crate) fn transaction_outcome<R: std::fmt::Debug>(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
    >,
    classify: impl Fn(&[Option<&str>]) -> Option<StoreError>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let err = match result {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    let classified = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let reasons: Vec<Option<&str>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            classify(&reasons)
        }
        Some(other) if other.code() == Some("TransactionConflictException") => {
            Some(StoreError::Conflict)
        }
        _ => None,
    };
    Err(classified.unwrap_or_else(|| unavailable(err)))
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredItem<T> {
    pub(crate) pk: String,
    pub(crate) sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gsi1sk: Option<String>,
    #[serde(flatten)]
    pub(crate) record: T,
}

/// Builds the SDK client for an endpoint: a DynamoDB Local URL with dummy
/// credentials, or `None` for AWS with the environment's credentials; each
/// call within `budget`.
pub async fn dynamodb_client(endpoint: Option<&str>, budget: crate::StoreBudget) -> Client {
    Client::new(&crate::aws_config_for(endpoint, budget).await)
}
