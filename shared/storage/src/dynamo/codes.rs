//! Codes on DynamoDB: the client's partition and each device's index.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use domain::batches::BatchItemRef;
use domain::codes::{CodePosition, CodeQuery, CodeRecord};
use domain::devices::Device;
use domain::paging::SortOrder;
use domain::{CodeStore, Page, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::dynamo::schema::{
    batch_pk, client_pk, code_sk, device_codes_pk, device_sk, item_sk, position_from_sk, GSI1,
    GSI1_PK, GSI1_SK, PK, SK,
};
use crate::dynamo::{
    corrupt, transaction_outcome, unavailable, DynamoStore, StoredItem, MAX_QUERIES_PER_PAGE,
};

#[async_trait]
impl CodeStore for DynamoStore {
    async fn record_code(
        &self,
        device: &Device,
        next_count: u32,
        code: &CodeRecord,
        batch_item: Option<&BatchItemRef>,
    ) -> Result<(), StoreError> {
        let sk = code_sk(code.created_at, &code.id);
        let item = StoredItem {
            pk: client_pk(&code.account),
            sk: sk.clone(),
            gsi1pk: Some(device_codes_pk(&code.account, &code.serial_num)),
            gsi1sk: Some(sk),
            record: code,
        };
        let advance = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(client_pk(&device.account)))
            .key(SK, AttributeValue::S(device_sk(&device.serial)))
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
        let mut steps = vec![
            TransactWriteItem::builder().update(advance).build(),
            self.put_step(to_item(item).map_err(corrupt)?),
        ];
        if let Some(item) = batch_item {
            let done = Update::builder()
                .table_name(&self.table)
                .key(
                    PK,
                    AttributeValue::S(batch_pk(&item.account, &item.batch_id)),
                )
                .key(SK, AttributeValue::S(item_sk(item.index)))
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
            steps.push(TransactWriteItem::builder().update(done).build());
            steps.push(self.count_on_batch(item, "done", code.created_at)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        // Steps: 0 the device, 1 the code, 2 the batch item, 3 its batch.
        transaction_outcome(result, |reasons| match reasons {
            [_, _, Some("ConditionalCheckFailed"), ..] => Some(StoreError::AlreadyExists),
            _ if reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict"))) =>
            {
                Some(StoreError::Conflict)
            }
            _ => None,
        })
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        let pk = client_pk(&query.account);
        let lowest = code_sk(query.created_from, "");
        let highest = code_sk(query.created_to, "~");
        let ascending = query.order == SortOrder::Ascending;
        let (partition, by_device) = match &query.serial {
            Some(serial) => (device_codes_pk(&query.account, serial), true),
            None => (pk.clone(), false),
        };
        let (key_pk, key_sk) = if by_device {
            (GSI1_PK, GSI1_SK)
        } else {
            (PK, SK)
        };
        let start_key = |sk: &str| {
            let mut key = HashMap::from([
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (SK.to_owned(), AttributeValue::S(sk.to_owned())),
            ]);
            if by_device {
                key.insert(GSI1_PK.to_owned(), AttributeValue::S(partition.clone()));
                key.insert(GSI1_SK.to_owned(), AttributeValue::S(sk.to_owned()));
            }
            key
        };
        // DynamoDB refuses a start key outside the key condition's range, so
        // a cursor before the range starts at its edge and one past it ends
        // the listing.
        let mut start = None;
        if let Some(after) = &query.after {
            let sk = code_sk(after.created_at, &after.id);
            let exhausted = if ascending {
                sk >= highest
            } else {
                sk <= lowest
            };
            if exhausted {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            let inside = sk > lowest && sk < highest;
            if inside {
                start = Some(start_key(&sk));
            }
        }

        let mut filters = Vec::new();
        let mut values = HashMap::from([
            (":pk".to_owned(), AttributeValue::S(partition.clone())),
            (":lowest".to_owned(), AttributeValue::S(lowest.clone())),
            (":highest".to_owned(), AttributeValue::S(highest.clone())),
        ]);
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
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));

        let mut items = Vec::new();
        let mut last_evaluated = None;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let wanted = query.limit - items.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(by_device.then(|| GSI1.to_owned()))
                .key_condition_expression(format!(
                    "{key_pk} = :pk AND {key_sk} BETWEEN :lowest AND :highest"
                ))
                .set_filter_expression(filter.clone())
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .scan_index_forward(ascending)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                let stored: StoredItem<CodeRecord> = from_item(item).map_err(corrupt)?;
                items.push(stored.record);
            }
            last_evaluated = output.last_evaluated_key;
            match &last_evaluated {
                Some(key) if items.len() < query.limit => start = Some(key.clone()),
                _ => break,
            }
        }
        let next = match last_evaluated {
            None => None,
            Some(key) => match key.get(SK) {
                Some(AttributeValue::S(sk)) => Some(position_from_sk(sk)?),
                _ => {
                    return Err(StoreError::Corrupt(
                        "a page ended without a sort key".into(),
                    ))
                }
            },
        };
        Ok(Page { items, next })
    }
}
