//! `POST /devices`, `GET /devices` and `GET /devices/{serialNum}`: the
//! registration body and what the API shows of a device.

use domain::clock::Timestamp;
use domain::codes::{CreditChange, CreditTarget};
use domain::devices::{
    Credit, Device, ExpiryPosition, NewDevice, ProtocolName, SerialNumber, StatedCredit,
};
use domain::field::FieldError;
use domain::paging::{page_limit, Page};
use keycode::DeviceProtocol;
use serde::{Deserialize, Serialize};

use crate::biolite::codes::CodeView;
use crate::time;

/// A serial number as clients send it: BioLite's own example sends a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SerialInput {
    Text(String),
    Number(u64),
}

impl SerialInput {
    pub fn parse(&self) -> Result<SerialNumber, FieldError> {
        match self {
            SerialInput::Text(text) => SerialNumber::parse(text),
            SerialInput::Number(number) => SerialNumber::parse(&number.to_string()),
        }
    }
}

/// The body of `POST /devices`: the fields of `domain::devices::NewDevice`
/// as they arrive. It has no `Debug`, so its secret key cannot reach a log
/// line; the command it becomes redacts it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDeviceBody {
    pub serial_num: SerialInput,
    pub protocol: ProtocolName,
    pub extended: Option<bool>,
    pub restricted_digit_set: Option<bool>,
    pub time_divider: Option<u32>,
    pub secret_key: Option<String>,
    pub starting_code: Option<u32>,
    pub count: Option<u32>,
    pub credit: Option<StatedCredit>,
}

impl NewDeviceBody {
    /// The registration this body asks for, its serial parsed.
    pub fn into_command(self) -> Result<NewDevice, FieldError> {
        Ok(NewDevice {
            serial: self.serial_num.parse()?,
            protocol: self.protocol,
            extended: self.extended,
            restricted_digit_set: self.restricted_digit_set,
            time_divider: self.time_divider,
            secret_key: self.secret_key,
            starting_code: self.starting_code,
            count: self.count,
            credit: self.credit,
        })
    }
}

/// What the API shows of a device: never its key or starting code.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub serial_num: String,
    pub protocol: ProtocolName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restricted_digit_set: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_divider: Option<u32>,
    pub count: u32,
    pub created_at: Timestamp,
    pub credit: Credit,
}

impl From<&Device> for DeviceView {
    fn from(device: &Device) -> Self {
        let (protocol, extended, restricted, divider) = match device.secrets.protocol {
            DeviceProtocol::OpenPaygo {
                extended,
                restricted_digit_set,
                time_divider,
            } => (
                ProtocolName::Openpaygo,
                Some(extended),
                Some(restricted_digit_set),
                Some(time_divider),
            ),
            DeviceProtocol::NexusFull => (ProtocolName::NexusFull, None, None, None),
            DeviceProtocol::NexusSmall => (ProtocolName::NexusSmall, None, None, None),
        };
        DeviceView {
            serial_num: device.serial.as_str().to_owned(),
            protocol,
            extended,
            restricted_digit_set: restricted,
            time_divider: divider,
            count: device.count,
            created_at: device.created_at,
            credit: device.credit,
        }
    }
}

/// One page of devices as the API answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceListing {
    pub devices: Vec<DeviceView>,
    pub next_cursor: Option<String>,
}

impl DeviceListing {
    pub fn new(devices: &[Device], next: Option<&SerialNumber>) -> Self {
        DeviceListing {
            devices: devices.iter().map(DeviceView::from).collect(),
            next_cursor: next.map(domain::devices::device_cursor),
        }
    }

    pub fn expiring(page: &Page<Device, ExpiryPosition>) -> Self {
        DeviceListing {
            devices: page.items.iter().map(DeviceView::from).collect(),
            next_cursor: page.next.as_ref().map(ExpiryPosition::to_cursor),
        }
    }
}

/// The body of `PUT /devices/{serialNum}/credit`: exactly one of
/// `{"until": "<RFC 3339>"}` and `{"unlocked": true}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditTargetBody {
    pub until: Option<String>,
    pub unlocked: Option<bool>,
}

impl CreditTargetBody {
    pub fn target(&self) -> Result<CreditTarget, FieldError> {
        match (&self.until, self.unlocked) {
            (Some(text), None) => time("until", text).map(CreditTarget::Until),
            (None, Some(true)) => Ok(CreditTarget::Unlocked),
            (None, Some(false)) => Err(FieldError::new(
                "unlocked",
                "can only be true; give until to put the device on time",
            )),
            (Some(_), Some(_)) => Err(FieldError::new(
                "unlocked",
                "cannot be given with until: ask for one or the other",
            )),
            (None, None) => Err(FieldError::new("until", "is required, or unlocked: true")),
        }
    }
}

