//! Webhooks: endpoints an account registers, the signing secret and the
//! Standard Webhooks signature, the rules an endpoint URL must meet
//! (`url`), and the deliveries of each event to each endpoint with their
//! attempts and retry schedule. `service` manages endpoints; `courier`
//! fans events out and makes the attempts (`docs/delivery.md`).

pub mod courier;
pub mod port;
pub mod service;
pub mod url;

pub use courier::{Courier, Dispatcher};
pub use service::WebhookService;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::paging::{parse_timed_cursor, timed_cursor};
use crate::store::StoreError;

/// What a Standard Webhooks secret starts with.
const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret the platform makes; the specification allows
/// 24 to 64.
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret: `whsec_` and the standard base64 of the
/// key bytes, as every Standard Webhooks library reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut key);
        WebhookSecret(key)
    }

    /// Reads `whsec_<base64>` (padding optional), 24-64 bytes of key.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "must be whsec_ and the base64 of 24-64 bytes");
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or_else(bad)?;
        let key = STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| bad())?;
        if (24..=64).contains(&key.len()) {
            Ok(WebhookSecret(key))
        } else {
            Err(bad())
        }
    }

    /// The text to show once, at creation.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
    pub fn sign(&self, id: &str, timestamp_secs: i64, body: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(format!("{id}.{timestamp_secs}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, separated by
/// spaces, so a receiver holding either of two secrets (the day after a
/// rotation) verifies the same request.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp_secs: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp_secs, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds from a failed attempt to the next: 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, then every 10 h. `attempt` counts from 1, the first
/// delivery.
pub fn retry_delay_secs(attempt: u32) -> i64 {
    const SCHEDULE: [i64; 6] = [5, 300, 1_800, 7_200, 18_000, 36_000];
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    SCHEDULE.get(index).copied().unwrap_or(36_000)
}

/// `delay` spread by up to a tenth either way, from `random` in 0..=u32::MAX,
/// so endpoints that failed together are not retried together.
pub fn with_jitter(delay_secs: i64, random: u32) -> i64 {
    let spread = delay_secs / 10;
    if spread == 0 {
        return delay_secs;
    }
    let offset = i64::from(random) % (2 * spread + 1) - spread;
    delay_secs + offset
}

/// How long an endpoint may fail without a success before it is disabled.
pub const DISABLE_AFTER_SECS: i64 = 5 * 86_400;

/// The most endpoints one account may have.
pub const MAX_ENDPOINTS: usize = 20;

/// How long the secret a rotation replaced still signs.
pub const ROTATION_OVERLAP_SECS: i64 = 86_400;

/// How long a delivery and its attempts are kept.
pub const DELIVERY_RETENTION_SECS: i64 = 30 * 86_400;

/// The most bytes of a receiver's answer that are read; the rest is
/// dropped unread, and nothing of the body is stored.
pub const MAX_RESPONSE_BYTES: usize = 4_096;

/// The longest a receiver may take to answer one attempt.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 10;

impl Serialize for WebhookSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.reveal())
    }
}

impl<'de> Deserialize<'de> for WebhookSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WebhookSecret::parse("secret", &text).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

/// Why a webhook request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no webhook endpoint with this id")]
    EndpointNotFound,
    #[error("no delivery with this id for this endpoint")]
    DeliveryNotFound,
    #[error("an account may have at most {MAX_ENDPOINTS} webhook endpoints")]
    TooManyEndpoints,
    #[error("the endpoint is disabled; enable it first")]
    EndpointDisabled,
    #[error("the endpoint is busy with other requests; retry")]
    EndpointBusy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<FieldError> for WebhookError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        WebhookError::InvalidField { field, reason }
    }
}

impl From<StoreError> for WebhookError {
    fn from(err: StoreError) -> Self {
        WebhookError::Store(err)
    }
}

/// The secret a rotation replaced, and until when it still signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiringSecret {
    pub secret: WebhookSecret,
    pub valid_until: Timestamp,
}

/// A receiver an account registered. Its serde form is the stored record;
/// what the API shows of it leaves the secrets out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// `wh_` and 24 hex digits.
    pub id: String,
    pub account: AccountId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    /// Whether `payment.received` carries the code the payment bought.
    #[serde(default)]
    pub include_codes: bool,
    pub secret: WebhookSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<RetiringSecret>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last delivered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Endpoint {
    /// Whether an event of this type goes to this endpoint.
    pub fn receives(&self, event: &Event) -> bool {
        // A stream can hand over an event after an endpoint made since was
        // listed; the endpoint was not listening when it happened.
        self.enabled
            && event.occurred_at >= self.created_at
            && match event.event_type {
                EventType::WebhookTest => event.subject == self.id,
                // An endpoint is not told about its own disabling: it is
                // no longer listening.
                EventType::WebhookDisabled => {
                    event.subject != self.id && self.events.contains(&event.event_type)
                }
                other => self.events.contains(&other),
            }
    }

    /// The secrets that sign a request sent at `now`: the current one, and
    /// the one a rotation replaced while its overlap lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&WebhookSecret> {
        let mut secrets = vec![&self.secret];
        if let Some(previous) = &self.previous_secret {
            if now < previous.valid_until {
                secrets.push(&previous.secret);
            }
        }
        secrets
    }

    /// Whether `id` can name an endpoint (so a malformed one is a 404
    /// without a store read).
    pub fn is_id(id: &str) -> bool {
        id.strip_prefix("wh_")
            .is_some_and(|hex| hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; `next_attempt_at` says when it is tried.
    Pending,
    Delivered,
    /// Given up: the endpoint answered 410, was disabled or deleted, or
    /// the delivery failed for as long as retries last.
    Failed,
}

/// One try at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why there was no answer (a timeout, a refused address, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    /// When the next attempt is due, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<Timestamp>,
}

