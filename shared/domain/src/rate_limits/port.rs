//! The storage port of rate limits.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::store::StoreError;

/// Fixed-window request counters (`rate_limits`).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Adds one to `bucket` if it is below `limit` and says whether it did.
    /// The bucket may be forgotten after `window_end`.
    async fn count_request(
        &self,
        bucket: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<bool, StoreError>;
}
