//! Webhook endpoints, deliveries and the outbox in memory.

use super::*;

impl MemoryStore {
    /// The events written after the first `position`, and the position
    /// after them: how the local dispatcher follows the outbox as Lambda
    /// follows the table's stream.
    pub fn outbox_after(&self, position: usize, limit: usize) -> (Vec<Event>, usize) {
        let state = self.lock();
        let events: Vec<Event> = state
            .outbox
            .iter()
            .skip(position)
            .take(limit)
            .cloned()
            .collect();
        let next = position + events.len();
        (events, next)
    }
}

fn endpoint_key(
    state: &State,
    account: &AccountId,
    id: &str,
) -> Option<(AccountId, Timestamp, String)> {
    state
        .endpoints
        .range((account.clone(), Timestamp::MIN, String::new())..)
        .take_while(|((a, _, _), _)| a == account)
        .find(|((_, _, i), _)| i == id)
        .map(|(key, _)| key.clone())
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_endpoint(
        &self,
        endpoint: &Endpoint,
        max: usize,
    ) -> Result<EndpointCreated, StoreError> {
        let mut state = self.lock();
        let count = state
            .endpoints
            .keys()
            .filter(|(account, _, _)| *account == endpoint.account)
            .count();
        if count >= max {
            return Ok(EndpointCreated::LimitReached);
        }
        state.endpoints.insert_new(
            (
                endpoint.account.clone(),
                endpoint.created_at,
                endpoint.id.clone(),
            ),
            endpoint.clone(),
        )?;
        Ok(EndpointCreated::Created)
    }

    async fn endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let state = self.lock();
        Ok(endpoint_key(&state, account, id).and_then(|key| state.endpoints.get(&key).cloned()))
    }

    async fn list_endpoints(&self, account: &AccountId) -> Result<Vec<Endpoint>, StoreError> {
        let state = self.lock();
        Ok(state
            .endpoints
            .iter()
            .filter(|((a, _, _), _)| a == account)
            .map(|(_, endpoint)| endpoint.clone())
            .collect())
    }

    async fn update_endpoint(
        &self,
        next: &Endpoint,
        event: Option<&Event>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = endpoint_key(&state, &next.account, &next.id).ok_or(StoreError::NotFound)?;
        let stored = state.endpoints.get_mut(&key).ok_or(StoreError::NotFound)?;
        if stored.version + 1 != next.version {
            return Err(StoreError::Conflict);
        }
        *stored = next.clone();
        if let Some(event) = event {
            state.append_event(event.clone());
        }
        Ok(())
    }

    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = endpoint_key(&state, account, id).ok_or(StoreError::NotFound)?;
        state.endpoints.remove(&key);
        Ok(())
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.append_event_once(event.clone())
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.lock().deliveries.insert_new(
            (delivery.account.clone(), delivery.id.clone()),
            delivery.clone(),
        )
    }

    async fn delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .get(&(account.clone(), id.to_owned()))
            .cloned())
    }

    async fn update_delivery(&self, next: &Delivery) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .deliveries
            .get_mut(&(next.account.clone(), next.id.clone()))
            .ok_or(StoreError::NotFound)?;
        if stored.version + 1 != next.version {
            return Err(StoreError::Conflict);
        }
        *stored = next.clone();
        Ok(())
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint_id: &str,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> Result<Page<Delivery, DeliveryPosition>, StoreError> {
        let state = self.lock();
        let mut matching: Vec<&Delivery> = state
            .deliveries
            .values()
            .filter(|d| d.account == *account && d.endpoint_id == endpoint_id)
            .filter(|d| after.is_none_or(|a| d.position() < *a))
            .collect();
        matching.sort_by_key(|d| std::cmp::Reverse(d.position()));
        let more = matching.len() > limit;
        let items = matching.into_iter().take(limit).cloned().collect();
        Ok(Page::new(items, more, Delivery::position))
    }
}
