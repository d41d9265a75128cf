//! Batches on DynamoDB: the batch record, its orders in pages by index and
//! again in parts by chunk, and each chunk's run results and counts in the
//! chunk's own partition (`docs/storage.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::dynamo::schema::{
    batch_chunk_pk, batch_page_pk, batch_pk, orders_sk, run_sk, GSI1, GSI1_PK, GSI1_SK,
    ITEMS_PER_PAGE, META_SK, ORDERS_PER_PART, PAGE_SK, PK, PROGRESS_SK, SK, TTL_ATTRIBUTE,
};
use crate::dynamo::{
    any_failed_condition, corrupt, key, unavailable, until_processed, DynamoStore, StoredItem,
};

/// One item's order and placement, as a page and its chunk's orders hold
/// it. The names are one letter: a page holds 100 of these, a part 1,000.
#[derive(Serialize, Deserialize)]
struct StoredOrder {
    #[serde(rename = "i")]
    index: u32,
    #[serde(rename = "s")]
    serial_num: SerialNumber,
    #[serde(rename = "t", with = "code_type_text")]
    code_type: keycode::CodeType,
    #[serde(rename = "a")]
    arg: u32,
    #[serde(rename = "c")]
    chunk: u32,
    #[serde(rename = "r")]
    run: u32,
}

/// A page of the batch, or a part of a chunk's orders.
#[derive(Serialize, Deserialize)]
struct Orders {
    orders: Vec<StoredOrder>,
}

/// One item's result, as its run's record holds it.
#[derive(Serialize, Deserialize)]
struct StoredResult {
    #[serde(rename = "i")]
    index: u32,
    #[serde(flatten)]
    state: ItemState,
}

/// The results of a settled run.
#[derive(Serialize, Deserialize)]
struct RunResults {
    results: Vec<StoredResult>,
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

impl StoredOrder {
    fn of(item: &BatchItem) -> Self {
        StoredOrder {
            index: item.item.index,
            serial_num: item.order.serial.clone(),
            code_type: item.order.code_type,
            arg: item.order.arg,
            chunk: item.item.chunk,
            run: item.item.run,
        }
    }

