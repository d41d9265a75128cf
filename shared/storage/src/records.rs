//! The stored form of a device, shared by both adapters: the domain's
//! `Device` holds its key as a `SecretKey` that deliberately has no serde
//! support, so only this type can write it out.

use domain::clients::ClientKey;
use domain::clock::Timestamp;
use domain::devices::{Device, SerialNumber};
use domain::StoreError;
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRecord {
    pub client_key: ClientKey,
    pub serial_num: SerialNumber,
    pub protocol: DeviceProtocol,
    pub secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_code: Option<u32>,
    pub count: u32,
    pub version: u64,
    pub created_at: Timestamp,
}

impl From<&Device> for DeviceRecord {
    fn from(device: &Device) -> Self {
        DeviceRecord {
            client_key: device.client.clone(),
            serial_num: device.serial.clone(),
            protocol: device.secrets.protocol,
            secret_key: device.secrets.key.to_hex(),
            starting_code: device.secrets.starting_code,
            count: device.count,
            version: device.version,
            created_at: device.created_at,
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
            client: record.client_key,
            serial: record.serial_num,
            secrets: DeviceSecrets {
                protocol: record.protocol,
                key,
                starting_code: record.starting_code,
            },
            count: record.count,
            version: record.version,
            created_at: record.created_at,
        })
    }
}
