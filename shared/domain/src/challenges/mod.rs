//! Activation challenges (Solaris device management): person-bound codes
//! mailed to a customer, with an expiry, a usage limit, delivery events and
//! a scheduled cleanup. `docs/challenges.md` has the decisions.

pub mod port;
mod service;

pub use service::*;

use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::events::{Event, EventType};
pub use crate::ids::new_uuid_v7;
use crate::ids::ChallengeId;
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

impl From<crate::field::FieldError> for ChallengeError {
    fn from(crate::field::FieldError { field, reason }: crate::field::FieldError) -> Self {
        ChallengeError::InvalidField { field, reason }
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

/// How a challenge stopped before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndReason {
    Deleted,
    Invalidated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub account: AccountId,
    /// A version 7 UUID: time-ordered, so listings come in creation order.
    pub id: ChallengeId,
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
    /// The `challenge.created` event the store writes with the challenge.
    pub fn created_event(&self) -> Event {
        Event::new(
            &self.account,
            EventType::ChallengeCreated,
            self.id.to_string(),
            self.created_at,
        )
        .carrying(self)
    }

    /// The `challenge.verified` event the store writes with the use it
    /// spends at `now`: the challenge as that use leaves it.
    pub fn verified_event(&self, now: Timestamp) -> Event {
        let used = Challenge {
            usage_count: self.usage_count + 1,
            ..self.clone()
        };
        Event::new(
            &self.account,
            EventType::ChallengeVerified,
            self.id.to_string(),
            now,
        )
        .carrying(&used)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// When the cleanup may delete it: its expiry plus the retention.
    pub fn purge_at(&self, retention_secs: i64) -> Timestamp {
        self.expires_at.plus_secs(retention_secs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    pub account: AccountId,
    pub challenge_id: ChallengeId,
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

/// A validated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChallenge {
    pub person_id: String,
    pub origin: Origin,
    pub purpose: Purpose,
    pub delivery_method: DeliveryMethod,
    pub invalidate_existing: bool,
}

pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 100;
/// Pages are numbered; the store reads past every earlier page, so how far
/// a listing may reach is bounded.
pub const MAX_LISTING_DEPTH: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeQuery {
    pub account: AccountId,
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

/// `POST .../{id}/verify` as given; the service checks each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyRequest {
    pub person_id: Option<String>,
    pub code: Option<String>,
}

/// A delivery event as given; the service checks each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewDeliveryEvent {
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
    pub account: AccountId,
    pub id: ChallengeId,
}

/// How many pages of each kind one cleanup run works through.
pub const CLEANUP_PAGES: usize = 20;
pub const CLEANUP_PAGE_SIZE: usize = 100;
