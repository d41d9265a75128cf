//! Activation challenges (Solaris device management): person-bound codes
//! mailed to a customer, with an expiry, a usage limit, delivery events and
//! a scheduled cleanup. `docs/challenges.md` has the decisions.

use std::sync::Arc;

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::clients::ClientKey;
use crate::clock::{Clock, Timestamp};
use crate::ports::{ChallengeStore, StoreError};
use crate::random::random_16;

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

/// How many times a racing update on one challenge is retried.
const CHALLENGE_RETRIES: usize = 16;

pub struct ChallengeService {
    store: Arc<dyn ChallengeStore>,
    clock: Arc<dyn Clock>,
    config: ChallengeConfig,
}

impl ChallengeService {
    pub fn new(
        store: Arc<dyn ChallengeStore>,
        clock: Arc<dyn Clock>,
        config: ChallengeConfig,
    ) -> Self {
        ChallengeService {
            store,
            clock,
            config,
        }
    }

    pub fn config(&self) -> &ChallengeConfig {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Creates a challenge. With a live one for the same person and purpose,
    /// 409 unless `invalidate_existing`, which ends the old one and creates
    /// the new one in one transaction.
    pub async fn create(
        &self,
        account: &ClientKey,
        new: NewChallenge,
    ) -> Result<Challenge, ChallengeError> {
        for _ in 0..CHALLENGE_RETRIES {
            let now = self.clock.now();
            let live = self
                .store
                .live_challenge(account, &new.person_id, new.purpose, now)
                .await?;
            if live.is_some() && !new.invalidate_existing {
                return Err(ChallengeError::LiveChallengeExists);
            }
            let challenge = Challenge {
                account: account.clone(),
                id: new_uuid_v7(now),
                person_id: new.person_id.clone(),
                code: generate_code(),
                created_at: now,
                expires_at: now.plus_secs(self.config.lifetime_secs),
                origin: new.origin,
                purpose: new.purpose,
                delivery_method: new.delivery_method,
                usage_count: 0,
                max_usage_count: self.config.max_usage_count,
                ended: None,
                failed_attempts: 0,
                attempt_window_start: now,
                event_count: 0,
                marked_expired: false,
            };
            match self
                .store
                .create_challenge(&challenge, live.as_ref(), self.config.retention_secs)
                .await
            {
                Ok(()) => return Ok(challenge),
                Err(StoreError::AlreadyExists) if !new.invalidate_existing => {
                    return Err(ChallengeError::LiveChallengeExists)
                }
                // A code clash, or the live challenge changed under us: again.
                Err(StoreError::AlreadyExists | StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ChallengeError::Busy)
    }

    pub async fn get(&self, account: &ClientKey, id: &str) -> Result<Challenge, ChallengeError> {
        if id.len() > 64 {
            return Err(ChallengeError::NotFound);
        }
        self.store
            .get_challenge(account, id)
            .await?
            .ok_or(ChallengeError::NotFound)
    }

    pub async fn list(&self, query: &ChallengeQuery) -> Result<Vec<Challenge>, ChallengeError> {
        Ok(self.store.list_challenges(query).await?)
    }

    /// Marks the challenge expired now; its code stops working. Deleting an
    /// ended or expired challenge changes nothing and succeeds.
    pub async fn delete(&self, account: &ClientKey, id: &str) -> Result<(), ChallengeError> {
        let challenge = self.get(account, id).await?;
        let now = self.clock.now();
        if challenge.ended.is_some() || challenge.is_expired(now) {
            return Ok(());
        }
        match self
            .store
            .end_challenge(
                &challenge,
                now,
                EndReason::Deleted,
                self.config.retention_secs,
            )
            .await
        {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(StoreError::NotFound) => Err(ChallengeError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks `code` for `person_id` and uses the challenge once. Wrong
    /// codes count against the attempt window; racing uses never exceed
    /// `max_usage_count`.
    pub async fn verify(
        &self,
        account: &ClientKey,
        id: &str,
        body: &VerifyBody,
    ) -> Result<Challenge, ChallengeError> {
        let person = body
            .person_id
            .as_deref()
            .ok_or_else(|| ChallengeError::invalid("person_id", "is required"))?;
        let code = body
            .code
            .as_deref()
            .filter(|c| !c.trim().is_empty() && c.len() <= 64)
            .ok_or_else(|| {
                ChallengeError::invalid("code", "is required (at most 64 characters)")
            })?;
        for _ in 0..CHALLENGE_RETRIES {
            let challenge = self.get(account, id).await?;
            if challenge.person_id != person {
                // The same answer as an unknown id: a wrong person learns
                // nothing about the challenge.
                return Err(ChallengeError::NotFound);
            }
            let now = self.clock.now();
            if let Some(retry) = self.locked_for(&challenge, now) {
                return Err(ChallengeError::TooManyAttempts {
                    retry_after_secs: retry,
                });
            }
            match challenge.ended {
                Some(EndReason::Deleted) => return Err(ChallengeError::Deleted),
                Some(EndReason::Invalidated) => return Err(ChallengeError::Invalidated),
                None => {}
            }
            if challenge.is_expired(now) {
                return Err(ChallengeError::Expired);
            }
            if challenge.usage_count >= challenge.max_usage_count {
                return Err(ChallengeError::Exhausted);
            }
            if !constant_time_eq(normalize_code(code).as_bytes(), challenge.code.as_bytes()) {
                let window_over = challenge
                    .attempt_window_start
                    .plus_secs(self.config.attempt_window_secs)
                    <= now;
                let (window_start, failed) = if window_over {
                    (now, 1)
                } else {
                    (
                        challenge.attempt_window_start,
                        challenge.failed_attempts + 1,
                    )
                };
                return match self
                    .store
                    .record_failed_attempt(&challenge, window_start, failed)
                    .await
                {
                    Ok(()) => Err(ChallengeError::WrongCode),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => Err(e.into()),
                };
            }
            match self.store.use_challenge(&challenge, now).await {
                Ok(()) => {
                    let mut used = challenge;
                    used.usage_count += 1;
                    return Ok(used);
                }
                // Another use, a delete or an expiry got there first: read
                // again and answer for the new state.
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(ChallengeError::NotFound),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ChallengeError::Busy)
    }

    /// Seconds until the attempt window reopens, when it is full.
    fn locked_for(&self, challenge: &Challenge, now: Timestamp) -> Option<i64> {
        let window_end = challenge
            .attempt_window_start
            .plus_secs(self.config.attempt_window_secs);
        (challenge.failed_attempts >= self.config.max_failed_attempts && now < window_end)
            .then(|| now.secs_until(window_end))
    }

    pub async fn add_event(
        &self,
        account: &ClientKey,
        challenge_id: &str,
        body: &DeliveryEventBody,
    ) -> Result<(Challenge, DeliveryEvent), ChallengeError> {
        let kind = body
            .kind
            .as_deref()
            .filter(|k| {
                (1..=64).contains(&k.len())
                    && k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .ok_or_else(|| {
                ChallengeError::invalid("type", "is required: 1-64 of A-Z and '_', e.g. DISPATCHED")
            })?;
        let timestamp = body
            .timestamp
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
            .ok_or_else(|| {
                ChallengeError::invalid(
                    "timestamp",
                    "is required: RFC 3339, e.g. 2018-06-18T13:06:54.000Z",
                )
            })?;
        let text = |field: &str,
                    value: &Option<String>,
                    max: usize|
         -> Result<Option<String>, ChallengeError> {
            match value {
                Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
                    Err(ChallengeError::invalid(
                        field,
                        format!("must be at most {max} characters, no control characters"),
                    ))
                }
                other => Ok(other.clone()),
            }
        };
        let challenge = self.get(account, challenge_id).await?;
        let now = self.clock.now();
        let event = DeliveryEvent {
            account: account.clone(),
            challenge_id: challenge.id.clone(),
            id: new_uuid_v7(now),
            kind: kind.to_owned(),
            timestamp,
            provider: text("provider", &body.provider, 128)?,
            additional_details: text("additional_details", &body.additional_details, 1000)?,
            created_at: now,
        };
        match self
            .store
            .add_delivery_event(&event, self.config.max_events)
            .await
        {
            Ok(()) => Ok((challenge, event)),
            Err(StoreError::Conflict) => Err(ChallengeError::TooManyEvents(self.config.max_events)),
            Err(StoreError::NotFound) => Err(ChallengeError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A challenge's delivery events, newest `timestamp` first.
    pub async fn events(
        &self,
        account: &ClientKey,
        challenge_id: &str,
    ) -> Result<Vec<DeliveryEvent>, ChallengeError> {
        let challenge = self.get(account, challenge_id).await?;
        let mut events = self.store.list_delivery_events(&challenge).await?;
        events.sort_by(|a, b| (b.timestamp, &b.id).cmp(&(a.timestamp, &a.id)));
        Ok(events)
    }

    pub async fn event(
        &self,
        account: &ClientKey,
        challenge_id: &str,
        event_id: &str,
    ) -> Result<DeliveryEvent, ChallengeError> {
        self.events(account, challenge_id)
            .await?
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or(ChallengeError::EventNotFound)
    }

    /// One bounded cleanup run: marks challenges whose time is up as expired
    /// (freeing their person and code for new challenges), then deletes what
    /// has outlived the retention. Every step is conditional, so a run that
    /// crashed is simply run again; DynamoDB's TTL removes what no run
    /// reaches.
    pub async fn cleanup(&self) -> Result<CleanupReport, ChallengeError> {
        let now = self.clock.now();
        let mut report = CleanupReport::default();
        for _ in 0..CLEANUP_PAGES {
            let due = self
                .store
                .expired_challenges(now, CLEANUP_PAGE_SIZE)
                .await?;
            for r in &due {
                match self.store.mark_expired(r, now).await {
                    Ok(()) => report.marked_expired += 1,
                    Err(StoreError::NotFound | StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            report.more = due.len() == CLEANUP_PAGE_SIZE;
            if !report.more {
                break;
            }
        }
        let mut more_purges = false;
        for _ in 0..CLEANUP_PAGES {
            let due = self
                .store
                .purgeable_challenges(now, CLEANUP_PAGE_SIZE)
                .await?;
            for r in &due {
                match self.store.purge_challenge(r).await {
                    Ok(()) => report.purged += 1,
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            more_purges = due.len() == CLEANUP_PAGE_SIZE;
            if !more_purges {
                break;
            }
        }
        report.more |= more_purges;
        Ok(report)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_characters_and_normalize() {
        let code = generate_code();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        for ambiguous in b"0O1IL2Z5S8BDQUV" {
            assert!(!CODE_ALPHABET.contains(ambiguous), "{}", *ambiguous as char);
        }
        assert_eq!(normalize_code(" acefg-hjk mn "), "ACEFGHJKMN");
    }

    #[test]
    fn v7_ids_sort_by_time() {
        let a = new_uuid_v7(Timestamp::from_millis(1_000));
        let b = new_uuid_v7(Timestamp::from_millis(2_000));
        assert!(a < b);
        assert_eq!(&a[14..15], "7");
    }

    #[test]
    fn creation_refuses_the_reserved_origin_and_reads_the_query_flag() {
        let body = |json: &str| serde_json::from_str::<CreateChallengeBody>(json).unwrap();
        let ok = body(r#"{"person_id":"p1","origin":"MOBILE_APP"}"#)
            .validate(Some("true"))
            .unwrap();
        assert!(ok.invalidate_existing);
        assert_eq!(ok.purpose, Purpose::DeviceBinding);
        for (bad, query) in [
            (r#"{"person_id":"p1","origin":"SOLARISBANK"}"#, None),
            (r#"{"person_id":"p1","origin":"FAX"}"#, None),
            (r#"{"origin":"WEB"}"#, None),
            (r#"{"person_id":"p 1","origin":"WEB"}"#, None),
            (
                r#"{"person_id":"p1","origin":"WEB","purpose":"OTHER"}"#,
                None,
            ),
            (
                r#"{"person_id":"p1","origin":"WEB","delivery_method":"EMAIL"}"#,
                None,
            ),
            (r#"{"person_id":"p1","origin":"WEB"}"#, Some("yes")),
        ] {
            assert!(body(bad).validate(query).is_err(), "{bad} {query:?}");
        }
    }

    #[test]
    fn views_show_the_documented_time_form() {
        assert_eq!(
            solaris_time(Timestamp::parse_rfc3339("2022-03-18T14:50:04.123Z").unwrap()),
            "2022-03-18T14:50:04Z"
        );
    }
}
