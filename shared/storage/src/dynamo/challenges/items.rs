//! How the challenge store builds its items and transaction steps.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Update};
use domain::challenges::{Challenge, ChallengeRef, EndReason};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::ids::ChallengeId;
use domain::{ChallengeStore, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{to_attribute_value, to_item};

use super::{ChallengeItem, Claim};
use crate::dynamo::schema::{
    challenge_code_pk, challenge_sk, challenge_slot_pk, challenges_pk, cleanup_shard, due_key,
    ref_from_due_key, CLEANUP_SHARDS,
};
use crate::dynamo::{corrupt, key, n, s, unavailable, DynamoStore};

impl DynamoStore {
    pub(super) fn challenge_item(&self, c: &Challenge, retention_secs: i64) -> ChallengeItem {
        let purge = c.purge_at(retention_secs);
        ChallengeItem {
            pk: challenges_pk(&c.account),
            sk: challenge_sk(&c.id),
            gsi1pk: format!("CHALLENGEPERSON#{}#{}", c.account, c.person_id),
            gsi1sk: c.id.to_string(),
            gsi2pk: Some(format!("CHALLENGESLIVE#{}", cleanup_shard(&c.id))),
            gsi2sk: Some(due_key(c.expires_at, &c.account, &c.id)),
            gsi3pk: format!("CHALLENGESPURGE#{}", cleanup_shard(&c.id)),
            gsi3sk: due_key(purge, &c.account, &c.id),
            ttl: purge.secs() + 1,
            record: c.clone(),
        }
    }

    pub(super) fn claim_put(
        &self,
        pk: String,
        sk: &str,
        c: &Challenge,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> Put {
        let claim = Claim {
            pk,
            sk: sk.to_owned(),
            challenge_id: c.id.clone(),
            expires_at_millis: c.expires_at.millis(),
            expires_at: c.expires_at.secs() + 1,
        };
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(claim).expect("a claim always serializes")))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("put has table and item")
    }

    /// A delete of a claim that is a no-op unless the claim is this
    /// challenge's, so freeing never frees someone else's.
    pub(super) fn claim_release(&self, pk: String, sk: &str, id: &str) -> Delete {
        Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression("attribute_not_exists(pk) OR challengeId = :id")
            .expression_attribute_values(":id", s(id))
            .build()
            .expect("delete has table and key")
    }

    /// The update that ends a live challenge at `at`.
    pub(super) fn end_update(
        &self,
        c: &Challenge,
        at: Timestamp,
        reason: EndReason,
        retention_secs: i64,
    ) -> Result<Update, StoreError> {
        let mut ended = c.clone();
        ended.expires_at = at;
        let purge = ended.purge_at(retention_secs);
        Ok(Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(challenges_pk(&c.account), &challenge_sk(&c.id))))
            .update_expression(
                "SET ended = :reason, expires_at = :at, gsi3sk = :purge, expiresAt = :ttl REMOVE gsi2pk, gsi2sk",
            )
            .condition_expression("attribute_not_exists(ended) AND expires_at > :at")
            .expression_attribute_values(":reason", to_attribute_value(reason).map_err(corrupt)?)
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .expression_attribute_values(":purge", s(due_key(purge, &c.account, &c.id)))
            .expression_attribute_values(":ttl", n(purge.secs() + 1))
            .build()
            .expect("update has table, key and expression"))
    }

    /// `NotFound` when the challenge is gone, else `Conflict`: what a failed
    /// condition on it means.
    pub(super) async fn gone_or_conflict(
        &self,
        account: &AccountId,
        id: &ChallengeId,
    ) -> StoreError {
        match self.get_challenge(account, id).await {
            Ok(None) => StoreError::NotFound,
            Ok(Some(_)) => StoreError::Conflict,
            Err(e) => e,
        }
    }

    pub(super) async fn release_claims(&self, c: &Challenge) -> Result<(), StoreError> {
        for (pk, sk) in [
            (
                challenge_slot_pk(&c.account, &c.person_id, c.purpose),
                "SLOT",
            ),
            (challenge_code_pk(&c.account, &c.code), "CODE"),
        ] {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .condition_expression("challengeId = :id")
                .expression_attribute_values(":id", s(c.id.clone()))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(err) if err.code() == Some("ConditionalCheckFailedException") => {}
                Err(err) => return Err(unavailable(err)),
            }
        }
        Ok(())
    }

    /// Up to `limit` entries of the cleanup index `index` that are due at
    /// `now`, the earliest first. The 16 shards are read at once: on a cold
    /// start the run would otherwise wait for 16 round trips in a row.
    pub(super) async fn due(
        &self,
        index: &str,
        prefix: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChallengeRef>, StoreError> {
        let upper = format!("{:015}#~", now.millis());
        let shards = CLEANUP_SHARDS.chars().map(|cleanup_shard| {
            self.due_in_shard(index, format!("{prefix}#{cleanup_shard}"), &upper, limit)
        });
        let mut due: Vec<(String, ChallengeRef)> = futures_util::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
            .collect();
        // Sort keys start with the due time, so this is oldest first.
        due.sort_by(|a, b| a.0.cmp(&b.0));
        due.truncate(limit);
        Ok(due.into_iter().map(|(_, r)| r).collect())
    }

    /// Up to `limit` due entries of one cleanup_shard, with their sort keys.
    pub(super) async fn due_in_shard(
        &self,
        index: &str,
        partition: String,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<(String, ChallengeRef)>, StoreError> {
        let mut entries = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{index}pk = :pk AND {index}sk <= :upper"))
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":upper", s(upper))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .into_paginator()
            .items()
            .send();
        let sort_key = format!("{index}sk");
        let mut due = Vec::new();
        while due.len() < limit {
            let Some(item) = entries.next().await else {
                break;
            };
            match item.map_err(unavailable)?.get(&sort_key) {
                Some(AttributeValue::S(sort)) => due.push((sort.clone(), ref_from_due_key(sort)?)),
                _ => return Err(StoreError::Corrupt("a cleanup entry without a key".into())),
            }
        }
        Ok(due)
    }
}
