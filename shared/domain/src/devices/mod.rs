//! Devices: the PAYG products a client issues codes for, each with its
//! keycode protocol and secret.

pub mod credit;
pub mod plan;
pub mod port;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::paging::{parse_timed_cursor, timed_cursor};
use crate::random::random_16;
pub use credit::{Credit, CreditState};
pub use plan::{Paid, PaymentPlan};

/// A device serial number: 1-64 characters of A-Z, a-z, 0-9, `.`, `_`, `:`
/// and `-` (no `#`, which the store uses as a separator).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber(String);

impl SerialNumber {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let valid = (1..=Self::MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if valid {
            Ok(SerialNumber(text.to_owned()))
        } else {
            Err(FieldError::new(
                "serialNum",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SerialNumber {
    type Error = FieldError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        SerialNumber::parse(&text)
    }
}

impl From<SerialNumber> for String {
    fn from(serial: SerialNumber) -> String {
        serial.0
    }
}

/// A registered device. `version` moves on every change so writes can be
/// conditional on the state they read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub account: AccountId,
    pub serial: SerialNumber,
    pub secrets: DeviceSecrets,
    /// The protocol's count (OpenPAYGO: last count issued; Nexus: next message id).
    pub count: u32,
    pub version: u64,
    pub created_at: Timestamp,
    /// As stored; `Credit::as_of` says what it is now.
    pub credit: Credit,
    pub plan: Option<PaymentPlan>,
    pub paid: Paid,
}

/// The protocol names the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolName {
    Openpaygo,
    NexusFull,
    NexusSmall,
}

/// A device to register, its fields as given but its serial parsed: the
/// body of `POST /devices` (in `api-types`) and each row of a bulk import
/// become this. `into_device` applies the protocol's rules.
#[derive(Clone)]
pub struct NewDevice {
    pub serial: SerialNumber,
    pub protocol: ProtocolName,
    /// OpenPAYGO: 12-digit extended tokens.
    pub extended: Option<bool>,
    /// OpenPAYGO: tokens in digits 1-4.
    pub restricted_digit_set: Option<bool>,
    /// OpenPAYGO: token units per day (default 1).
    pub time_divider: Option<u32>,
    /// 32 hex digits; generated when left out.
    pub secret_key: Option<String>,
    /// OpenPAYGO: the starting code; derived from the key when left out.
    pub starting_code: Option<u32>,
    /// OpenPAYGO: the last count issued (default 1). Nexus: the next message
    /// id (default 0).
    pub count: Option<u32>,
    /// The credit the device already has, for a device moved here from
    /// another system; locked when left out.
    pub credit: Option<StatedCredit>,
}

/// A device's credit as a registration or an import states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatedCredit {
    pub state: CreditState,
    #[serde(default)]
    pub until: Option<Timestamp>,
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("serial", &self.serial)
            .field("protocol", &self.protocol)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The largest OpenPAYGO time divider accepted: one unit per second.
pub const MAX_TIME_DIVIDER: u32 = 86_400;

impl NewDevice {
    /// The device record this request describes.
    pub fn into_device(self, account: &AccountId, now: Timestamp) -> Result<Device, FieldError> {
        let serial = self.serial;
        let key = match &self.secret_key {
            Some(hex) => {
                SecretKey::from_hex(hex).map_err(|e| FieldError::new("secretKey", e.to_string()))?
            }
            None => SecretKey::from_bytes(random_16()),
        };
        let protocol = match self.protocol {
            ProtocolName::Openpaygo => {
                let time_divider = self.time_divider.unwrap_or(1);
                if !(1..=MAX_TIME_DIVIDER).contains(&time_divider) {
                    return Err(FieldError::new(
                        "timeDivider",
                        format!("must be 1-{MAX_TIME_DIVIDER}"),
                    ));
                }
                DeviceProtocol::OpenPaygo {
                    extended: self.extended.unwrap_or(false),
                    restricted_digit_set: self.restricted_digit_set.unwrap_or(false),
                    time_divider,
                }
            }
            nexus => {
                let openpaygo_only = [
                    ("extended", self.extended.is_some()),
                    ("restrictedDigitSet", self.restricted_digit_set.is_some()),
                    ("timeDivider", self.time_divider.is_some()),
                    ("startingCode", self.starting_code.is_some()),
                ];
                if let Some((field, _)) = openpaygo_only.iter().find(|(_, given)| *given) {
                    return Err(FieldError::new(field, "applies to OpenPAYGO devices only"));
                }
                if nexus == ProtocolName::NexusFull {
                    DeviceProtocol::NexusFull
                } else {
                    DeviceProtocol::NexusSmall
                }
            }
        };
        let default_count = match protocol {
            DeviceProtocol::OpenPaygo { .. } => 1,
            _ => 0,
        };
        Ok(Device {
            account: account.clone(),
            serial,
            secrets: DeviceSecrets {
                protocol,
                key,
                starting_code: self.starting_code,
            },
            count: self.count.unwrap_or(default_count),
            version: 0,
            created_at: now,
            credit: match self.credit {
                None => Credit::locked(now),
                Some(stated) => Credit::stated(stated.state, stated.until, now)?,
            },
            plan: None,
            paid: Paid::default(),
        })
    }
}

/// The opaque cursor of a device listing that continues after `serial`.
pub fn device_cursor(serial: &SerialNumber) -> String {
    URL_SAFE_NO_PAD.encode(serial.as_str())
}

/// The serial a device cursor continues after, or the error naming it.
pub fn parse_device_cursor(cursor: &str) -> Result<SerialNumber, FieldError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| SerialNumber::parse(&text).ok())
        .ok_or_else(|| FieldError::new("cursor", "is not a cursor this API handed out"))
}

