//! Activation challenges on DynamoDB. Why the keys are shaped so is in
//! `docs/challenges.md`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use domain::challenges::{
    Challenge, ChallengeQuery, ChallengeRef, DeliveryEvent, EndReason, Purpose,
};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::ids::ChallengeId;
use domain::{ChallengeStore, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use crate::dynamo::schema::{
    challenge_code_pk, challenge_events_pk, challenge_sk, challenge_slot_pk, challenges_pk, GSI1,
    GSI2, GSI3,
};
use crate::dynamo::webhooks::outbox_item;
use crate::dynamo::{corrupt, key, n, s, transaction_outcome, unavailable, DynamoStore};

mod items;

#[derive(Serialize, Deserialize)]
struct ChallengeItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    /// On the expiry index until the challenge is marked or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    gsi3pk: String,
    gsi3sk: String,
    /// Epoch seconds of the purge, for DynamoDB's TTL.
    #[serde(rename = "expiresAt")]
    ttl: i64,
    #[serde(flatten)]
    record: Challenge,
}

/// A slot or code claim: whose it is and until when.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claim {
    pk: String,
    sk: String,
    challenge_id: ChallengeId,
    expires_at_millis: i64,
    /// TTL, epoch seconds.
    expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: DeliveryEvent,
}

#[async_trait]
impl ChallengeStore for DynamoStore {
    async fn create_challenge(
        &self,
        challenge: &Challenge,
        replacing: Option<&Challenge>,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let now = challenge.created_at;
        let account = &challenge.account;
        let item = self.challenge_item(challenge, retention_secs);
        let put = self.put_step(to_item(item).map_err(corrupt)?);
        let free = "attribute_not_exists(pk) OR expiresAtMillis <= :now";
        let at_now = || HashMap::from([(":now".to_owned(), n(now.millis()))]);
        let slot = match replacing {
            Some(old) => self.claim_put(
                challenge_slot_pk(account, &challenge.person_id, challenge.purpose),
                "SLOT",
                challenge,
                "challengeId = :old",
                HashMap::from([(":old".to_owned(), s(old.id.clone()))]),
            ),
            None => self.claim_put(
                challenge_slot_pk(account, &challenge.person_id, challenge.purpose),
                "SLOT",
                challenge,
                free,
                at_now(),
            ),
        };
        let code = self.claim_put(
            challenge_code_pk(account, &challenge.code),
            "CODE",
            challenge,
            free,
            at_now(),
        );
        let mut steps = vec![
            put,
            TransactWriteItem::builder().put(slot).build(),
            TransactWriteItem::builder().put(code).build(),
            self.put_step(outbox_item(&challenge.created_event())?),
        ];
        if let Some(old) = replacing {
            steps.push(
                TransactWriteItem::builder()
                    .update(self.end_update(old, now, EndReason::Invalidated, retention_secs)?)
                    .build(),
            );
            if old.code != challenge.code {
                steps.push(
                    TransactWriteItem::builder()
                        .delete(self.claim_release(
                            challenge_code_pk(account, &old.code),
                            "CODE",
                            &old.id,
                        ))
                        .build(),
                );
            }
        }
        // Steps: 0 the challenge, 1 its slot, 2 its code, 3 its event, 4
        // the replaced challenge, 5 the replaced code.
        let replacing = replacing.is_some();
        self.transact(steps, |reasons| match reasons {
            [_, Some("ConditionalCheckFailed"), ..] if !replacing => {
                Some(StoreError::AlreadyExists)
            }
            _ if reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict"))) =>
            {
                Some(StoreError::Conflict)
            }
            _ => None,
        })
        .await
    }