/// The answer of `PUT /devices/{serialNum}/credit`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditChangeView {
    /// The code issued, or `null` when the device was there already.
    pub code: Option<CodeView>,
    pub credit: Credit,
    /// The whole days the target needed, for `add_time` and `set_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_days: Option<u32>,
    /// The days the code carries: more than requested when the protocol
    /// cannot carry the exact count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Why the answer is not simply the code asked for, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&CreditChange> for CreditChangeView {
    fn from(change: &CreditChange) -> Self {
        let note = match (&change.code, change.days) {
            (None, _) => Some("the device's credit is there already; no code was issued".to_owned()),
            (Some(code), Some(days)) if days.issued != days.requested => Some(format!(
                "the device's protocol cannot carry {} days in one {}; the code carries {}, the nearest count it can that is not shorter",
                days.requested,
                code.code_type.as_str(),
                days.issued
            )),
            _ => None,
        };
        CreditChangeView {
            code: change.code.as_ref().map(CodeView::from),
            credit: change.credit,
            requested_days: change.days.map(|d| d.requested),
            days: change.days.map(|d| d.issued),
            note,
        }
    }
}

/// `GET /devices` parameters as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDevicesParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub state: Option<String>,
    pub expiring_before: Option<String>,
}

/// Which devices `GET /devices` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelection {
    /// Every device, in serial order.
    All {
        limit: usize,
        after: Option<SerialNumber>,
    },
    /// The devices with active credit ending before `before`, soonest
    /// first (`Timestamp::MAX` when no bound was given).
    Expiring {
        before: Timestamp,
        limit: usize,
        after: Option<ExpiryPosition>,
    },
}

impl ListDevicesParams {
    pub fn selection(&self) -> Result<DeviceSelection, FieldError> {
        let limit = page_limit("limit", self.limit.as_deref())?;
        let active = match self.state.as_deref() {
            None => false,
            Some("active") => true,
            Some(_) => {
                return Err(FieldError::new(
                    "state",
                    "must be active: only devices with credit are listed by state",
                ))
            }
        };
        let before = self
            .expiring_before
            .as_deref()
            .map(|text| time("expiringBefore", text))
            .transpose()?;
        if active || before.is_some() {
            Ok(DeviceSelection::Expiring {
                before: before.unwrap_or(Timestamp::MAX),
                limit,
                after: self
                    .cursor
                    .as_deref()
                    .map(ExpiryPosition::from_cursor)
                    .transpose()?,
            })
        } else {
            Ok(DeviceSelection::All {
                limit,
                after: self
                    .cursor
                    .as_deref()
                    .map(domain::devices::parse_device_cursor)
                    .transpose()?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::clients::AccountId;
    use domain::clock::Timestamp;
    use domain::devices::Device;
    use keycode::DeviceProtocol;

    fn request(json: &str) -> NewDeviceBody {
        serde_json::from_str(json).unwrap()
    }

    fn into_device(body: NewDeviceBody, account: &AccountId) -> Result<Device, FieldError> {
        body.into_command()?.into_device(account, Timestamp::MIN)
    }

    #[test]
    fn openpaygo_defaults_and_generated_keys() {
        let account = AccountId::parse("ck_test").unwrap();
        let device = into_device(
            request(r#"{"serialNum": 12345, "protocol": "openpaygo"}"#),
            &account,
        )
        .unwrap();
        assert_eq!(device.serial.as_str(), "12345");
        assert_eq!(device.count, 1);
        assert_eq!(
            device.secrets.protocol,
            DeviceProtocol::OpenPaygo {
                extended: false,
                restricted_digit_set: false,
                time_divider: 1
            }
        );
        let other = into_device(
            request(r#"{"serialNum": "12345", "protocol": "openpaygo"}"#),
            &account,
        )
        .unwrap();
        assert_ne!(device.secrets.key, other.secrets.key);
    }

    #[test]
    fn refuses_bad_fields_by_name() {
        let account = AccountId::parse("ck_test").unwrap();
        let field_of = |json: &str| match into_device(request(json), &account) {
            Err(FieldError { field, .. }) => field,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(
            field_of(r#"{"serialNum": "a#b", "protocol": "openpaygo"}"#),
            "serialNum"
        );
        assert_eq!(
            field_of(r#"{"serialNum": "a", "protocol": "openpaygo", "secretKey": "xyz"}"#),
            "secretKey"
        );
        assert_eq!(
            field_of(r#"{"serialNum": "a", "protocol": "openpaygo", "timeDivider": 0}"#),
            "timeDivider"
        );
        assert_eq!(
            field_of(r#"{"serialNum": "a", "protocol": "nexus_small", "startingCode": 5}"#),
            "startingCode"
        );
        assert!(
            serde_json::from_str::<NewDeviceBody>(r#"{"serialNum": "a", "protocol": "x"}"#)
                .is_err()
        );
    }
}
