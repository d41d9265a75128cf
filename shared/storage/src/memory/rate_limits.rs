//! Rate-limit buckets in memory.

use super::*;

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn count_request(
        &self,
        bucket: &str,
        limit: u32,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.rate_buckets.len() >= SWEEP_AT {
            // Buckets of windows that ended before this one began are dead.
            state.rate_buckets.retain(|_, (_, end)| *end >= window_end);
        }
        let (count, _) = state
            .rate_buckets
            .entry(bucket.to_owned())
            .or_insert((0, window_end));
        if *count < limit {
            *count += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
