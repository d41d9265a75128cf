//! Payment plans and payments in memory.

use super::*;

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn set_plan(&self, device: &Device, plan: &PaymentPlan) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .devices
            .get_mut(&(device.account.clone(), device.serial.clone()))
            .filter(|stored| stored.version == device.version)
            .ok_or(StoreError::Conflict)?;
        stored.plan = Some(plan.clone());
        stored.version += 1;
        Ok(())
    }

    async fn record_payment(
        &self,
        device: &Device,
        next: &Advance,
        code: Option<&CodeRecord>,
        payment: &Payment,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (
            payment.account.clone(),
            payment.reference.as_str().to_owned(),
        );
        // Every check before any write, as one transaction would.
        if state.payments.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        let codes: Vec<CodeRecord> = code.cloned().into_iter().collect();
        state.record_codes(device, next, &codes)?;
        state.payments.insert(key, payment.clone());
        state.append_event(payment.received_event());
        Ok(())
    }

    async fn find_payment(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        Ok(self
            .lock()
            .payments
            .get(&(account.clone(), reference.to_owned()))
            .cloned())
    }

    async fn list_payments(
        &self,
        query: &PaymentQuery,
    ) -> Result<Page<Payment, PaymentPosition>, StoreError> {
        let state = self.lock();
        let mut matching: Vec<&Payment> = state
            .payments
            .values()
            .filter(|payment| query.selects(payment))
            .collect();
        matching.sort_by_key(|payment| payment.position());
        let more = matching.len() > query.limit;
        let items: Vec<Payment> = matching.into_iter().take(query.limit).cloned().collect();
        Ok(Page::new(items, more, Payment::position))
    }

    async fn ledger_payments(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        after: Option<&LedgerPosition>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let state = self.lock();
        let mut taken = device_payments(&state, account, serial);
        taken.retain(|p| after.is_none_or(|a| p.ledger_position() > *a));
        taken.truncate(limit);
        Ok(taken.into_iter().cloned().collect())
    }

    async fn payment_at_or_before(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        at: &LedgerPosition,
    ) -> Result<Option<Payment>, StoreError> {
        let state = self.lock();
        Ok(device_payments(&state, account, serial)
            .into_iter()
            .rfind(|p| p.ledger_position() <= *at)
            .cloned())
    }
}

/// A device's payments in the order they were taken.
fn device_payments<'a>(
    state: &'a State,
    account: &AccountId,
    serial: &SerialNumber,
) -> Vec<&'a Payment> {
    let mut taken: Vec<&Payment> = state
        .payments
        .values()
        .filter(|p| p.account == *account && p.serial_num == *serial)
        .collect();
    taken.sort_by_key(|p| p.ledger_position());
    taken
}
