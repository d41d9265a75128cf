//! Managing endpoints: create, read, change, rotate, delete, test, and
//! the deliveries each one has had.

use std::sync::Arc;

use super::port::{DeliveryQueue, EndpointCreated, HostResolver, WebhookStore};
use super::url::{
    check_address, is_loopback, UrlHost, UrlPolicy, WebhookUrl, HTTP_FOR_LOOPBACK_ONLY,
};
use super::{
    Delivery, DeliveryJob, DeliveryPosition, DeliveryStatus, Endpoint, RetiringSecret,
    WebhookError, WebhookSecret, MAX_ENDPOINTS, ROTATION_OVERLAP_SECS,
};
use crate::clients::AccountId;
use crate::clock::Clock;
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::paging::Page;
use crate::random::random_hex;
use crate::store::StoreError;

/// The most characters of an endpoint's description.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// How often a change that lost a race is tried again.
const MAX_UPDATE_ATTEMPTS: usize = 5;

/// A validated `POST /webhooks`, before its URL is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub include_codes: bool,
}

/// A `PATCH /webhooks/{id}`: each field it has replaces the endpoint's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub include_codes: Option<bool>,
    pub enabled: Option<bool>,
    /// Makes a new secret; the old one signs too for 24 hours.
    pub rotate_secret: bool,
}

/// Reads a subscription list: at least one type, each one the platform
/// emits, none twice.
pub fn parse_events(field: &str, names: &[String]) -> Result<Vec<EventType>, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new(field, "must name at least one event type"));
    }
    let mut events = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let event = EventType::parse_subscribable(&format!("{field}[{i}]"), name)?;
        if events.contains(&event) {
            return Err(FieldError::new(&format!("{field}[{i}]"), "is listed twice"));
        }
        events.push(event);
    }
    Ok(events)
}

/// Reads a description: up to 200 characters, no control characters.
pub fn parse_description(text: &str) -> Result<String, FieldError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control) {
        return Err(FieldError::new(
            "description",
            "must be at most 200 characters, none of them control characters",
        ));
    }
    Ok(text.to_owned())
}

pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    queue: Arc<dyn DeliveryQueue>,
    resolver: Arc<dyn HostResolver>,
    policy: UrlPolicy,
    clock: Arc<dyn Clock>,
}

