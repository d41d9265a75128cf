//! Devices on DynamoDB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clients::AccountId;
use domain::devices::{Device, SerialNumber};
use domain::{DeviceStore, Page, StoreError};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::device_record::DeviceRecord;
use crate::dynamo::schema::{client_pk, device_sk, PK, SK};
use crate::dynamo::{corrupt, unavailable, DynamoStore, StoredItem};

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: client_pk(&device.account),
            sk: device_sk(&device.serial),
            gsi1pk: None,
            gsi1sk: None,
            record: DeviceRecord::from(device),
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_device(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        match self.get(client_pk(account), &device_sk(serial)).await? {
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
        let pk = client_pk(account);
        let start = after.map(|serial| {
            HashMap::from([
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (SK.to_owned(), AttributeValue::S(device_sk(serial))),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S("DEVICE#".into()))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let stored: StoredItem<DeviceRecord> = from_item(item).map_err(corrupt)?;
                Device::try_from(stored.record)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let more = output.last_evaluated_key.is_some();
        Ok(Page::new(items, more, |d| d.serial.clone()))
    }
}
