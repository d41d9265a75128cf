//! Codes on DynamoDB: in their device's partition, and in their tenant's
//! sharded timeline on `gsi1`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use domain::batches::{BatchItemRef, ItemState};
use domain::clock::Timestamp;
use domain::codes::{Advance, CodePosition, CodeQuery, CodeRecord};
use domain::devices::Device;
use domain::paging::SortOrder;
use domain::{CodeStore, Page, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{to_attribute_value, to_item};

use crate::dynamo::devices::expiry_keys;
use crate::dynamo::merge::{MergedQuery, SortRange};
use crate::dynamo::schema::{
    code_sk, codes_gsi, device_pk, device_shard, position_from_sk, DEVICE_SHARDS, DEVICE_SK, GSI1,
    GSI1_PK, GSI1_SK, PK, SK,
};
use crate::dynamo::{corrupt, records_of, DynamoStore, StoredItem};

#[async_trait]
impl CodeStore for DynamoStore {
    async fn record_code(
        &self,
        device: &Device,
        next: &Advance,
        code: &CodeRecord,
    ) -> Result<(), StoreError> {
        let steps = vec![
            self.advance_step(device, next)?,
            self.code_step(code)?,
            self.put_step(super::webhooks::outbox_item(&code.issued_event())?),
        ];
        self.transact(steps, lost_race).await
    }

    async fn record_code_run(
        &self,
        device: &Device,
        next: &Advance,
        issued: &[(CodeRecord, BatchItemRef)],
        refused: &[(BatchItemRef, String)],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(run) = issued
            .first()
            .map(|(_, item)| item)
            .or(refused.first().map(|(item, _)| item))
        else {
            return Ok(());
        };
        let mut steps = Vec::with_capacity(issued.len() + 3);
        if !issued.is_empty() {
            steps.push(self.advance_step(device, next)?);
        }
        let mut results = Vec::with_capacity(issued.len() + refused.len());
        for (code, item) in issued {
            steps.push(self.code_step(code)?);
            results.push((
                item.index,
                ItemState::Done {
                    code_id: code.id.clone(),
                    code: code.code.clone(),
                    count: code.count,
                },
            ));
        }
        for (item, reason) in refused {
            results.push((
                item.index,
                ItemState::Failed {
                    reason: reason.clone(),
                },
            ));
        }
        let run_step = steps.len();
        steps.push(self.run_results_step(run, results)?);
        let count = |n: usize| u32::try_from(n).expect("a run is at most MAX_RUN items");
        steps.push(self.count_on_batch(run, count(issued.len()), count(refused.len()), at)?);
        self.transact(steps, |reasons| {
            // A run already settled is the answer whatever else failed.
            if reasons.get(run_step) == Some(&Some("ConditionalCheckFailed")) {
                Some(StoreError::AlreadyExists)
            } else {
                lost_race(reasons)
            }
        })
        .await
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
        let items = records_of::<CodeRecord>(page.items)?;
        let next = page
            .resume_after
            .as_deref()
            .map(position_from_sk)
            .transpose()?;
        Ok(Page { items, next })
    }
}

impl DynamoStore {
    /// Moves the device to `next` (count and credit), on the version it
    /// was read at, and keeps its place in the expiry index with its
    /// credit: there while active, gone otherwise.
    pub(crate) fn advance_step(
        &self,
        device: &Device,
        next: &Advance,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expression = String::from(
            "SET #count = :next, version = :newVersion, #credit = :credit, #paid = :paid",
        );
        let mut advance = Update::builder()
            .table_name(&self.table)
            .key(
                PK,
                AttributeValue::S(device_pk(&device.account, &device.serial)),
            )
            .key(SK, AttributeValue::S(DEVICE_SK.into()))
            .condition_expression("version = :readVersion")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#credit", "credit")
            .expression_attribute_names("#paid", "paid")
            .expression_attribute_values(":next", AttributeValue::N(next.count.to_string()))
            .expression_attribute_values(
                ":credit",
                to_attribute_value(next.credit).map_err(corrupt)?,
            )
            .expression_attribute_values(":paid", to_attribute_value(next.paid).map_err(corrupt)?)
            .expression_attribute_values(
                ":newVersion",
                AttributeValue::N((device.version + 1).to_string()),
            )
            .expression_attribute_values(
                ":readVersion",
                AttributeValue::N(device.version.to_string()),
            );
        match expiry_keys(device, &next.credit) {
            Some((partition, sort)) => {
                expression.push_str(", gsi2pk = :expiringPk, gsi2sk = :expiringSk");
                advance = advance
                    .expression_attribute_values(":expiringPk", AttributeValue::S(partition))
                    .expression_attribute_values(":expiringSk", AttributeValue::S(sort));
            }
            None => expression.push_str(" REMOVE gsi2pk, gsi2sk"),
        }
        let advance = advance
            .update_expression(expression)
            .build()
            .expect("update has table, key and expression");
        Ok(TransactWriteItem::builder().update(advance).build())
    }

    pub(crate) fn code_step(&self, code: &CodeRecord) -> Result<TransactWriteItem, StoreError> {
        let item = StoredItem {
            pk: device_pk(&code.account, &code.serial_num),
            sk: code_sk(code.created_at, &code.id),
            gsi1pk: Some(codes_gsi(&code.account, device_shard(&code.serial_num))),
            gsi1sk: Some(code_sk(code.created_at, &code.id)),
            record: code,
        };
        Ok(self.put_step(to_item(item).map_err(corrupt)?))
    }
}

/// The device moved or the code's position is taken: read again and retry.
pub(crate) fn lost_race(reasons: &[Option<&str>]) -> Option<StoreError> {
    reasons
        .iter()
        .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
        .then_some(StoreError::Conflict)
}
