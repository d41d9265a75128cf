//! Devices on DynamoDB: each its own partition, listed through `gsi1`
//! shards merged in serial order.

use std::collections::HashMap;

use async_trait::async_trait;
use domain::clients::AccountId;
use domain::devices::{Device, SerialNumber};
use domain::{DeviceStore, Page, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::device_record::DeviceRecord;
use crate::dynamo::merge::{MergedQuery, SortRange};
use crate::dynamo::schema::{
    device_pk, device_shard, devices_gsi, DEVICE_SHARDS, DEVICE_SK, GSI1, GSI1_PK, GSI1_SK,
};
use crate::dynamo::{corrupt, DynamoStore, StoredItem};

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: device_pk(&device.account, &device.serial),
            sk: DEVICE_SK.into(),
            gsi1pk: Some(devices_gsi(&device.account, device_shard(&device.serial))),
            gsi1sk: Some(device.serial.as_str().to_owned()),
            record: DeviceRecord::from(device),
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
        let items = page
            .items
            .into_iter()
            .map(|item| {
                let stored: StoredItem<DeviceRecord> = from_item(item).map_err(corrupt)?;
                Device::try_from(stored.record)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = match page.resume_after {
            None => None,
            Some(serial) => Some(
                SerialNumber::parse(&serial)
                    .map_err(|_| StoreError::Corrupt(format!("bad device index key {serial:?}")))?,
            ),
        };
        Ok(Page { items, next })
    }
}
