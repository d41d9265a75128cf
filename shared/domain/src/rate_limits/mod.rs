//! Per-client limits on the expensive routes (`/auth`, `POST /batch`,
//! challenge verification): a fixed window counted in the store, so every
//! Lambda instance shares one count. The edge limits (API Gateway, WAF) in
//! `template.yaml` come first; these make sure one client cannot take more
//! than its share even from many addresses. `docs/security.md`.

pub mod port;

use std::sync::Arc;

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::store::StoreError;
use port::RateLimitStore;

/// At most `requests` per `window_secs` for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window_secs: u32,
}

impl RateLimit {
    pub const fn per_minute(requests: u32) -> Self {
        RateLimit {
            requests,
            window_secs: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("too many requests; retry after {retry_after_secs} s")]
    Limited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(StoreError),
}

/// One route family's limit. `None` turns it off (the benchmarks do).
#[derive(Clone)]
pub struct RateLimiter {
    name: &'static str,
    limit: Option<RateLimit>,
    store: Arc<dyn RateLimitStore>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(
        name: &'static str,
        limit: Option<RateLimit>,
        store: Arc<dyn RateLimitStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RateLimiter {
            name,
            limit,
            store,
            clock,
        }
    }

    /// Counts one request of `client`; refused once the window is full.
    pub async fn check(&self, account: &AccountId) -> Result<(), RateLimitError> {
        let Some(limit) = self.limit.filter(|l| l.requests > 0 && l.window_secs > 0) else {
            return Ok(());
        };
        let now = self.clock.now();
        let window_ms = i64::from(limit.window_secs) * 1000;
        let start = Timestamp::from_millis(now.millis() - now.millis().rem_euclid(window_ms));
        let end = Timestamp::from_millis(start.millis() + window_ms);
        let bucket = format!("{}#{}#{}", self.name, account, start.millis());
        let admitted = self
            .store
            .count_request(&bucket, limit.requests, end)
            .await
            .map_err(RateLimitError::Store)?;
        if admitted {
            Ok(())
        } else {
            tracing::info!(limit = self.name, "rate limited");
            Err(RateLimitError::Limited {
                retry_after_secs: u64::try_from(now.secs_until(end)).unwrap_or(1).max(1),
            })
        }
    }
}

/// The limits of the three limited route families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `POST /auth` exchanges whose signature verified.
    pub auth: Option<RateLimit>,
    /// `POST /batch` submissions.
    pub batch: Option<RateLimit>,
    /// Challenge verifications, right or wrong.
    pub verify: Option<RateLimit>,
}

impl Default for RateLimits {
    /// Generous for one client's real use (a token lasts an hour, a batch
    /// holds 10,000 codes), tight for a runaway loop.
    fn default() -> Self {
        RateLimits {
            auth: Some(RateLimit::per_minute(120)),
            batch: Some(RateLimit::per_minute(30)),
            verify: Some(RateLimit::per_minute(600)),
        }
    }
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits {
        auth: None,
        batch: None,
        verify: None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Counts(Mutex<HashMap<String, u32>>);

    #[async_trait::async_trait]
    impl RateLimitStore for Counts {
        async fn count_request(
            &self,
            bucket: &str,
            limit: u32,
            _window_end: Timestamp,
        ) -> Result<bool, StoreError> {
            let mut counts = self.0.lock().unwrap();
            let count = counts.entry(bucket.to_owned()).or_default();
            *count += 1;
            Ok(*count <= limit)
        }
    }

    #[tokio::test]
    async fn a_full_window_refuses_until_the_next_one() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_secs(6_000 + 15)));
        let limiter = RateLimiter::new(
            "auth",
            Some(RateLimit::per_minute(3)),
            Arc::new(Counts::default()),
            clock.clone(),
        );
        let account = AccountId::generate();
        let other = AccountId::generate();
        for _ in 0..3 {
            limiter.check(&account).await.unwrap();
        }
        assert_eq!(
            limiter.check(&account).await,
            Err(RateLimitError::Limited {
                retry_after_secs: 45
            })
        );
        limiter.check(&other).await.unwrap();
        clock.advance_secs(45);
        limiter.check(&account).await.unwrap();
    }

    #[tokio::test]
    async fn no_limit_counts_nothing() {
        let limiter = RateLimiter::new(
            "auth",
            None,
            Arc::new(Counts::default()),
            Arc::new(ManualClock::new(Timestamp::from_secs(0))),
        );
        for _ in 0..100 {
            limiter.check(&AccountId::generate()).await.unwrap();
        }
    }
}