    fn into_item(self, account: &AccountId, batch_id: &BatchId, state: ItemState) -> BatchItem {
        BatchItem {
            item: BatchItemRef {
                account: account.clone(),
                batch_id: batch_id.clone(),
                index: self.index,
                chunk: self.chunk,
                run: self.run,
            },
            order: CodeOrder {
                serial: self.serial_num,
                code_type: self.code_type,
                arg: self.arg,
            },
            state,
        }
    }
}

/// How many `BatchWriteItem` calls a batch's records go out in at once.
const PARALLEL_ITEM_WRITES: usize = 8;

/// DynamoDB's limit on items per `BatchWriteItem`.
const BATCH_WRITE_LIMIT: usize = 25;

/// Each item its state: its result where its run has one, else pending.
fn with_results(
    account: &AccountId,
    batch_id: &BatchId,
    orders: Vec<StoredOrder>,
    results: &mut HashMap<u32, ItemState>,
) -> Vec<BatchItem> {
    let mut items: Vec<BatchItem> = orders
        .into_iter()
        .map(|order| {
            let state = results.remove(&order.index).unwrap_or(ItemState::Pending);
            order.into_item(account, batch_id, state)
        })
        .collect();
    items.sort_by_key(|item| item.item.index);
    items
}

fn results_of(run: RunResults, into: &mut HashMap<u32, ItemState>) {
    into.extend(run.results.into_iter().map(|r| (r.index, r.state)));
}

impl DynamoStore {
    /// The batch with its chunks' counts added in: one progress record per
    /// chunk, each in its chunk's partition, read together.
    async fn with_progress(&self, mut batch: Batch) -> Result<Batch, StoreError> {
        let keys = (0..batch.chunks)
            .map(|number| {
                key(
                    batch_chunk_pk(&batch.account, &batch.id, number),
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

    /// The step that records a run's results, once: on condition that the
    /// run has no record yet, which is what makes it settled exactly once.
    /// `results` hold every item of the run, all of one chunk.
    pub(super) fn run_results_step(
        &self,
        run: &BatchItemRef,
        results: Vec<(u32, ItemState)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let record = StoredItem {
            pk: batch_chunk_pk(&run.account, &run.batch_id, run.chunk),
            sk: run_sk(run.run),
            gsi1pk: None,
            gsi1sk: None,
            record: RunResults {
                results: results
                    .into_iter()
                    .map(|(index, state)| StoredResult { index, state })
                    .collect(),
            },
        };
        Ok(self.put_step(to_item(record).map_err(corrupt)?))
    }

    /// The step that counts a run's items done and failed. It lands on the
    /// run's chunk's progress record, not on the batch: chunks worked at
    /// once never write the same record, so they do not conflict.
    pub(super) fn count_on_batch(
        &self,
        run: &BatchItemRef,
        done: u32,
        failed: u32,
        at: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                batch_chunk_pk(&run.account, &run.batch_id, run.chunk),
                PROGRESS_SK,
            )))
            .update_expression("ADD done :done, failed :failed SET updatedAt = :at")
            .expression_attribute_values(":done", AttributeValue::N(done.to_string()))
            .expression_attribute_values(":failed", AttributeValue::N(failed.to_string()))
            .expression_attribute_values(":at", to_attribute_value(at).map_err(corrupt)?)
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

    /// The records that hold a batch's orders: its pages by index, and each
    /// chunk's parts, in run order.
    fn order_records(batch: &Batch, items: &[BatchItem]) -> Vec<(String, String, Orders)> {
        let mut pages: BTreeMap<u32, Vec<StoredOrder>> = BTreeMap::new();
        let mut chunks: BTreeMap<u32, Vec<&BatchItem>> = BTreeMap::new();
        for item in items {
            pages
                .entry(item.item.index / ITEMS_PER_PAGE)
                .or_default()
                .push(StoredOrder::of(item));
            chunks.entry(item.item.chunk).or_default().push(item);
        }
        let mut records: Vec<(String, String, Orders)> = pages
            .into_iter()
            .map(|(page, orders)| {
                let pk = batch_page_pk(&batch.account, &batch.id, page);
                (pk, PAGE_SK.to_owned(), Orders { orders })
            })
            .collect();
        for (number, mut of_chunk) in chunks {
            of_chunk.sort_by_key(|item| (item.item.run, item.item.index));
            for (part, share) in of_chunk.chunks(ORDERS_PER_PART).enumerate() {
                records.push((
                    batch_chunk_pk(&batch.account, &batch.id, number),
                    orders_sk(part),
                    Orders {
                        orders: share.iter().map(|item| StoredOrder::of(item)).collect(),
                    },
                ));
            }
        }
        records
    }
}

#[async_trait]
impl BatchStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let pk = batch_pk(&batch.account, &batch.id);
        // Orders first: until the batch record exists they are unreachable,
        // so a failure part-way leaves nothing a client can see.
        let requests = Self::order_records(batch, items)
            .into_iter()
            .map(|(pk, sk, orders)| {
                let record = StoredItem {
                    pk,
                    sk,
                    gsi1pk: None,
                    gsi1sk: None,
                    record: orders,
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
        self.transact(steps, any_failed_condition(StoreError::AlreadyExists))
            .await
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
        let pages = (first / ITEMS_PER_PAGE..=last / ITEMS_PER_PAGE)
            .map(|page| key(batch_page_pk(account, batch_id, page), PAGE_SK))
            .collect();
        let mut orders = Vec::new();
        for item in self.get_all(pages).await? {
            let page: StoredItem<Orders> = from_item(item).map_err(corrupt)?;
            orders.extend(
                page.record
                    .orders
                    .into_iter()
                    .filter(|order| (first..=last).contains(&order.index)),
            );
        }
        // The results of the runs those items belong to.
        let runs: BTreeSet<(u32, u32)> = orders.iter().map(|o| (o.chunk, o.run)).collect();
        let keys = runs
            .into_iter()
            .map(|(chunk, run)| key(batch_chunk_pk(account, batch_id, chunk), &run_sk(run)))
            .collect();
        let mut results = HashMap::new();
        for item in self.get_all(keys).await? {
            let run: StoredItem<RunResults> = from_item(item).map_err(corrupt)?;
            results_of(run.record, &mut results);
        }
        Ok(with_results(account, batch_id, orders, &mut results))
    }

    async fn chunk_items(
        &self,
        account: &AccountId,
        batch_id: &BatchId,
        chunk: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        // One partition holds the chunk's orders and its runs' results.
        let stored = self
            .partition_items(batch_chunk_pk(account, batch_id, chunk))
            .await?;
        let mut orders = Vec::new();
        let mut results = HashMap::new();
        for item in stored {
            let sk = match item.get(SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => return Err(StoreError::Corrupt("a chunk record has no sort key".into())),
            };
            if sk.starts_with("ORDERS#") {
                let part: StoredItem<Orders> = from_item(item).map_err(corrupt)?;
                orders.extend(part.record.orders);
            } else if sk.starts_with("RUN#") {
                let run: StoredItem<RunResults> = from_item(item).map_err(corrupt)?;
                results_of(run.record, &mut results);
            }
        }
        Ok(with_results(account, batch_id, orders, &mut results))
    }

    async fn fail_run(
        &self,
        items: &[BatchItemRef],
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(run) = items.first() else {
            return Ok(());
        };
        let failed = ItemState::Failed {
            reason: reason.to_owned(),
        };
        let results = items
            .iter()
            .map(|item| (item.index, failed.clone()))
            .collect();
        let count = u32::try_from(items.len()).expect("a run is at most MAX_RUN items");
        let steps = vec![
            self.run_results_step(run, results)?,
            self.count_on_batch(run, 0, count, at)?,
        ];
        self.transact(steps, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::AlreadyExists),
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        })
        .await
    }

    async fn record_completion(&self, batch: &Batch, at: Timestamp) -> Result<(), StoreError> {
        self.put_new(super::webhooks::outbox_item(&batch.completed_event(at))?)
            .await
    }
}
