//! The one licensing model the three APIs share.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::LicenseError;
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::events::{Event, EventType};
pub use crate::ids::{new_uuid, parse_uuid, LicenseId, ProductId};

/// The end the vendor API gives a permanent license: `9999-01-01T00:00:00`.
pub const PERMANENT_UNTIL: Timestamp = Timestamp::from_millis(253_370_764_800_000);

/// A product (the subscription API's "software") that licenses are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub account: AccountId,
    pub id: ProductId,
    /// Unique within the account and fixed once created, so the vendor API
    /// can look a product up by it.
    pub sku: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the vendor API's `GetPublic` shows as `latestPublicVersionName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,
    /// Kept by the store as licenses come and go; a product is deletable
    /// without `force` only at zero.
    #[serde(default)]
    pub license_count: u64,
    /// Set while a forced delete removes its licenses; no new license may
    /// be granted on it then.
    #[serde(default)]
    pub retired: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How a license is kept from being used regardless of its window (the
/// subscription API's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum LicenseStatus {
    #[default]
    Active,
    Inactive,
}

/// Where a license stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Inside its window and not suspended.
    Active,
    /// Its window has not begun.
    Pending,
    /// Its window has ended.
    Expired,
    /// Its status is `INACTIVE`, whatever the window.
    Suspended,
}

impl LicenseState {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(LicenseState::Active),
            "pending" => Some(LicenseState::Pending),
            "expired" => Some(LicenseState::Expired),
            "suspended" => Some(LicenseState::Suspended),
            _ => None,
        }
    }
}

/// A recorded deployment of a license (`POST /deploy/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub blockchain: String,
    /// The contract address activations name.
    pub address: String,
    pub token_id: String,
    /// What backs the deployment; `PLATFORM_CERTIFICATE` for the shipped
    /// deployer, which signs rather than touching a chain.
    pub kind: String,
    /// The signed license certificate (a compact JWS).
    pub certificate: String,
    pub deployed_at: Timestamp,
}

/// The subscription API's descriptive fields of a license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// An integer amount in the smallest unit, as text (wei in the example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

/// A license: the right of a holder to use a product within a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct License {
    pub account: AccountId,
    /// A UUID; the AminoTV `license_id`, the subscription API's `id`.
    pub id: LicenseId,
    pub product_id: ProductId,
    /// The user (AminoTV `user_id`, vendor `internalUserIdentifier`,
    /// subscription `owner`). A subscription license may be created
    /// without one and get it when deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The license key (a UUID) the holder enters; unique platform-wide.
    pub key: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub valid_from: Timestamp,
    /// `None` for a permanent license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub status: LicenseStatus,
    #[serde(default)]
    pub listing: Listing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    pub created_at: Timestamp,
}

impl License {
    /// The `license.created` event the store writes with the license.
    pub fn created_event(&self) -> Event {
        Event::new(
            &self.account,
            EventType::LicenseCreated,
            self.id.to_string(),
            self.created_at,
        )
        .carrying(self)
    }

    /// The `license.deleted` event the store writes as it deletes the
    /// license at `at`: it carries the license, which is gone after it.
    pub fn deleted_event(&self, at: Timestamp) -> Event {
        Event::new(
            &self.account,
            EventType::LicenseDeleted,
            self.id.to_string(),
            at,
        )
        .carrying(self)
    }

    pub fn state(&self, now: Timestamp) -> LicenseState {
        if self.status == LicenseStatus::Inactive {
            LicenseState::Suspended
        } else if now < self.valid_from {
            LicenseState::Pending
        } else if self.valid_until.is_some_and(|until| now >= until) {
            LicenseState::Expired
        } else {
            LicenseState::Active
        }
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.state(now) == LicenseState::Active
    }

    pub fn is_permanent(&self) -> bool {
        self.valid_until.is_none()
    }

    /// The end as the vendor and subscription APIs show it.
    pub fn shown_until(&self) -> Timestamp {
        self.valid_until.unwrap_or(PERMANENT_UNTIL)
    }

    pub fn position(&self) -> LicensePosition {
        LicensePosition {
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }
}

/// Where a license sits in listing order: by name, then id (the
/// subscription API sorts by name; the others follow suit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LicensePosition {
    pub name: String,
    pub id: LicenseId,
}

/// Between name and id in sort keys and cursors. Names cannot contain it,
/// and it sorts below every character a name may hold, so a name sorts
/// before its own extensions.
pub const POSITION_SEPARATOR: char = '\u{1}';

impl LicensePosition {
    pub fn sort_key(&self) -> String {
        format!("{}{POSITION_SEPARATOR}{}", self.name, self.id)
    }

    pub fn from_sort_key(key: &str) -> Option<Self> {
        let (name, id) = key.rsplit_once(POSITION_SEPARATOR)?;
        Some(LicensePosition {
            name: name.to_owned(),
            id: LicenseId::parse(id)?,
        })
    }

    pub fn to_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sort_key())
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, LicenseError> {
        let bad = || LicenseError::invalid("cursor", "is not a cursor this API handed out");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let position = Self::from_sort_key(&text).ok_or_else(bad)?;
        if check_text(&position.name, MAX_NAME).is_err() {
            return Err(bad());
        }
        Ok(position)
    }
}

/// A validated license listing, scoped to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseQuery {
    pub account: AccountId,
    pub id: Option<LicenseId>,
    pub product_id: Option<ProductId>,
    pub holder: Option<String>,
    pub state: Option<LicenseState>,
    /// Licenses whose window overlaps `[window_from, window_to]`.
    pub window_from: Option<Timestamp>,
    pub window_to: Option<Timestamp>,
    /// The moment `state` is judged at.
    pub now: Timestamp,
    pub limit: usize,
    pub after: Option<LicensePosition>,
}

