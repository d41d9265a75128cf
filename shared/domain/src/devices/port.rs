//! The storage port of devices.

use async_trait::async_trait;

use super::{Device, ExpiryPosition, ExpiryQuery, SerialNumber};
use crate::clients::AccountId;
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates a device; `AlreadyExists` when the account already has the serial.
    async fn create_device(&self, device: &Device) -> Result<(), StoreError>;

    async fn get_device(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError>;

    /// The account's devices in serial-number order, after `after`.
    async fn list_devices(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError>;

    /// The account's devices whose credit is active at `query.now` and
    /// runs out before `query.before`, soonest first (ties by serial),
    /// after `query.after`.
    async fn list_expiring(
        &self,
        query: &ExpiryQuery,
    ) -> Result<Page<Device, ExpiryPosition>, StoreError>;
}
