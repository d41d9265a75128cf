//! Devices on DynamoDB: each its own partition, listed through `gsi1`
//! shards merged in serial order, and those with active credit through
//! `gsi2` shards merged in expiry order.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::clients::AccountId;
use domain::devices::{Credit, Device, ExpiryPosition, ExpiryQuery, SerialNumber};
use domain::{DeviceStore, Page, StoreError};
use serde::Serialize;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::device_record::DeviceRecord;
use crate::dynamo::merge::{MergedQuery, SortRange};
use crate::dynamo::schema::{
    device_pk, device_shard, devices_gsi, expiring_gsi, expiry_bound, expiry_position_from_sk,
    expiry_sk, DEVICE_SHARDS, DEVICE_SK, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK,
};
use crate::dynamo::{corrupt, records_of, DynamoStore, Item, StoredItem};

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let (gsi2pk, gsi2sk) = expiry_keys(device, &device.credit).unzip();
        let item = DeviceItem {
            stored: StoredItem {
                pk: device_pk(&device.account, &device.serial),
                sk: DEVICE_SK.into(),
                gsi1pk: Some(devices_gsi(&device.account, device_shard(&device.serial))),
                gsi1sk: Some(device.serial.as_str().to_owned()),
                record: DeviceRecord::from(device),
            },
            gsi2pk,
            gsi2sk,
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_device(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        match self.get(device_pk(account, serial), DEVICE_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<DeviceRecord> = from_item(item).map_err(corrupt)?;
                Device::try_from(stored.record).map(Some)
            }
        }
    }

    async fn list_devices(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError> {
        let page = self
            .merged_page(MergedQuery {
                index: Some(GSI1),
                partition_attribute: GSI1_PK,
                sort_attribute: GSI1_SK,
                partitions: (0..DEVICE_SHARDS)
                    .map(|shard| devices_gsi(account, shard))
                    .collect(),
                range: match after {
                    Some(serial) => SortRange::After(serial.as_str().to_owned()),
                    None => SortRange::Any,
                },
                skip: None,
                filter: None,
                values: HashMap::new(),
                ascending: true,
                limit,
            })
            .await?;
        let items = devices_of(page.items)?;
        let next = match page.resume_after {
            None => None,
            Some(serial) => Some(
                SerialNumber::parse(&serial)
                    .map_err(|_| StoreError::Corrupt(format!("bad device index key {serial:?}")))?,
            ),
        };
        Ok(Page { items, next })
    }

    async fn list_expiring(
        &self,
        query: &ExpiryQuery,
    ) -> Result<Page<Device, ExpiryPosition>, StoreError> {
        // Active now: ending after `now`; the bound of `now + 1 ms` sorts
        // before every device ending then. Ending before `before`: the
        // bound of `before` sorts before every device ending then.
        let lowest = expiry_bound(query.now.plus_millis(1));
        let highest = expiry_bound(query.before);
        let after = query.after.as_ref().map(expiry_sk);
        let start = match &after {
            Some(key) if *key > lowest => key.clone(),
            _ => lowest,
        };
        if start >= highest {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let page = self
            .merged_page(MergedQuery {
                index: Some(GSI2),
                partition_attribute: GSI2_PK,
                sort_attribute: GSI2_SK,
                partitions: (0..DEVICE_SHARDS)
                    .map(|shard| expiring_gsi(&query.account, shard))
                    .collect(),
                range: SortRange::Between(start, highest),
                skip: after,
                filter: None,
                values: HashMap::new(),
                ascending: true,
                limit: query.limit,
            })
            .await?;
        let items = devices_of(page.items)?;
        let next = page
            .resume_after
            .as_deref()
            .map(expiry_position_from_sk)
            .transpose()?;
        Ok(Page { items, next })
    }
}

fn devices_of(items: Vec<Item>) -> Result<Vec<Device>, StoreError> {
    records_of::<DeviceRecord>(items)?
        .into_iter()
        .map(Device::try_from)
        .collect()
}

/// A device as stored: its record and index keys, with its place in the
/// expiry index while its credit is active.
#[derive(Serialize)]
struct DeviceItem {
    #[serde(flatten)]
    stored: StoredItem<DeviceRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
}

/// The expiry index keys of `device` with `credit`, if that is active.
pub(crate) fn expiry_keys(device: &Device, credit: &Credit) -> Option<(String, String)> {
    ExpiryPosition::of(&device.serial, credit).map(|position| {
        (
            expiring_gsi(&device.account, device_shard(&device.serial)),
            expiry_sk(&position),
        )
    })
}
