//! `Idempotency-Key` records on DynamoDB. They expire through the table's
//! TTL; the conditions also treat a record past its time as absent, since
//! TTL deletes late.

use async_trait::async_trait;
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::idempotency::{ClaimOutcome, IdempotencyRecord, KeyState, StoredResponse};
use domain::{IdempotencyStore, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_attribute_value, to_attribute_value};

use crate::dynamo::schema::{request_key_pk, PK, REQUEST_KEY_SK, SK, TTL_ATTRIBUTE};
use crate::dynamo::{conditional, corrupt, key, n, s, DynamoStore};

/// How often a claim retries when the record it lost to vanished before it
/// could be read (released or expired in between).
const CLAIM_ATTEMPTS: usize = 3;

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim_idempotency_key(
        &self,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Result<ClaimOutcome, StoreError> {
        let KeyState::Claimed {
            claim_id,
            lease_until,
        } = &record.state
        else {
            return Err(StoreError::Corrupt(
                "a claim must be in the claimed state".into(),
            ));
        };
        let pk = request_key_pk(&record.account, &record.key);
        for _ in 0..CLAIM_ATTEMPTS {
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(pk.clone()))
                .item(SK, s(REQUEST_KEY_SK))
                .item("record", to_attribute_value(record).map_err(corrupt)?)
                .item("claimId", s(claim_id.clone()))
                .item("leaseUntil", n(lease_until.millis()))
                .item("expiresAtMillis", n(record.expires_at.millis()))
                .item(TTL_ATTRIBUTE, n(record.expires_at.secs()))
                .condition_expression(
                    "attribute_not_exists(pk) OR expiresAtMillis <= :now \
                     OR leaseUntil <= :now",
                )
                .expression_attribute_values(":now", n(now.millis()))
                .send()
                .await
                .map_err(conditional(StoreError::AlreadyExists));
            match written {
                Ok(_) => return Ok(ClaimOutcome::Claimed),
                Err(StoreError::AlreadyExists) => {}
                Err(other) => return Err(other),
            }
            let Some(item) = self.get(pk.clone(), REQUEST_KEY_SK).await? else {
                continue;
            };
            let existing: IdempotencyRecord = item
                .get("record")
                .cloned()
                .map(from_attribute_value)
                .transpose()
                .map_err(corrupt)?
                .ok_or_else(|| StoreError::Corrupt("an idempotency item has no record".into()))?;
            if !existing.is_free_at(now) {
                return Ok(ClaimOutcome::Taken(existing));
            }
        }
        Err(StoreError::Conflict)
    }

    async fn complete_idempotency_key(
        &self,
        account: &AccountId,
        key_text: &str,
        claim_id: &str,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        let state = to_attribute_value(KeyState::Completed { response }).map_err(corrupt)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(request_key_pk(account, key_text), REQUEST_KEY_SK)))
            .update_expression("SET #record.#state = :state REMOVE claimId, leaseUntil")
            .condition_expression("claimId = :claim")
            .expression_attribute_names("#record", "record")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", state)
            .expression_attribute_values(":claim", s(claim_id))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::Conflict))
    }

    async fn release_idempotency_key(
        &self,
        account: &AccountId,
        key_text: &str,
        claim_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(request_key_pk(account, key_text), REQUEST_KEY_SK)))
            .condition_expression("claimId = :claim")
            .expression_attribute_values(":claim", s(claim_id))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::Conflict))
    }
}