/// Where a device sits in a listing by when its credit runs out; the
/// listing resumes after one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiryPosition {
    pub until: Timestamp,
    pub serial: SerialNumber,
}

impl ExpiryPosition {
    /// The opaque cursor clients pass back.
    pub fn to_cursor(&self) -> String {
        timed_cursor(self.until, self.serial.as_str())
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, FieldError> {
        let (until, serial) = parse_timed_cursor(cursor, |s| SerialNumber::parse(s).is_ok())?;
        Ok(ExpiryPosition {
            until,
            serial: SerialNumber::parse(&serial)?,
        })
    }
}

/// A validated listing of the devices whose credit runs out before a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryQuery {
    pub account: AccountId,
    /// Active at this time: credit ending after it.
    pub now: Timestamp,
    /// Credit ending strictly before this time.
    pub before: Timestamp,
    pub limit: usize,
    pub after: Option<ExpiryPosition>,
}

impl ExpiryQuery {
    /// Whether `device` is in the listing, wherever the page starts.
    pub fn selects(&self, device: &Device) -> bool {
        device.account == self.account
            && device.credit.state == CreditState::Active
            && device
                .credit
                .until
                .is_some_and(|until| self.now < until && until < self.before)
    }
}

impl ExpiryPosition {
    /// Where the device `serial` sits in a listing by expiry with `credit`,
    /// if the credit is active.
    pub fn of(serial: &SerialNumber, credit: &Credit) -> Option<Self> {
        match (credit.state, credit.until) {
            (CreditState::Active, Some(until)) => Some(ExpiryPosition {
                until,
                serial: serial.clone(),
            }),
            _ => None,
        }
    }
}

impl Device {
    /// Its place in a listing by expiry, if its credit is active.
    pub fn expiry_position(&self) -> Option<ExpiryPosition> {
        ExpiryPosition::of(&self.serial, &self.credit)
    }

    /// The `device.credit_expiring` event for its active credit, told
    /// `days` before the end: one per device and end of credit, whenever
    /// it is made (`Event::once`). `None` when its credit is not active.
    pub fn credit_notice_event(&self, days: u32, at: Timestamp) -> Option<Event> {
        let until = self
            .credit
            .until
            .filter(|_| self.credit.state == CreditState::Active)?;
        let key = format!("{}:{}", self.serial.as_str(), until.millis());
        Some(
            Event::once(
                &self.account,
                EventType::CreditExpiring,
                self.serial.as_str(),
                &key,
                at,
            )
            .carrying(&CreditNotice { until, days }),
        )
    }
}

/// What a `device.credit_expiring` event carries: the end of credit it
/// warns of, and how many days ahead the account asked to hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNotice {
    pub until: Timestamp,
    pub days: u32,
}
