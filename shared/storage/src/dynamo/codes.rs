//! Codes on DynamoDB: in their device's partition, and in their tenant's
//! sharded timeline on `gsi1`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use domain::batches::BatchItemRef;
use domain::codes::{CodePosition, CodeQuery, CodeRecord};
use domain::devices::Device;
use domain::paging::SortOrder;
use domain::{CodeStore, Page, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::dynamo::merge::{MergedQuery, SortRange};
use crate::dynamo::schema::{
    code_sk, codes_gsi, device_pk, device_shard, position_from_sk, DEVICE_SHARDS, DEVICE_SK, GSI1,
    GSI1_PK, GSI1_SK, PK, SK,
};
use crate::dynamo::{corrupt, transaction_outcome, DynamoStore, StoredItem};

#[async_trait]
impl CodeStore for DynamoStore {
    async fn record_code(
        &self,
        device: &Device,
        next_count: u32,
        code: &CodeRecord,
        batch_item: Option<&BatchItemRef>,
    ) -> Result<(), StoreError> {
        match batch_item {
            Some(item) => {
                self.record_code_run(device, next_count, &[(code.clone(), item.clone())])
                    .await
            }
            None => {
                let steps = vec![self.advance_step(device, next_count), self.code_step(code)?];
                self.record_steps(steps).await
            }
        }
    }

    async fn record_code_run(
        &self,
        device: &Device,
        next_count: u32,
        run: &[(CodeRecord, BatchItemRef)],
    ) -> Result<(), StoreError> {
        let Some((last, chunk_item)) = run.last() else {
            return Ok(());
        };
        let mut steps = vec![self.advance_step(device, next_count)];
        for (code, item) in run {
            steps.push(self.code_step(code)?);
            steps.push(self.item_done_step(item, code));
        }
        let done = u32::try_from(run.len()).expect("a run is at most MAX_RUN items");
        steps.push(self.count_on_batch(chunk_item, "done", done, last.created_at)?);
        self.record_steps(steps).await
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        let ascending = query.order == SortOrder::Ascending;
        // One device's codes are in its own partition; a tenant's timeline
        // is every shard of the code index, merged.
        let (index, partition_attribute, sort_attribute, partitions) = match &query.serial {
            Some(serial) => (None, PK, SK, vec![device_pk(&query.account, serial)]),
            None => (
                Some(GSI1),
                GSI1_PK,
                GSI1_SK,
                (0..DEVICE_SHARDS)
                    .map(|shard| codes_gsi(&query.account, shard))
                    .collect(),
            ),
        };
        // Ids are alphanumeric, so "" and "~" bracket every id at an instant.
        let mut lowest = code_sk(query.created_from, "");
        let mut highest = code_sk(query.created_to, "~");
        let mut skip = None;
        if let Some(after) = &query.after {
            let cursor = code_sk(after.created_at, &after.id);
            let exhausted = if ascending {
                cursor >= highest
            } else {
                cursor <= lowest
            };
            if exhausted {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            if ascending && cursor > lowest {
                lowest = cursor.clone();
                skip = Some(cursor);
            } else if !ascending && cursor < highest {
                highest = cursor.clone();
                skip = Some(cursor);
            }
        }

        let mut filters = Vec::new();
        let mut values = HashMap::new();
        if let Some(code_type) = query.code_type {
            filters.push("codeType = :codeType");
            values.insert(
                ":codeType".into(),
                AttributeValue::S(code_type.as_str().into()),
            );
        }
        if let Some(batch) = &query.batch_id {
            filters.push("batchId = :batchId");
            values.insert(":batchId".into(), AttributeValue::S(batch.to_string()));
        }
        let page = self
            .merged_page(MergedQuery {
                index,
                partition_attribute,
                sort_attribute,
                partitions,
                range: SortRange::Between(lowest, highest),
                skip,
                filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
                values,
                ascending,
                limit: query.limit,
            })
            .await?;
        let items = page
            .items
            .into_iter()
            .map(|item| {
                let stored: StoredItem<CodeRecord> = from_item(item).map_err(corrupt)?;
                Ok(stored.record)
            })
            .collect::<Result<_, StoreError>>()?;
        let next = page
            .resume_after
            .as_deref()
            .map(position_from_sk)
            .transpose()?;
        Ok(Page { items, next })
    }
}

impl DynamoStore {
    /// Moves the device to `next_count`, on the version it was read at.
    fn advance_step(&self, device: &Device, next_count: u32) -> TransactWriteItem {
        let advance = Update::builder()
            .table_name(&self.table)
            .key(
                PK,
                AttributeValue::S(device_pk(&device.account, &device.serial)),
            )
            .key(SK, AttributeValue::S(DEVICE_SK.into()))
            .update_expression("SET #count = :next, version = :newVersion")
            .condition_expression("version = :readVersion")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":next", AttributeValue::N(next_count.to_string()))
            .expression_attribute_values(
                ":newVersion",
                AttributeValue::N((device.version + 1).to_string()),
            )
            .expression_attribute_values(
                ":readVersion",
                AttributeValue::N(device.version.to_string()),
            )
            .build()
            .expect("update has table, key and expression");
        TransactWriteItem::builder().update(advance).build()
    }

    fn code_step(&self, code: &CodeRecord) -> Result<TransactWriteItem, StoreError> {
        let item = StoredItem {
            pk: device_pk(&code.account, &code.serial_num),
            sk: code_sk(code.created_at, &code.id),
            gsi1pk: Some(codes_gsi(&code.account, device_shard(&code.serial_num))),
            gsi1sk: Some(code_sk(code.created_at, &code.id)),
            record: code,
        };
        Ok(self.put_step(to_item(item).map_err(corrupt)?))
    }

    /// Marks a batch item done with its code, on condition it is pending.
    fn item_done_step(&self, item: &BatchItemRef, code: &CodeRecord) -> TransactWriteItem {
        let done = self
            .item_update(item)
            .update_expression(
                "SET #status = :done, codeId = :codeId, code = :code, #count = :count",
            )
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":codeId", AttributeValue::S(code.id.clone()))
            .expression_attribute_values(":code", AttributeValue::S(code.code.clone()))
            .expression_attribute_values(":count", AttributeValue::N(code.count.to_string()))
            .build()
            .expect("update has table, key and expression");
        TransactWriteItem::builder().update(done).build()
    }

    /// Steps: the device, then each code with its batch item, then the
    /// chunk's count. A batch item that is no longer pending is
    /// `AlreadyExists`; any other lost condition is `Conflict`.
    async fn record_steps(&self, steps: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let last = steps.len() - 1;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        transaction_outcome(result, |reasons| {
            let item_taken = reasons.iter().enumerate().any(|(at, reason)| {
                at > 0 && at < last && at % 2 == 0 && *reason == Some("ConditionalCheckFailed")
            });
            if item_taken {
                Some(StoreError::AlreadyExists)
            } else if reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
            {
                Some(StoreError::Conflict)
            } else {
                None
            }
        })
    }
}
