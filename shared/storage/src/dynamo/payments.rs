//! Payment plans and payments on DynamoDB. A plan lives on its device's
//! item; a payment is an item keyed by its provider reference, so the key
//! itself keeps a reference to one payment; each device's payments are
//! listed through `gsi1` and a tenant's through the shards of `gsi2`, in
//! `paidAt` order (`docs/storage.md`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clients::AccountId;
use domain::codes::{Advance, CodeRecord};
use domain::devices::SerialNumber;
use domain::devices::{Device, PaymentPlan};
use domain::payments::{LedgerPosition, Payment, PaymentPosition, PaymentQuery};
use domain::{Page, PaymentStore, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::dynamo::codes::lost_race;
use crate::dynamo::merge::{MergedQuery, SortRange};
use crate::dynamo::schema::{
    device_payments_gsi, device_pk, device_shard, ledger_gsi, ledger_sk, payment_pk,
    payment_position_from_sk, payment_sk_of, tenant_payments_gsi, DEVICE_SHARDS, DEVICE_SK, GSI1,
    GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PAYMENT_SK, PK, SK,
};
use crate::dynamo::{conditional, corrupt, records_of, DynamoStore, StoredItem};

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn set_plan(&self, device: &Device, plan: &PaymentPlan) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(
                PK,
                AttributeValue::S(device_pk(&device.account, &device.serial)),
            )
            .key(SK, AttributeValue::S(DEVICE_SK.into()))
            .update_expression("SET #plan = :plan, version = :newVersion")
            .condition_expression("version = :readVersion")
            .expression_attribute_names("#plan", "plan")
            .expression_attribute_values(":plan", to_attribute_value(plan).map_err(corrupt)?)
            .expression_attribute_values(
                ":newVersion",
                AttributeValue::N((device.version + 1).to_string()),
            )
            .expression_attribute_values(
                ":readVersion",
                AttributeValue::N(device.version.to_string()),
            )
            .send()
            .await
            .map_err(conditional(StoreError::Conflict))?;
        Ok(())
    }

    async fn record_payment(
        &self,
        device: &Device,
        next: &Advance,
        code: Option<&CodeRecord>,
        payment: &Payment,
    ) -> Result<(), StoreError> {
        let record = PaymentItem {
            stored: StoredItem {
                pk: payment_pk(&payment.account, payment.reference.as_str()),
                sk: PAYMENT_SK.into(),
                gsi1pk: Some(device_payments_gsi(&payment.account, &payment.serial_num)),
                gsi1sk: Some(payment_sk_of(&payment.position())),
                record: payment,
            },
            gsi2pk: tenant_payments_gsi(&payment.account, device_shard(&payment.serial_num)),
            gsi2sk: payment_sk_of(&payment.position()),
            gsi3pk: ledger_gsi(&payment.account, &payment.serial_num),
            gsi3sk: ledger_sk(&payment.ledger_position()),
        };
        let mut steps = vec![self.put_step(to_item(record).map_err(corrupt)?)];
        steps.push(self.advance_step(device, next)?);
        if let Some(code) = code {
            steps.push(self.code_step(code)?);
        }
        steps.push(self.put_step(super::webhooks::outbox_item(&payment.received_event())?));
        self.transact(steps, |reasons| {
            // Step 0 is the payment: its reference taken is the answer
            // whatever else failed.
            if reasons.first() == Some(&Some("ConditionalCheckFailed")) {
                Some(StoreError::AlreadyExists)
            } else {
                lost_race(reasons)
            }
        })
        .await
    }

    async fn find_payment(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        match self.get(payment_pk(account, reference), PAYMENT_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Payment> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn list_payments(
        &self,
        query: &PaymentQuery,
    ) -> Result<Page<Payment, PaymentPosition>, StoreError> {
        let lowest = match &query.after {
            Some(after) if after.paid_at >= query.from => payment_sk_of(after),
            _ => format!("{:015}", query.from.millis()),
        };
        // `#~` sorts after every id of the last millisecond.
        let highest = format!("{:015}#~", query.to.millis());
        if lowest > highest {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        // One device's payments are one partition of gsi1; the tenant's are
        // the shards of gsi2, merged.
        let (index, partition_attribute, sort_attribute, partitions) = match &query.serial {
            Some(serial) => (
                GSI1,
                GSI1_PK,
                GSI1_SK,
                vec![device_payments_gsi(&query.account, serial)],
            ),
            None => (
                GSI2,
                GSI2_PK,
                GSI2_SK,
                (0..DEVICE_SHARDS)
                    .map(|shard| tenant_payments_gsi(&query.account, shard))
                    .collect(),
            ),
        };
        let page = self
            .merged_page(MergedQuery {
                index: Some(index),
                partition_attribute,
                sort_attribute,
                partitions,
                range: SortRange::Between(lowest, highest),
                skip: query.after.as_ref().map(payment_sk_of),
                filter: None,
                values: HashMap::new(),
                ascending: true,
                limit: query.limit,
            })
            .await?;
        let items = records_of::<Payment>(page.items)?;
        let next = page
            .resume_after
            .as_deref()
            .map(payment_position_from_sk)
            .transpose()?;
        Ok(Page { items, next })
    }

    async fn ledger_payments(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        after: Option<&LedgerPosition>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let range = match after {
            Some(after) => SortRange::After(ledger_sk(after)),
            None => SortRange::Any,
        };
        self.ledger_page(account, serial, range, None, true, limit)
            .await
    }

    async fn payment_at_or_before(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        at: &LedgerPosition,
    ) -> Result<Option<Payment>, StoreError> {
        let range = SortRange::Between(String::from("0"), ledger_sk(at));
        let mut found = self
            .ledger_page(account, serial, range, None, false, 1)
            .await?;
        Ok(found.pop())
    }
}

impl DynamoStore {
    /// Up to `limit` of a device's payments from its ledger index, in
    /// `range`, forward or backward.
    async fn ledger_page(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        range: SortRange,
        skip: Option<String>,
        ascending: bool,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let page = self
            .merged_page(MergedQuery {
                index: Some(GSI3),
                partition_attribute: GSI3_PK,
                sort_attribute: GSI3_SK,
                partitions: vec![ledger_gsi(account, serial)],
                range,
                skip,
                filter: None,
                values: HashMap::new(),
                ascending,
                limit,
            })
            .await?;
        records_of::<Payment>(page.items)
    }
}

/// A payment as stored: its record, its place in its device's listing
/// (gsi1), in its tenant's sharded timeline (gsi2) and in its device's
/// ledger (gsi3).
#[derive(serde::Serialize)]
struct PaymentItem<'a> {
    #[serde(flatten)]
    stored: StoredItem<&'a Payment>,
    gsi2pk: String,
    gsi2sk: String,
    gsi3pk: String,
    gsi3sk: String,
}
