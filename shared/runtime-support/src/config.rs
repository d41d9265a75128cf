//! Configuration read once per cold start from the function's environment
//! (set by `template.yaml`).

use std::sync::Arc;

use domain::auth::{AccessTokenVerifier, P256SigningKey};
use domain::challenges::ChallengeConfig;
use domain::clients::PublicKey;
use domain::rate_limits::{RateLimit, RateLimits};
use storage::{dynamodb_client, DynamoStore, StoreBudget, Stores};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

fn required(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("the environment variable {name} is not set")))
}

/// `TABLE_NAME`, and `DYNAMODB_ENDPOINT` to use DynamoDB Local instead of
/// AWS; every call within `budget`.
pub async fn stores_from_env(budget: StoreBudget) -> Result<Stores, ConfigError> {
    let table = required("TABLE_NAME")?;
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").ok();
    let client = dynamodb_client(endpoint.as_deref(), budget).await;
    Ok(Stores::from(Arc::new(DynamoStore::new(client, table))))
}

/// `QUEUE_URL`, and `SQS_ENDPOINT` to use a local SQS-compatible server.
#[cfg(feature = "sqs")]
pub async fn queue_from_env(
    budget: StoreBudget,
) -> Result<Arc<dyn domain::ChunkQueue>, ConfigError> {
    let url = required("QUEUE_URL")?;
    let endpoint = std::env::var("SQS_ENDPOINT").ok();
    let client = storage::sqs_client(endpoint.as_deref(), budget).await;
    Ok(Arc::new(storage::SqsQueue::new(client, url)))
}

/// `DELIVERY_QUEUE_URL`: the SQS queue webhook deliveries wait in.
#[cfg(feature = "sqs")]
pub async fn delivery_queue_from_env(
    budget: StoreBudget,
) -> Result<Arc<dyn domain::DeliveryQueue>, ConfigError> {
    let url = required("DELIVERY_QUEUE_URL")?;
    let endpoint = std::env::var("SQS_ENDPOINT").ok();
    let client = storage::sqs_client(endpoint.as_deref(), budget).await;
    Ok(Arc::new(storage::SqsQueue::new(client, url)))
}

/// `ACCESS_TOKEN_PRIVATE_KEY`: the PKCS#8 PEM that signs access tokens.
pub fn signing_key_from_env() -> Result<P256SigningKey, ConfigError> {
    let pem = required("ACCESS_TOKEN_PRIVATE_KEY")?;
    P256SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| ConfigError(format!("ACCESS_TOKEN_PRIVATE_KEY: {e}")))
}

/// `ACCESS_TOKEN_PUBLIC_KEY`: the public half, PEM or base64 SPKI.
pub fn verifier_from_env() -> Result<AccessTokenVerifier, ConfigError> {
    let text = required("ACCESS_TOKEN_PUBLIC_KEY")?;
    let key = PublicKey::parse(&text)
        .map_err(|e| ConfigError(format!("ACCESS_TOKEN_PUBLIC_KEY: {e}")))?;
    Ok(AccessTokenVerifier::new(&key))
}

/// `LICENSE_CERTIFICATE_PRIVATE_KEY`: the PKCS#8 PEM that signs license
/// certificates. Not the access-token key: the licenses function cannot
/// mint access tokens.
pub fn certificate_key_from_env() -> Result<P256SigningKey, ConfigError> {
    let pem = required("LICENSE_CERTIFICATE_PRIVATE_KEY")?;
    P256SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| ConfigError(format!("LICENSE_CERTIFICATE_PRIVATE_KEY: {e}")))
}

/// The challenge settings: `CHALLENGE_LIFETIME_SECS`,
/// `CHALLENGE_MAX_USAGE_COUNT`, `CHALLENGE_MAX_FAILED_ATTEMPTS`,
/// `CHALLENGE_ATTEMPT_WINDOW_SECS`, `CHALLENGE_RETENTION_SECS`; each
/// defaults to `ChallengeConfig::default()` when unset.
pub fn challenge_config_from_env() -> Result<ChallengeConfig, ConfigError> {
    fn number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("{name} is not a number: {text:?}"))),
        }
    }
    let defaults = ChallengeConfig::default();
    let config = ChallengeConfig {
        lifetime_secs: number("CHALLENGE_LIFETIME_SECS", defaults.lifetime_secs)?,
        max_usage_count: number("CHALLENGE_MAX_USAGE_COUNT", defaults.max_usage_count)?,
        max_failed_attempts: number(
            "CHALLENGE_MAX_FAILED_ATTEMPTS",
            defaults.max_failed_attempts,
        )?,
        attempt_window_secs: number(
            "CHALLENGE_ATTEMPT_WINDOW_SECS",
            defaults.attempt_window_secs,
        )?,
        retention_secs: number("CHALLENGE_RETENTION_SECS", defaults.retention_secs)?,
        max_events: defaults.max_events,
    };
    if config.lifetime_secs < 60 || config.max_usage_count == 0 || config.retention_secs < 0 {
        return Err(ConfigError(
            "challenge settings: the lifetime is at least 60 s, the usage count at least 1, the retention not negative".into(),
        ));
    }
    Ok(config)
}

/// The per-client limits: `RATE_LIMIT_AUTH_PER_MINUTE`,
/// `RATE_LIMIT_BATCH_PER_MINUTE`, `RATE_LIMIT_VERIFY_PER_MINUTE`; unset
/// means `RateLimits::default()`, 0 turns a limit off.
pub fn rate_limits_from_env() -> Result<RateLimits, ConfigError> {
    fn limit(name: &str, default: Option<RateLimit>) -> Result<Option<RateLimit>, ConfigError> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(0) => Ok(None),
                Ok(requests) => Ok(Some(RateLimit::per_minute(requests))),
                Err(_) => Err(ConfigError(format!("{name} is not a number: {text:?}"))),
            },
        }
    }
    let defaults = RateLimits::default();
    Ok(RateLimits {
        auth: limit("RATE_LIMIT_AUTH_PER_MINUTE", defaults.auth)?,
        batch: limit("RATE_LIMIT_BATCH_PER_MINUTE", defaults.batch)?,
        verify: limit("RATE_LIMIT_VERIFY_PER_MINUTE", defaults.verify)?,
    })
}
