//! Batches and their items on DynamoDB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, ItemState};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::codes::CodeOrder;
use domain::devices::SerialNumber;
use domain::idempotency::KEY_TTL_SECS;
use domain::ids::BatchId;
use domain::{BatchStore, Page, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::dynamo::schema::{
    batch_items_pk, batch_pk, batch_progress_pk, item_sk, GSI1, GSI1_PK, GSI1_SK,
    ITEMS_PER_PARTITION, META_SK, PK, PROGRESS_SK, SK, TTL_ATTRIBUTE,
};
use crate::dynamo::{
    any_failed_condition, corrupt, key, query_all, transaction_outcome, unavailable,
    until_processed, DynamoStore, StoredItem,
};

/// A batch item as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemRecord {
    index: u32,
    chunk: u32,
    serial_num: SerialNumber,
    #[serde(with = "code_type_text")]
    code_type: keycode::CodeType,
    arg: u32,
    #[serde(flatten)]
    state: ItemState,
}

mod code_type_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &keycode::CodeType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<keycode::CodeType, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A chunk's counts as its progress record holds them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    #[serde(default)]
    done: u32,
    #[serde(default)]
    failed: u32,
    updated_at: Timestamp,
}

impl ItemRecord {
    fn into_item(self, account: &AccountId, batch_id: &BatchId) -> BatchItem {
        BatchItem {
            item: BatchItemRef {
                account: account.clone(),
                batch_id: batch_id.clone(),
                index: self.index,
                chunk: self.chunk,
            },
            order: CodeOrder {
                serial: self.serial_num,
                code_type: self.code_type,
                arg: self.arg,
            },
            state: self.state,
        }
    }
}

/// How many `BatchWriteItem` calls a batch's items go out in at once.
const PARALLEL_ITEM_WRITES: usize = 8;

/// DynamoDB's limit on items per `BatchWriteItem`.
const BATCH_WRITE_LIMIT: usize = 25;

impl DynamoStore {
    /// The batch with its chunks' counts added in: one progress record per
    /// chunk, each in its own partition, read together. Counts kept on the
    /// batch record itself, by batches made before the progress records,
    /// stay in the sum.
    async fn with_progress(&self, mut batch: Batch) -> Result<Batch, StoreError> {
        let keys = (0..batch.chunks)
            .map(|number| {
                key(
                    batch_progress_pk(&batch.account, &batch.id, number),
                    PROGRESS_SK,
                )
            })
            .collect();
        for item in self.get_all(keys).await? {
            let chunk: Progress = from_item(item).map_err(corrupt)?;
            batch.done += chunk.done;
            batch.failed += chunk.failed;
            batch.updated_at = batch.updated_at.max(chunk.updated_at);
        }
        Ok(batch)
    }

    /// An update of the batch item's own record.
    pub(super) fn item_update(
        &self,
        item: &BatchItemRef,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder().table_name(&self.table).set_key(Some(key(
            batch_items_pk(&item.account, &item.batch_id, item.index),
            &item_sk(item.index),
        )))
    }