impl WebhookService {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        queue: Arc<dyn DeliveryQueue>,
        resolver: Arc<dyn HostResolver>,
        policy: UrlPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WebhookService {
            store,
            queue,
            resolver,
            policy,
            clock,
        }
    }

    /// Checks `text` as an endpoint URL, its host's current addresses
    /// included.
    async fn vet_url(&self, text: &str) -> Result<WebhookUrl, WebhookError> {
        let url = WebhookUrl::parse("url", text, self.policy)?;
        vet_host(self.resolver.as_ref(), self.policy, &url)
            .await
            .map_err(|reason| FieldError::new("url", reason))?;
        Ok(url)
    }

    pub async fn create(
        &self,
        account: &AccountId,
        request: NewEndpoint,
    ) -> Result<Endpoint, WebhookError> {
        let url = self.vet_url(&request.url).await?;
        let now = self.clock.now();
        let endpoint = Endpoint {
            id: format!("wh_{}", random_hex(12)),
            account: account.clone(),
            url: url.as_str().to_owned(),
            events: request.events,
            description: request.description,
            include_codes: request.include_codes,
            secret: WebhookSecret::generate(),
            previous_secret: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        match self.store.create_endpoint(&endpoint, MAX_ENDPOINTS).await? {
            EndpointCreated::Created => Ok(endpoint),
            EndpointCreated::LimitReached => Err(WebhookError::TooManyEndpoints),
        }
    }

    pub async fn list(&self, account: &AccountId) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self.store.list_endpoints(account).await?)
    }

    pub async fn get(&self, account: &AccountId, id: &str) -> Result<Endpoint, WebhookError> {
        if !Endpoint::is_id(id) {
            return Err(WebhookError::EndpointNotFound);
        }
        self.store
            .endpoint(account, id)
            .await?
            .ok_or(WebhookError::EndpointNotFound)
    }

    /// Applies `patch`; the answer carries the new secret when it rotated.
    pub async fn update(
        &self,
        account: &AccountId,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint, WebhookError> {
        let url = match &patch.url {
            Some(text) => Some(self.vet_url(text).await?),
            None => None,
        };
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let current = self.get(account, id).await?;
            let now = self.clock.now();
            let mut next = current.clone();
            if let Some(url) = &url {
                next.url = url.as_str().to_owned();
            }
            if let Some(events) = &patch.events {
                next.events = events.clone();
            }
            if let Some(description) = &patch.description {
                next.description = description.clone();
            }
            if let Some(include) = patch.include_codes {
                next.include_codes = include;
            }
            match patch.enabled {
                Some(true) if !current.enabled => {
                    next.enabled = true;
                    next.disabled_reason = None;
                    next.failing_since = None;
                }
                Some(false) if current.enabled => {
                    next.enabled = false;
                    next.disabled_reason = Some("disabled by the account".into());
                }
                _ => {}
            }
            if patch.rotate_secret {
                next.previous_secret = Some(RetiringSecret {
                    secret: current.secret.clone(),
                    valid_until: now.plus_secs(ROTATION_OVERLAP_SECS),
                });
                next.secret = WebhookSecret::generate();
            }
            next.updated_at = now;
            next.version = current.version + 1;
            match self.store.update_endpoint(&next, None).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(WebhookError::EndpointNotFound),
                Err(other) => return Err(other.into()),
            }
        }
        Err(WebhookError::EndpointBusy)
    }

    pub async fn delete(&self, account: &AccountId, id: &str) -> Result<(), WebhookError> {
        if !Endpoint::is_id(id) {
            return Err(WebhookError::EndpointNotFound);
        }
        match self.store.delete_endpoint(account, id).await {
            Err(StoreError::NotFound) => Err(WebhookError::EndpointNotFound),
            other => Ok(other?),
        }
    }

    /// Records a `webhook.test` event for the endpoint, which the
    /// dispatcher then delivers to it like any other.
    pub async fn test(&self, account: &AccountId, id: &str) -> Result<Event, WebhookError> {
        let endpoint = self.get(account, id).await?;
        if !endpoint.enabled {
            return Err(WebhookError::EndpointDisabled);
        }
        let event = Event::new(
            account,
            EventType::WebhookTest,
            &endpoint.id,
            self.clock.now(),
        );
        self.store.record_event(&event).await?;
        Ok(event)
    }

    pub async fn deliveries(
        &self,
        account: &AccountId,
        id: &str,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> Result<Page<Delivery, DeliveryPosition>, WebhookError> {
        let endpoint = self.get(account, id).await?;
        Ok(self
            .store
            .list_deliveries(account, &endpoint.id, after, limit)
            .await?)
    }

    /// Sends a delivery again now, whatever became of it, under the same
    /// `webhook-id`; its schedule starts over.
    pub async fn retry(
        &self,
        account: &AccountId,
        id: &str,
        delivery_id: &str,
    ) -> Result<Delivery, WebhookError> {
        let endpoint = self.get(account, id).await?;
        if !endpoint.enabled {
            return Err(WebhookError::EndpointDisabled);
        }
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            if !Delivery::is_id(delivery_id) {
                return Err(WebhookError::DeliveryNotFound);
            }
            let current = self
                .store
                .delivery(account, delivery_id)
                .await?
                .filter(|d| d.endpoint_id == endpoint.id)
                .ok_or(WebhookError::DeliveryNotFound)?;
            let now = self.clock.now();
            let next = Delivery {
                status: DeliveryStatus::Pending,
                reason: None,
                next_attempt_at: Some(now),
                created_at: current.created_at,
                version: current.version + 1,
                ..current.clone()
            };
            match self.store.update_delivery(&next).await {
                Ok(()) => {
                    let job = DeliveryJob {
                        account: account.clone(),
                        delivery_id: next.id.clone(),
                        due_at: now,
                    };
                    self.queue.enqueue(&job, 0).await?;
                    return Ok(next);
                }
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(WebhookError::EndpointBusy)
    }
}

/// `Err` with the reason when `url`'s host resolves to nothing or to any
/// address the policy refuses. Every address counts: a name with one
/// public and one private address is refused.
pub async fn vet_host(
    resolver: &dyn HostResolver,
    policy: UrlPolicy,
    url: &WebhookUrl,
) -> Result<Vec<std::net::IpAddr>, String> {
    let addresses = match url.host() {
        UrlHost::Address(ip) => vec![*ip],
        UrlHost::Name(name) => resolver
            .resolve(name, url.port())
            .await
            .map_err(|_| "has a host that does not resolve".to_owned())?,
    };
    if addresses.is_empty() {
        return Err("has a host that does not resolve".into());
    }
    for ip in &addresses {
        check_address(policy, *ip)
            .map_err(|kind| format!("has a host that resolves to {}", kind.as_str()))?;
    }
    // Plain http is for a receiver on the developer's own machine only.
    if !url.is_https() && !addresses.iter().all(|ip| is_loopback(*ip)) {
        return Err(HTTP_FOR_LOOPBACK_ONLY.to_owned());
    }
    Ok(addresses)
}