/// One event on its way to one endpoint. The body is rendered once, when
/// the event is fanned out, and every attempt sends it as it is, under the
/// event's id, so a receiver can deduplicate retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub account: AccountId,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub body: String,
    pub created_at: Timestamp,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    pub version: u64,
}

impl Delivery {
    /// The one id of `event`'s delivery to `endpoint`, so a fan-out that
    /// runs twice for one event makes one delivery.
    pub fn id_for(event_id: &str, endpoint_id: &str) -> String {
        let digest = Sha256::digest(format!("{event_id}:{endpoint_id}").as_bytes());
        format!("dlv_{}", crate::hex::encode(&digest[..12]))
    }

    pub fn position(&self) -> DeliveryPosition {
        DeliveryPosition {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }

    pub fn is_id(id: &str) -> bool {
        id.strip_prefix("dlv_")
            .is_some_and(|hex| hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

/// Where a delivery sits in its endpoint's listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveryPosition {
    pub created_at: Timestamp,
    pub id: String,
}

impl DeliveryPosition {
    pub fn to_cursor(&self) -> String {
        timed_cursor(self.created_at, &self.id)
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, FieldError> {
        let (created_at, id) = parse_timed_cursor(cursor, Delivery::is_id)?;
        Ok(DeliveryPosition { created_at, id })
    }
}

/// A delivery to attempt, as the delivery queue carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryJob {
    pub account: AccountId,
    pub delivery_id: String,
    /// When the attempt is due; a job that arrives early is sent back to
    /// wait (SQS delays a message by 15 minutes at most).
    pub due_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_hears_only_of_what_happened_once_it_existed() {
        let created = Timestamp::from_millis(1_000_000);
        let account = AccountId::parse("ck_0123456789abcdef01234567").unwrap();
        let endpoint = Endpoint {
            id: "wh_0123456789abcdef01234567".into(),
            account: account.clone(),
            url: "https://hooks.example.com/in".into(),
            events: vec![EventType::PaymentReceived],
            description: String::new(),
            include_codes: false,
            secret: WebhookSecret::generate(),
            previous_secret: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: created,
            updated_at: created,
            version: 1,
        };
        let at = |millis| {
            Event::new(
                &account,
                EventType::PaymentReceived,
                "r-1",
                Timestamp::from_millis(millis),
            )
        };
        assert!(
            !endpoint.receives(&at(999_999)),
            "before the endpoint was made"
        );
        assert!(endpoint.receives(&at(1_000_000)));
        assert!(endpoint.receives(&at(2_000_000)));
        let off = Endpoint {
            enabled: false,
            ..endpoint
        };
        assert!(!off.receives(&at(2_000_000)));
    }

    #[test]
    fn secrets_round_trip_and_never_show_in_debug_output() {
        let secret = WebhookSecret::generate();
        let text = secret.reveal();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse("secret", &text).unwrap(), secret);
        assert_eq!(
            WebhookSecret::parse("secret", text.trim_end_matches('=')).unwrap(),
            secret
        );
        assert!(!format!("{secret:?}").contains(&text[6..]));
        for bad in ["", "whsec_", "sk_abc", "whsec_!!!!", "whsec_AAAA"] {
            assert!(WebhookSecret::parse("secret", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rotation_header_carries_both_signatures() {
        let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let header = signature_header(&[&new, &old], "msg_1", 1_700_000_000, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                new.sign("msg_1", 1_700_000_000, "{}"),
                old.sign("msg_1", 1_700_000_000, "{}")
            ]
        );
    }

    #[test]
    fn retries_follow_the_schedule_for_more_than_three_days() {
        let delays: Vec<i64> = (1..=8).map(retry_delay_secs).collect();
        assert_eq!(
            delays,
            [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000]
        );
        let mut elapsed = 0;
        let mut attempts = 1;
        while elapsed < 3 * 86_400 {
            elapsed += retry_delay_secs(attempts);
            attempts += 1;
        }
        assert!(attempts < 20, "{attempts} attempts cover three days");
        for random in [0, 1, 7, u32::MAX / 2, u32::MAX] {
            let jittered = with_jitter(36_000, random);
            assert!((32_400..=39_600).contains(&jittered), "{jittered}");
        }
        assert_eq!(with_jitter(5, u32::MAX), 5);
    }
}
