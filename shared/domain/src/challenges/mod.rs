//! Activation challenges (Solaris device management): person-bound codes
//! mailed to a customer, with an expiry, a usage limit, delivery events and
//! a scheduled cleanup. `docs/challenges.md` has the decisions.

pub mod port;
mod service;

pub use service::*;

use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::clients::ClientKey;
use crate::clock::{Clock, Timestamp};
use crate::random::random_16;
use crate::store::StoreError;
use port::ChallengeStore;

/// Why a challenge request failed. The HTTP mapping is in `http-api`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no activation challenge with this id")]
    NotFound,
    #[error("no delivery event with this id")]
    EventNotFound,
    #[error("the person already has a live activation challenge for this purpose; pass invalidate_existing_code=true to replace it")]
    LiveChallengeExists,
    #[error("the activation challenge has expired")]
    Expired,
    #[error("the activation challenge was deleted")]
    Deleted,
    #[error("the activation challenge was replaced by a newer one")]
    Invalidated,
    #[error("the activation code has been used the maximum number of times")]
    Exhausted,
    #[error("the code does not match")]
    WrongCode,
    #[error("too many wrong codes; retry in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: i64 },
    #[error("the challenge already has the maximum of {0} delivery events")]
    TooManyEvents(u32),
    #[error("the challenge is busy with other requests; retry")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl ChallengeError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ChallengeError::InvalidField {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for ChallengeError {
    fn from(err: StoreError) -> Self {
        ChallengeError::Store(err)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Origin {
    MobileApp,
    Web,
    Webui,
    /// Reserved for the bank's own requests; clients may not use it.
    Solarisbank,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Purpose {
    DeviceBinding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryMethod {
    Snailmail,
}

fn parse_enum<T: for<'de> Deserialize<'de>>(
    field: &str,
    text: &str,
    allowed: &str,
) -> Result<T, ChallengeError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ChallengeError::invalid(field, format!("must be {allowed}")))
}

/// How a challenge stopped before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndReason {
    Deleted,
    Invalidated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub account: ClientKey,
    /// A version 7 UUID: time-ordered, so listings come in creation order.
    pub id: String,
    pub person_id: String,
    pub code: String,
    pub created_at: Timestamp,
    /// Set to the moment of deletion when a challenge is deleted or
    /// replaced: "marked as expired".
    pub expires_at: Timestamp,
    pub origin: Origin,
    pub purpose: Purpose,
    pub delivery_method: DeliveryMethod,
    pub usage_count: u32,
    pub max_usage_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<EndReason>,
    /// Wrong codes in the current attempt window.
    #[serde(default)]
    pub failed_attempts: u32,
    #[serde(default = "epoch")]
    pub attempt_window_start: Timestamp,
    #[serde(default)]
    pub event_count: u32,
    /// Set by the cleanup when it marks the challenge expired.
    #[serde(default)]
    pub marked_expired: bool,
}

fn epoch() -> Timestamp {
    Timestamp::MIN
}

impl Challenge {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// When the cleanup may delete it: its expiry plus the retention.
    pub fn purge_at(&self, retention_secs: i64) -> Timestamp {
        self.expires_at.plus_secs(retention_secs)
    }
}

/// What the API shows of a challenge: the document's fields.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeView {
    pub id: String,
    pub person_id: String,
    pub code: String,
    pub created_at: String,
    pub expires_at: String,
    pub origin: Origin,
    pub purpose: Purpose,
    pub delivery_method: DeliveryMethod,
    pub usage_count: u32,
    pub max_usage_count: u32,
}

/// The document's time form: seconds, `Z`.
fn solaris_time(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    format!("{}Z", &text[..19])
}