impl LicenseQuery {
    pub fn all(account: &AccountId, now: Timestamp, limit: usize) -> Self {
        LicenseQuery {
            account: account.clone(),
            id: None,
            product_id: None,
            holder: None,
            state: None,
            window_from: None,
            window_to: None,
            now,
            limit,
            after: None,
        }
    }

    /// Whether the license passes the filters (not the paging).
    pub fn matches(&self, license: &License) -> bool {
        license.account == self.account
            && self.id.as_ref().is_none_or(|id| *id == license.id)
            && self
                .product_id
                .as_ref()
                .is_none_or(|p| *p == license.product_id)
            && self
                .holder
                .as_ref()
                .is_none_or(|h| license.holder.as_ref() == Some(h))
            && self.state.is_none_or(|s| license.state(self.now) == s)
            && self
                .window_from
                .is_none_or(|from| license.valid_until.is_none_or(|until| until > from))
            && self.window_to.is_none_or(|to| license.valid_from <= to)
    }
}

/// What the vendor API's `GetTokenValidity` tells about a holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HolderProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub is_email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code3_letter: Option<String>,
}

/// A discount code for a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    pub account: AccountId,
    /// `XXXXX-XXXXX-XXXXX`; unique platform-wide.
    pub code: String,
    pub product_id: ProductId,
    #[serde(flatten)]
    pub value: DiscountValue,
    pub valid_from: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<u32>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "valueType")]
pub enum DiscountValue {
    /// Percent off, 1-100.
    Percentage { percentage: u8 },
    /// A fixed amount off, in the currency's smallest unit.
    Amount { amount: u64, currency: String },
}

/// A single-use challenge for `POST /activation/activate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationNonce {
    pub account: AccountId,
    pub nonce: String,
    /// The canonical form of the address it was issued to.
    pub address: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A one-time login token, stored by the hash of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginToken {
    pub hash: String,
    pub account: AccountId,
    pub holder: String,
    pub license_id: LicenseId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The longest name, in characters.
pub const MAX_NAME: usize = 200;
/// The longest free text (descriptions, URLs), in characters.
pub const MAX_TEXT: usize = 2000;
/// The longest user id, SKU, order id or version name, in characters.
pub const MAX_IDENTIFIER: usize = 128;

/// Checks free text: not blank, no control characters, within `max`.
pub fn check_text(text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A UUID field, trimmed and in its canonical lowercase form, or the error naming it.
pub fn uuid_field(field: &str, value: &str) -> Result<String, LicenseError> {
    id_field(field, value, parse_uuid)
}

/// An id field (`ProductId::parse`, `LicenseId::parse`), trimmed, or the
/// error naming it.
pub fn id_field<T>(
    field: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, LicenseError> {
    parse(value.trim()).ok_or_else(|| {
        LicenseError::invalid(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(from: i64, until: Option<i64>) -> License {
        License {
            account: AccountId::parse("ck_a").unwrap(),
            id: LicenseId::generate(),
            product_id: ProductId::generate(),
            holder: Some("K1".into()),
            key: new_uuid(),
            name: "Office".into(),
            order_id: None,
            valid_from: Timestamp::from_millis(from),
            valid_until: until.map(Timestamp::from_millis),
            status: LicenseStatus::Active,
            listing: Listing::default(),
            deployment: None,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn state_follows_the_window_and_the_status() {
        let now = Timestamp::from_millis(1000);
        assert_eq!(license(0, None).state(now), LicenseState::Active);
        assert_eq!(license(0, Some(1000)).state(now), LicenseState::Expired);
        assert_eq!(license(0, Some(1001)).state(now), LicenseState::Active);
        assert_eq!(license(1001, None).state(now), LicenseState::Pending);
        let mut suspended = license(0, None);
        suspended.status = LicenseStatus::Inactive;
        assert_eq!(suspended.state(now), LicenseState::Suspended);
        assert_eq!(license(0, None).shown_until(), PERMANENT_UNTIL);
        assert_eq!(PERMANENT_UNTIL.to_rfc3339(), "9999-01-01T00:00:00.000Z");
    }

    #[test]
    fn uuids_are_version_4_and_parse_back() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_eq!(parse_uuid(&id.to_uppercase()), Some(id));
        for bad in [
            "",
            "e5a3sdfc-3b19-4856-9df9-12f30de47f1d",
            "1234",
            "a-b-c-d-e",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn positions_order_by_name_then_id_and_round_trip_as_cursors() {
        let a = LicensePosition {
            name: "A".into(),
            id: LicenseId::generate(),
        };
        let a_bang = LicensePosition {
            name: "A!".into(),
            id: LicenseId::generate(),
        };
        assert!(a.sort_key() < a_bang.sort_key());
        assert_eq!(LicensePosition::from_cursor(&a.to_cursor()).unwrap(), a);
        assert!(LicensePosition::from_cursor("not-a-cursor").is_err());
        assert!(LicensePosition::from_cursor(&URL_SAFE_NO_PAD.encode("x\u{1}y")).is_err());
    }

    #[test]
    fn windows_overlap_inclusively() {
        let l = license(100, Some(200));
        let mut q = LicenseQuery::all(&l.account, Timestamp::from_millis(0), 10);
        q.window_from = Some(Timestamp::from_millis(150));
        assert!(q.matches(&l));
        q.window_from = Some(Timestamp::from_millis(200));
        assert!(!q.matches(&l));
        q.window_from = None;
        q.window_to = Some(Timestamp::from_millis(100));
        assert!(q.matches(&l));
        q.window_to = Some(Timestamp::from_millis(99));
        assert!(!q.matches(&l));
    }
}
