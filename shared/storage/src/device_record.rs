//! The stored form of a device, shared by both adapters: the domain's
//! `Device` holds its key as a `SecretKey` that deliberately has no serde
//! support, so only this type can write it out.

use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::devices::{Credit, Device, Paid, PaymentPlan, SerialNumber};
use domain::StoreError;
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    pub client_key: AccountId,
    pub serial_num: SerialNumber,
    pub protocol: DeviceProtocol,
    pub secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_code: Option<u32>,
    pub count: u32,
    pub version: u64,
    pub created_at: Timestamp,
    /// Left out by devices stored before credit was kept: they start
    /// locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PaymentPlan>,
    /// Left out by devices stored before payments: nothing paid.
    #[serde(default)]
    pub paid: Paid,
}

impl std::fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("client_key", &self.client_key)
            .field("serial_num", &self.serial_num)
            .field("protocol", &self.protocol)
            .field("secret_key", &"<redacted>")
            .field("count", &self.count)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl From<&Device> for DeviceRecord {
    fn from(device: &Device) -> Self {
        DeviceRecord {
            client_key: device.account.clone(),
            serial_num: device.serial.clone(),
            protocol: device.secrets.protocol,
            secret_key: device.secrets.key.to_hex(),
            starting_code: device.secrets.starting_code,
            count: device.count,
            version: device.version,
            created_at: device.created_at,
            credit: Some(device.credit),
            plan: device.plan.clone(),
            paid: device.paid,
        }
    }
}

impl TryFrom<DeviceRecord> for Device {
    type Error = StoreError;

    fn try_from(record: DeviceRecord) -> Result<Self, StoreError> {
        let key = SecretKey::from_hex(&record.secret_key).map_err(|_| {
            StoreError::Corrupt(format!(
                "device {} has an unreadable key",
                record.serial_num.as_str()
            ))
        })?;
        Ok(Device {
            account: record.client_key,
            serial: record.serial_num,
            secrets: DeviceSecrets {
                protocol: record.protocol,
                key,
                starting_code: record.starting_code,
            },
            count: record.count,
            version: record.version,
            created_at: record.created_at,
            credit: record
                .credit
                .unwrap_or_else(|| Credit::locked(record.created_at)),
            plan: record.plan,
            paid: record.paid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::devices::{NewDevice, ProtocolName, SerialNumber};

    #[test]
    fn a_device_stored_before_credit_was_kept_reads_as_locked() {
        let mut stored = serde_json::to_value(DeviceRecord::from(&sample_device())).unwrap();
        stored["createdAt"] = serde_json::json!("2026-11-01T00:00:00.000Z");
        stored.as_object_mut().unwrap().remove("credit");
        let record: DeviceRecord = serde_json::from_value(stored).unwrap();
        let device = Device::try_from(record).unwrap();
        assert_eq!(
            device.credit,
            Credit::locked(Timestamp::parse_rfc3339("2026-11-01T00:00:00Z").unwrap())
        );
    }

    fn sample_device() -> Device {
        let request = NewDevice {
            serial: SerialNumber::parse("SN-OLD").unwrap(),
            protocol: ProtocolName::NexusFull,
            extended: None,
            restricted_digit_set: None,
            time_divider: None,
            secret_key: None,
            starting_code: None,
            count: None,
            credit: None,
        };
        request
            .into_device(&AccountId::parse("ck_test").unwrap(), Timestamp::MIN)
            .unwrap()
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
        let request = NewDevice {
            serial: SerialNumber::parse("SN-1").unwrap(),
            protocol: ProtocolName::Openpaygo,
            extended: None,
            restricted_digit_set: None,
            time_divider: None,
            secret_key: Some(KEY.into()),
            starting_code: None,
            count: None,
            credit: None,
        };
        assert!(!format!("{request:?}").contains(KEY));
        let account = AccountId::parse("ck_test").unwrap();
        let device = request.into_device(&account, Timestamp::MIN).unwrap();
        assert!(!format!("{device:?}").contains(KEY));
        let record = DeviceRecord::from(&device);
        assert_eq!(record.secret_key, KEY);
        assert!(!format!("{record:?}").contains(KEY));
    }
}
