//! Rate-limit counters on DynamoDB, expiring through the table's TTL.

use async_trait::async_trait;
use domain::clock::Timestamp;
use domain::{RateLimitStore, StoreError};

use crate::dynamo::schema::{RATE_SK, TTL_ATTRIBUTE};
use crate::dynamo::{conditional, key, n, DynamoStore};

#[async_trait]
impl RateLimitStore for DynamoStore {
    async fn count_request(
        &self,
        bucket: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("RATE#{bucket}"), RATE_SK)))
            .update_expression("ADD requests :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            // A minute of slack: TTL deletes late anyway, and the bucket
            // must not go while its window is still counting.
            .expression_attribute_values(":ttl", n(window_end.secs() + 60))
            .send()
            .await
            .map_err(conditional(StoreError::Conflict));
        match counted {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(other) => Err(other),
        }
    }
}