impl From<&Challenge> for ChallengeView {
    fn from(c: &Challenge) -> Self {
        ChallengeView {
            id: c.id.clone(),
            person_id: c.person_id.clone(),
            code: c.code.clone(),
            created_at: solaris_time(c.created_at),
            expires_at: solaris_time(c.expires_at),
            origin: c.origin,
            purpose: c.purpose,
            delivery_method: c.delivery_method,
            usage_count: c.usage_count,
            max_usage_count: c.max_usage_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    pub account: ClientKey,
    pub challenge_id: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryEventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub provider: Option<String>,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<String>,
}

impl From<&DeliveryEvent> for DeliveryEventView {
    fn from(e: &DeliveryEvent) -> Self {
        DeliveryEventView {
            id: e.id.clone(),
            kind: e.kind.clone(),
            provider: e.provider.clone(),
            timestamp: e.timestamp,
            additional_details: e.additional_details.clone(),
        }
    }
}

/// The documented defaults, changeable per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeConfig {
    /// How long a code lives. Snail mail takes days, so two weeks.
    pub lifetime_secs: i64,
    pub max_usage_count: u32,
    /// Wrong codes allowed per challenge within `attempt_window_secs`.
    pub max_failed_attempts: u32,
    pub attempt_window_secs: i64,
    /// How long an expired challenge and its events are kept.
    pub retention_secs: i64,
    pub max_events: u32,
}

impl Default for ChallengeConfig {
    fn default() -> Self {
        ChallengeConfig {
            lifetime_secs: 14 * 86_400,
            max_usage_count: 5,
            max_failed_attempts: 5,
            attempt_window_secs: 900,
            retention_secs: 30 * 86_400,
            max_events: 100,
        }
    }
}

/// Letters and digits that cannot be confused on paper: no 0/O/D/Q, 1/I/L,
/// 2/Z, 5/S, 8/B, U/V.
pub const CODE_ALPHABET: &[u8] = b"ACEFGHJKMNPRTWXY34679";
pub const CODE_LENGTH: usize = 10;

pub fn generate_code() -> String {
    let limit = 256 - (256 % CODE_ALPHABET.len());
    let mut out = String::with_capacity(CODE_LENGTH);
    let mut byte = [0u8; 1];
    while out.len() < CODE_LENGTH {
        OsRng.fill_bytes(&mut byte);
        if usize::from(byte[0]) < limit {
            out.push(char::from(
                CODE_ALPHABET[usize::from(byte[0]) % CODE_ALPHABET.len()],
            ));
        }
    }
    out
}

/// A code as a person may type it: any case, with spaces or dashes.
pub fn normalize_code(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A version 7 UUID: 48 bits of milliseconds, then random bits.
pub fn new_uuid_v7(now: Timestamp) -> String {
    let mut bytes = random_16();
    let millis = now.millis().to_be_bytes();
    bytes[..6].copy_from_slice(&millis[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    crate::hex::uuid_text(&bytes)
}

/// `POST` body; `invalidate_existing_code` may also come in the query.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateChallengeBody {
    pub person_id: Option<String>,
    pub origin: Option<String>,
    pub purpose: Option<String>,
    pub delivery_method: Option<String>,
    pub invalidate_existing_code: Option<bool>,
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChallenge {
    pub person_id: String,
    pub origin: Origin,
    pub purpose: Purpose,
    pub delivery_method: DeliveryMethod,
    pub invalidate_existing: bool,
}

fn person_field(field: &str, value: &str) -> Result<String, ChallengeError> {
    let valid = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ChallengeError::invalid(
            field,
            "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'",
        ))
    }
}

impl CreateChallengeBody {
    pub fn validate(&self, invalidate_query: Option<&str>) -> Result<NewChallenge, ChallengeError> {
        let person = self
            .person_id
            .as_deref()
            .ok_or_else(|| ChallengeError::invalid("person_id", "is required"))?;
        let origin: Origin = parse_enum(
            "origin",
            self.origin
                .as_deref()
                .ok_or_else(|| ChallengeError::invalid("origin", "is required"))?,
            "MOBILE_APP, WEB or WEBUI",
        )?;
        if origin == Origin::Solarisbank {
            return Err(ChallengeError::invalid(
                "origin",
                "SOLARISBANK is reserved for the bank's own requests",
            ));
        }
        let purpose = parse_enum(
            "purpose",
            self.purpose.as_deref().unwrap_or("DEVICE_BINDING"),
            "DEVICE_BINDING",
        )?;
        let delivery_method = parse_enum(
            "delivery_method",
            self.delivery_method.as_deref().unwrap_or("SNAILMAIL"),
            "SNAILMAIL",
        )?;
        let from_query = match invalidate_query {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(ChallengeError::invalid(
                    "invalidate_existing_code",
                    "must be true or false",
                ))
            }
        };
        Ok(NewChallenge {
            person_id: person_field("person_id", person)?,
            origin,
            purpose,
            delivery_method,
            invalidate_existing: from_query
                .or(self.invalidate_existing_code)
                .unwrap_or(false),
        })
    }
}

/// `GET` list parameters as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListChallengesParams {
    #[serde(rename = "page[size]")]
    pub page_size: Option<String>,
    #[serde(rename = "page[number]")]
    pub page_number: Option<String>,
    #[serde(rename = "filter[person_id]")]
    pub person_id: Option<String>,
    #[serde(rename = "filter[include_expired]")]
    pub include_expired: Option<String>,
    #[serde(rename = "filter[origin]")]
    pub origin: Option<String>,
    #[serde(rename = "filter[purpose]")]
    pub purpose: Option<String>,
    #[serde(rename = "filter[delivery_method]")]
    pub delivery_method: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 100;
/// Pages are numbered; the store reads past every earlier page, so how far
/// a listing may reach is bounded.
pub const MAX_LISTING_DEPTH: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeQuery {
    pub account: ClientKey,
    pub person_id: Option<String>,
    pub include_expired: bool,
    pub origin: Option<Origin>,
    pub purpose: Option<Purpose>,
    pub delivery_method: Option<DeliveryMethod>,
    pub now: Timestamp,
    /// Matching challenges to skip, then how many to return.
    pub skip: usize,
    pub size: usize,
}

impl ChallengeQuery {
    pub fn matches(&self, c: &Challenge) -> bool {
        c.account == self.account
            && self.person_id.as_ref().is_none_or(|p| *p == c.person_id)
            && (self.include_expired || !c.is_expired(self.now))
            && self.origin.is_none_or(|o| o == c.origin)
            && self.purpose.is_none_or(|p| p == c.purpose)
            && self.delivery_method.is_none_or(|d| d == c.delivery_method)
    }
}

impl ListChallengesParams {
    pub fn into_query(
        self,
        account: &ClientKey,
        now: Timestamp,
    ) -> Result<ChallengeQuery, ChallengeError> {
        let number = |field: &str, value: &Option<String>, default: usize, max: usize| match value {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ChallengeError::invalid(field, format!("must be a whole number 1-{max}"))
                }),
        };
        let size = number(
            "page[size]",
            &self.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let page = number("page[number]", &self.page_number, 1, MAX_LISTING_DEPTH)?;
        let skip = (page - 1) * size;
        if skip + size > MAX_LISTING_DEPTH {
            return Err(ChallengeError::invalid(
                "page[number]",
                format!(
                    "reaches past the first {MAX_LISTING_DEPTH} challenges; narrow the filters"
                ),
            ));
        }
        let include_expired = match self.include_expired.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ChallengeError::invalid(
                    "filter[include_expired]",
                    "must be true or false",
                ))
            }
        };
        Ok(ChallengeQuery {
            account: account.clone(),
            person_id: self
                .person_id
                .as_deref()
                .map(|p| person_field("filter[person_id]", p))
                .transpose()?,
            include_expired,
            origin: self
                .origin
                .as_deref()
                .map(|o| parse_enum("filter[origin]", o, "MOBILE_APP, WEB, WEBUI or SOLARISBANK"))
                .transpose()?,
            purpose: self
                .purpose
                .as_deref()
                .map(|p| parse_enum("filter[purpose]", p, "DEVICE_BINDING"))
                .transpose()?,
            delivery_method: self
                .delivery_method
                .as_deref()
                .map(|d| parse_enum("filter[delivery_method]", d, "SNAILMAIL"))
                .transpose()?,
            now,
            skip,
            size,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerifyBody {
    pub person_id: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryEventBody {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub timestamp: Option<String>,
    pub provider: Option<String>,
    pub additional_details: Option<String>,
}

/// What one cleanup run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    pub marked_expired: usize,
    pub purged: usize,
    /// Set when the run stopped at its page bound with work left.
    pub more: bool,
}

/// A challenge named by account and id, as the cleanup's indexes hold it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChallengeRef {
    pub account: ClientKey,
    pub id: String,
}

/// How many pages of each kind one cleanup run works through.
pub const CLEANUP_PAGES: usize = 20;
pub const CLEANUP_PAGE_SIZE: usize = 100;
