//! The ports webhooks need: the store of endpoints, deliveries and the
//! events they raise, the delivery queue, host resolution and the
//! outbound HTTP client.

use std::net::IpAddr;

use async_trait::async_trait;

use super::url::WebhookUrl;
use super::{Delivery, DeliveryJob, DeliveryPosition, Endpoint};
use crate::clients::AccountId;
use crate::events::Event;
use crate::paging::Page;
use crate::store::StoreError;

/// What creating an endpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointCreated {
    Created,
    /// The account already has the most endpoints allowed; nothing written.
    LimitReached,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint, on condition that the account has fewer than
    /// `max` (counted by a conditional counter, so racing creates never
    /// pass it).
    async fn create_endpoint(
        &self,
        endpoint: &Endpoint,
        max: usize,
    ) -> Result<EndpointCreated, StoreError>;

    async fn endpoint(&self, account: &AccountId, id: &str)
        -> Result<Option<Endpoint>, StoreError>;

    /// The account's endpoints, oldest first.
    async fn list_endpoints(&self, account: &AccountId) -> Result<Vec<Endpoint>, StoreError>;

    /// Replaces the endpoint with `next`, on condition that the stored one
    /// is at `next.version - 1`; `Conflict` when it moved, `NotFound` when
    /// it is gone. With `event`, the event is written in the same step.
    async fn update_endpoint(
        &self,
        next: &Endpoint,
        event: Option<&Event>,
    ) -> Result<(), StoreError>;

    /// Deletes the endpoint and frees its place under the limit;
    /// `NotFound` when there is none. Its deliveries stay until they expire.
    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> Result<(), StoreError>;

    /// Writes an event that reports no other change (`webhook.test`,
    /// `device.credit_expiring`); `AlreadyExists` when one has its id, so
    /// an event made once (`Event::once`) is written once.
    async fn record_event(&self, event: &Event) -> Result<(), StoreError>;

    /// Stores a new delivery; `AlreadyExists` when one has its id.
    async fn create_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;

    async fn delivery(&self, account: &AccountId, id: &str)
        -> Result<Option<Delivery>, StoreError>;

    /// Replaces the delivery with `next`, on condition that the stored one
    /// is at `next.version - 1`; `Conflict` otherwise.
    async fn update_delivery(&self, next: &Delivery) -> Result<(), StoreError>;

    /// An endpoint's deliveries, newest first, after `after`.
    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint_id: &str,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> Result<Page<Delivery, DeliveryPosition>, StoreError>;
}

/// Where deliveries wait for their attempt.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Queues `job`, to be handed out no sooner than `delay_secs` from now
    /// (at most 900, SQS's limit; a later job comes back early and waits
    /// again).
    async fn enqueue(&self, job: &DeliveryJob, delay_secs: u32) -> Result<(), StoreError>;
}

/// Resolves a host name to the addresses a connection would use.
#[async_trait]
pub trait HostResolver: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String>;
}

/// One signed request to an endpoint.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: WebhookUrl,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// What came of sending one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer: the address was refused, the connection failed, or the
    /// receiver took too long. The reason names which, never the secret.
    Failed(String),
}

/// Sends webhook requests. The adapter resolves the host itself, checks
/// every address it got against the URL policy, connects only to an
/// address that passed, follows no redirect, waits at most
/// `ATTEMPT_TIMEOUT_SECS` and reads at most `MAX_RESPONSE_BYTES`.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: &OutboundRequest) -> SendOutcome;
}