    /// The step that counts an item done or failed. It lands on the item's
    /// chunk's progress record, not on the batch: chunks worked at once
    /// never write the same item, so they do not conflict.
    pub(super) fn count_on_batch(
        &self,
        item: &BatchItemRef,
        counter: &str,
        by: u32,
        at: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                batch_progress_pk(&item.account, &item.batch_id, item.chunk),
                PROGRESS_SK,
            )))
            .update_expression("ADD #counter :by SET updatedAt = :at")
            .expression_attribute_names("#counter", counter)
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .expression_attribute_values(
                ":at",
                serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(at).map_err(corrupt)?,
            )
            .build()
            .expect("update has table, key and expression");
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn write_items(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        until_processed(requests, "items", |pending| async move {
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(unavailable)?;
            let rest = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&self.table))
                .filter(|requests| !requests.is_empty());
            Ok((Vec::<()>::new(), rest))
        })
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl BatchStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let pk = batch_pk(&batch.account, &batch.id);
        // Items first: until the batch record exists they are unreachable,
        // so a failure part-way leaves nothing a client can see.
        let requests = items
            .iter()
            .map(|item| {
                let record = StoredItem {
                    pk: batch_items_pk(&batch.account, &batch.id, item.item.index),
                    sk: item_sk(item.item.index),
                    gsi1pk: None,
                    gsi1sk: None,
                    record: ItemRecord {
                        index: item.item.index,
                        chunk: item.item.chunk,
                        serial_num: item.order.serial.clone(),
                        code_type: item.order.code_type,
                        arg: item.order.arg,
                        state: item.state.clone(),
                    },
                };
                let put = PutRequest::builder()
                    .set_item(Some(to_item(record).map_err(corrupt)?))
                    .build()
                    .expect("put request has an item");
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let groups: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_LIMIT)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        stream::iter(groups)
            .map(|group| self.write_items(group))
            .buffer_unordered(PARALLEL_ITEM_WRITES)
            .try_collect::<Vec<()>>()
            .await?;

        let meta = StoredItem {
            pk: pk.clone(),
            sk: META_SK.into(),
            gsi1pk: Some(format!("BATCHES#{}", batch.account)),
            gsi1sk: Some(format!("{:015}#{}", batch.created_at.millis(), batch.id)),
            record: batch,
        };
        let mut steps = vec![self.put_step(to_item(meta).map_err(corrupt)?)];
        if let Some(key) = &batch.idempotency_key {
            let expires = batch.created_at.plus_secs(KEY_TTL_SECS);
            steps.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item(
                                PK,
                                AttributeValue::S(format!(
                                    "IDEMPOTENCY#{}#batch#{key}",
                                    batch.account
                                )),
                            )
                            .item(SK, AttributeValue::S("IDEMPOTENCY".into()))
                            .item("batchId", AttributeValue::S(batch.id.to_string()))
                            .item(TTL_ATTRIBUTE, AttributeValue::N(expires.secs().to_string()))
                            // A key past its TTL that DynamoDB has not yet
                            // deleted is free again.
                            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                            .expression_attribute_values(
                                ":now",
                                AttributeValue::N(batch.created_at.secs().to_string()),
                            )
                            .build()
                            .expect("put has table and item"),
                    )
                    .build(),
            );
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::AlreadyExists))
    }

    async fn find_by_idempotency_key(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<Batch>, StoreError> {
        let Some(item) = self
            .get(format!("IDEMPOTENCY#{account}#batch#{key}"), "IDEMPOTENCY")
            .await?
        else {
            return Ok(None);
        };
        match item.get("batchId") {
            Some(AttributeValue::S(id)) => match BatchId::parse(id) {
                Some(id) => self.get_batch(account, &id).await,
                None => Err(StoreError::Corrupt(format!(
                    "idempotency key names batch id {id:?}"
                ))),
            },
            _ => Err(StoreError::Corrupt(
                "an idempotency record has no batch id".into(),
            )),
        }
    }

    async fn get_batch(
        &self,
        account: &AccountId,
        id: &BatchId,
    ) -> Result<Option<Batch>, StoreError> {
        match self.get(batch_pk(account, id), META_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Batch> = from_item(item).map_err(corrupt)?;
                Ok(Some(self.with_progress(stored.record).await?))
            }
        }
    }

    async fn list_batches(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError> {
        let partition = format!("BATCHES#{account}");
        let start = after.map(|p| {
            HashMap::from([
                (PK.to_owned(), AttributeValue::S(batch_pk(account, &p.id))),
                (SK.to_owned(), AttributeValue::S(META_SK.into())),
                (GSI1_PK.to_owned(), AttributeValue::S(partition.clone())),
                (
                    GSI1_SK.to_owned(),
                    AttributeValue::S(format!("{:015}#{}", p.created_at.millis(), p.id)),
                ),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
            .set_exclusive_start_key(start)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                from_item::<StoredItem<Batch>>(item)
                    .map(|s| s.record)
                    .map_err(corrupt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let items = futures_util::future::try_join_all(
            items.into_iter().map(|batch| self.with_progress(batch)),
        )
        .await?;
        let more = output.last_evaluated_key.is_some();
        Ok(Page::new(items, more, Batch::position))
    }

    async fn list_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let last = first.saturating_add(count - 1);
        let mut items = Vec::new();
        // The partitions in index order, each read over its share of the range.
        for partition in first / ITEMS_PER_PARTITION..=last / ITEMS_PER_PARTITION {
            let records: Vec<StoredItem<ItemRecord>> = query_all(
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
                    .expression_attribute_values(
                        ":pk",
                        AttributeValue::S(batch_items_pk(
                            account,
                            batch_id,
                            partition * ITEMS_PER_PARTITION,
                        )),
                    )
                    .expression_attribute_values(":first", AttributeValue::S(item_sk(first)))
                    .expression_attribute_values(":last", AttributeValue::S(item_sk(last)))
                    .consistent_read(true),
            )
            .await?;
            items.extend(
                records
                    .into_iter()
                    .map(|stored| stored.record.into_item(account, batch_id)),
            );
        }
        Ok(items)
    }

    async fn chunk_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        indices: &[u32],
    ) -> Result<Vec<BatchItem>, StoreError> {
        let keys = indices
            .iter()
            .map(|&index| key(batch_items_pk(account, batch_id, index), &item_sk(index)))
            .collect();
        let mut found = self
            .get_all(keys)
            .await?
            .into_iter()
            .map(|item| {
                let stored: StoredItem<ItemRecord> = from_item(item).map_err(corrupt)?;
                Ok(stored.record.into_item(account, batch_id))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        found.sort_by_key(|item| item.item.index);
        Ok(found)
    }

    async fn fail_item(
        &self,
        item: &BatchItemRef,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let failed = self
            .item_update(item)
            .update_expression("SET #status = :failed, reason = :reason")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
            .build()
            .expect("update has table, key and expression");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(failed).build())
            .transact_items(self.count_on_batch(item, "failed", 1, at)?)
            .send()
            .await;
        transaction_outcome(result, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::AlreadyExists),
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        })
    }
}
