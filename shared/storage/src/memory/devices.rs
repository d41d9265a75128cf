//! Devices in memory.

use super::*;

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let key = (device.account.clone(), device.serial.clone());
        self.lock().devices.insert_new(key, device.clone())
    }

    async fn get_device(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        Ok(self
            .lock()
            .devices
            .get(&(account.clone(), serial.clone()))
            .cloned())
    }

    async fn list_devices(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError> {
        let state = self.lock();
        let mut matching = state
            .devices
            .iter()
            .filter(|((owner, serial), _)| owner == account && after.is_none_or(|a| serial > a))
            .map(|(_, device)| device);
        let items: Vec<Device> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, |d| d.serial.clone()))
    }

    async fn list_expiring(
        &self,
        query: &ExpiryQuery,
    ) -> Result<Page<Device, ExpiryPosition>, StoreError> {
        let state = self.lock();
        let mut matching: Vec<(ExpiryPosition, &Device)> = state
            .devices
            .values()
            .filter(|device| query.selects(device))
            .filter_map(|device| device.expiry_position().map(|at| (at, device)))
            .filter(|(at, _)| query.after.as_ref().is_none_or(|after| at > after))
            .collect();
        matching.sort_by(|a, b| a.0.cmp(&b.0));
        let more = matching.len() > query.limit;
        matching.truncate(query.limit);
        let next = matching.last().filter(|_| more).map(|(at, _)| at.clone());
        Ok(Page {
            items: matching.into_iter().map(|(_, d)| d.clone()).collect(),
            next,
        })
    }
}
