//! What every function needs at a cold start, HTTP or not: its
//! configuration from the environment (`config`), logging (`telemetry`) and
//! EMF metrics (`metrics`). The SQS worker and the scheduled cleanup use it
//! without linking any HTTP code.
#![forbid(unsafe_code)]

pub mod config;
pub mod metrics;
pub mod telemetry;

use std::sync::Arc;

use domain::auth::AuthConfig;
use domain::challenges::ChallengeConfig;
use domain::clock::{Clock, SystemClock};
use domain::idempotency::Idempotency;
use domain::rate_limits::{RateLimit, RateLimiter, RateLimits};
use domain::{CodesService, MpesaService, PaymentsService};
pub use storage::StoreBudget;
use storage::Stores;

pub use config::ConfigError;

/// What every function is built from: one adapter's stores, the clock and
/// the settings that `template.yaml` passes in the environment. Each
/// function crate's one constructor takes it (plus the keys only that
/// function holds); `main.rs` reads it from the environment once per cold
/// start, and the local API builds it from its own options.
#[derive(Clone)]
pub struct Platform {
    pub stores: Stores,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthConfig,
    pub challenges: ChallengeConfig,
    pub rate_limits: RateLimits,
}

impl Platform {
    /// The DynamoDB stores and the settings from the environment, on the
    /// system clock. `budget` bounds each store call: `StoreBudget::REQUEST`
    /// for the HTTP functions, `StoreBudget::BACKGROUND` for the others.
    pub async fn from_env(budget: StoreBudget) -> Result<Self, ConfigError> {
        Ok(Platform {
            stores: config::stores_from_env(budget).await?,
            clock: Arc::new(SystemClock),
            auth: AuthConfig::default(),
            challenges: config::challenge_config_from_env()?,
            rate_limits: config::rate_limits_from_env()?,
        })
    }

    /// Devices and codes: the codes function serves them, and the batch
    /// function and worker issue through them.
    pub fn codes_service(&self) -> Arc<CodesService> {
        Arc::new(CodesService::new(
            self.stores.devices(),
            self.stores.codes(),
            self.clock.clone(),
        ))
    }

    /// Payment plans and payments: the codes function serves them.
    pub fn payments_service(&self) -> Arc<PaymentsService> {
        Arc::new(PaymentsService::new(
            self.stores.devices(),
            self.stores.codes(),
            self.stores.payments(),
            self.clock.clone(),
        ))
    }

    /// The M-Pesa C2B intake: the mpesa function serves it, paying through
    /// the same payments service as `POST /payments`.
    pub fn mpesa_service(&self) -> Arc<MpesaService> {
        Arc::new(MpesaService::new(
            self.stores.mpesa(),
            self.payments_service(),
        ))
    }

    /// `Idempotency-Key` handling over the platform's store and clock.
    pub fn idempotency(&self) -> Arc<Idempotency> {
        Arc::new(Idempotency::new(
            self.stores.idempotency(),
            self.clock.clone(),
        ))
    }

    /// A per-client limit named `name` (its store bucket prefix), over the
    /// platform's rate-limit store and clock.
    pub fn limiter(&self, name: &'static str, limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter::new(name, limit, self.stores.rate_limits(), self.clock.clone())
    }
}