    async fn get_challenge(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> Result<Option<Challenge>, StoreError> {
        match self.get(challenges_pk(account), &challenge_sk(id)).await? {
            None => Ok(None),
            Some(item) => {
                let stored: ChallengeItem = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn live_challenge(
        &self,
        account: &AccountId,
        person_id: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError> {
        let Some(item) = self
            .get(challenge_slot_pk(account, person_id, purpose), "SLOT")
            .await?
        else {
            return Ok(None);
        };
        let claim: Claim = from_item(item).map_err(corrupt)?;
        if claim.expires_at_millis <= now.millis() {
            return Ok(None);
        }
        Ok(self
            .get_challenge(account, &claim.challenge_id)
            .await?
            .filter(|c| c.ended.is_none() && !c.is_expired(now)))
    }

    async fn list_challenges(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, StoreError> {
        let mut filters = Vec::new();
        let mut values = HashMap::new();
        if !query.include_expired {
            filters.push("expires_at > :now");
            values.insert(":now".to_owned(), s(query.now.to_rfc3339()));
        }
        if let Some(origin) = query.origin {
            filters.push("origin = :origin");
            values.insert(
                ":origin".to_owned(),
                to_attribute_value(origin).map_err(corrupt)?,
            );
        }
        if let Some(purpose) = query.purpose {
            filters.push("purpose = :purpose");
            values.insert(
                ":purpose".to_owned(),
                to_attribute_value(purpose).map_err(corrupt)?,
            );
        }
        if let Some(method) = query.delivery_method {
            filters.push("delivery_method = :method");
            values.insert(
                ":method".to_owned(),
                to_attribute_value(method).map_err(corrupt)?,
            );
        }
        let (index, condition) = match &query.person_id {
            Some(person) => {
                values.insert(
                    ":pk".to_owned(),
                    s(format!("CHALLENGEPERSON#{}#{person}", query.account)),
                );
                (Some(GSI1.to_owned()), "gsi1pk = :pk")
            }
            None => {
                values.insert(":pk".to_owned(), s(challenges_pk(&query.account)));
                values.insert(":prefix".to_owned(), s("CHALLENGE#"));
                (None, "pk = :pk AND begins_with(sk, :prefix)")
            }
        };
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index)
            .key_condition_expression(condition)
            .set_filter_expression(filter)
            .set_expression_attribute_values(Some(values))
            .limit(100)
            .into_paginator()
            .items()
            .send();
        let mut page = Vec::new();
        let mut skipped = 0;
        while page.len() < query.size {
            let Some(item) = items.next().await else {
                break;
            };
            let item = item.map_err(unavailable)?;
            if skipped < query.skip {
                skipped += 1;
                continue;
            }
            let stored: ChallengeItem = from_item(item).map_err(corrupt)?;
            page.push(stored.record);
        }
        Ok(page)
    }

    async fn end_challenge(
        &self,
        challenge: &Challenge,
        at: Timestamp,
        reason: EndReason,
        retention_secs: i64,
    ) -> Result<(), StoreError> {
        let account = &challenge.account;
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(self.end_update(challenge, at, reason, retention_secs)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .delete(self.claim_release(
                        challenge_slot_pk(account, &challenge.person_id, challenge.purpose),
                        "SLOT",
                        &challenge.id,
                    ))
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .delete(self.claim_release(
                        challenge_code_pk(account, &challenge.code),
                        "CODE",
                        &challenge.id,
                    ))
                    .build(),
            )
            .send()
            .await;
        match transaction_outcome(result, |reasons| {
            reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
                .then_some(StoreError::Conflict)
        }) {
            Err(StoreError::Conflict) => Err(self.gone_or_conflict(account, &challenge.id).await),
            other => other,
        }
    }

    async fn use_challenge(&self, challenge: &Challenge, now: Timestamp) -> Result<(), StoreError> {
        let spend = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(challenges_pk(&challenge.account), &challenge_sk(&challenge.id))))
            .update_expression("ADD usage_count :one")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(ended) AND expires_at > :now AND usage_count < max_usage_count",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .build()
            .expect("update has table, key and expression");
        let steps = vec![
            TransactWriteItem::builder().update(spend).build(),
            self.put_step(outbox_item(&challenge.verified_event(now))?),
        ];
        let result = self.transact(steps, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::NotFound),
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        });
        match result.await {
            // The spend's condition failed: say whether it is gone or spent.
            Err(StoreError::NotFound) => Err(self
                .gone_or_conflict(&challenge.account, &challenge.id)
                .await),
            other => other,
        }
    }

    async fn record_failed_attempt(
        &self,
        challenge: &Challenge,
        window_start: Timestamp,
        failed: u32,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                challenges_pk(&challenge.account),
                &challenge_sk(&challenge.id),
            )))
            .update_expression("SET attempt_window_start = :start, failed_attempts = :failed")
            .condition_expression(
                "attempt_window_start = :readStart AND failed_attempts = :readFailed",
            )
            .expression_attribute_values(":start", s(window_start.to_rfc3339()))
            .expression_attribute_values(":failed", n(failed))
            .expression_attribute_values(
                ":readStart",
                s(challenge.attempt_window_start.to_rfc3339()),
            )
            .expression_attribute_values(":readFailed", n(challenge.failed_attempts))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                Err(StoreError::Conflict)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn add_delivery_event(
        &self,
        event: &DeliveryEvent,
        max_events: u32,
    ) -> Result<(), StoreError> {
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                challenges_pk(&event.account),
                &challenge_sk(&event.challenge_id),
            )))
            .update_expression("ADD event_count :one")
            .condition_expression("attribute_exists(pk) AND event_count < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max_events))
            .build()
            .expect("update has table, key and expression");
        let item = EventItem {
            pk: challenge_events_pk(&event.account, &event.challenge_id),
            sk: format!("EVENT#{}", event.id),
            record: event.clone(),
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(count).build())
            .transact_items(self.put_step(to_item(item).map_err(corrupt)?))
            .send()
            .await;
        match transaction_outcome(result, |reasons| {
            reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict")))
                .then_some(StoreError::Conflict)
        }) {
            Err(StoreError::Conflict) => Err(self
                .gone_or_conflict(&event.account, &event.challenge_id)
                .await),
            other => other,
        }
    }

    async fn list_delivery_events(
        &self,
        challenge: &Challenge,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        self.partition_items(challenge_events_pk(&challenge.account, &challenge.id))
            .await?
            .into_iter()
            .map(|item| {
                from_item::<EventItem>(item)
                    .map(|e| e.record)
                    .map_err(corrupt)
            })
            .collect()
    }

    async fn expired_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        self.due(GSI2, "CHALLENGESLIVE", now, limit).await
    }

    async fn mark_expired(&self, r: &ChallengeRef, now: Timestamp) -> Result<(), StoreError> {
        let challenge = self
            .get_challenge(&r.account, &r.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(challenges_pk(&r.account), &challenge_sk(&r.id))))
            .update_expression("SET marked_expired = :true REMOVE gsi2pk, gsi2sk")
            .condition_expression(
                "attribute_exists(pk) AND marked_expired = :false AND attribute_not_exists(ended) AND expires_at <= :now",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                return Err(self.gone_or_conflict(&r.account, &r.id).await)
            }
            Err(err) => return Err(unavailable(err)),
        }
        // After the mark: a crash here leaves claims that have expired
        // anyway, which a new challenge may take over and TTL removes.
        self.release_claims(&challenge).await
    }

    async fn purgeable_challenges(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        self.due(GSI3, "CHALLENGESPURGE", now, limit).await
    }

    async fn purge_challenge(&self, r: &ChallengeRef) -> Result<(), StoreError> {
        let challenge = self
            .get_challenge(&r.account, &r.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        // Events and claims first, the challenge last: a crash leaves the
        // challenge on the purge index for the next run.
        for event in self.list_delivery_events(&challenge).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    challenge_events_pk(&r.account, &r.id),
                    &format!("EVENT#{}", event.id),
                )))
                .send()
                .await
                .map_err(unavailable)?;
        }
        self.release_claims(&challenge).await?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(challenges_pk(&r.account), &challenge_sk(&r.id))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(unavailable(err)),
        }
    }
}
