//! Getting events to endpoints. The `Dispatcher` turns one outbox event
//! into one delivery per endpoint that receives it and queues each; the
//! `Courier` makes one attempt at a queued delivery, records it, and
//! queues the next one or disables an endpoint that is gone or has been
//! failing for too long (`docs/delivery.md`).

use std::sync::Arc;
use std::time::Instant;

use rand_core::{OsRng, RngCore};

use super::port::{DeliveryQueue, OutboundRequest, SendOutcome, WebhookSender, WebhookStore};
use super::url::{UrlPolicy, WebhookUrl};
use super::{
    retry_delay_secs, signature_header, with_jitter, Attempt, Delivery, DeliveryJob,
    DeliveryStatus, Endpoint, DISABLE_AFTER_SECS,
};
use crate::batches::port::BatchStore;
use crate::batches::Batch;
use crate::challenges::Challenge;
use crate::clock::{Clock, Timestamp};
use crate::codes::CodeRecord;
use crate::devices::port::DeviceStore;
use crate::devices::{CreditNotice, CreditState, Device, SerialNumber};
use crate::events::{Event, EventType};
use crate::ids::BatchId;
use crate::licensing::License;
use crate::payments::port::PaymentStore;
use crate::payments::Payment;
use crate::store::StoreError;

/// SQS's longest message delay.
pub const MAX_QUEUE_DELAY_SECS: i64 = 900;

/// What an event is about, read when it is fanned out (or carried by the
/// event, for those with a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSubject {
    Code(Box<CodeRecord>),
    Batch(Box<Batch>),
    /// A device whose credit is about to end, and the notice's terms.
    CreditExpiring(Box<Device>, CreditNotice),
    Payment(Box<Payment>),
    Challenge(Box<Challenge>),
    License(Box<License>),
    Endpoint(Box<Endpoint>),
}

/// Renders the body an endpoint gets for an event: the API's own view of
/// the subject, which only the API types know.
pub type RenderBody = dyn Fn(&Event, &EventSubject, &Endpoint) -> String + Send + Sync;

pub struct Dispatcher {
    store: Arc<dyn WebhookStore>,
    payments: Arc<dyn PaymentStore>,
    batches: Arc<dyn BatchStore>,
    devices: Arc<dyn DeviceStore>,
    queue: Arc<dyn DeliveryQueue>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        payments: Arc<dyn PaymentStore>,
        batches: Arc<dyn BatchStore>,
        devices: Arc<dyn DeviceStore>,
        queue: Arc<dyn DeliveryQueue>,
    ) -> Self {
        Dispatcher {
            store,
            payments,
            batches,
            devices,
            queue,
        }
    }

    async fn subject(&self, event: &Event) -> Result<Option<EventSubject>, StoreError> {
        Ok(match event.event_type {
            EventType::CodeIssued => carried(event).map(|c| EventSubject::Code(Box::new(c))),
            EventType::ChallengeCreated | EventType::ChallengeVerified => {
                carried(event).map(|c| EventSubject::Challenge(Box::new(c)))
            }
            EventType::LicenseCreated | EventType::LicenseDeleted => {
                carried(event).map(|l| EventSubject::License(Box::new(l)))
            }
            EventType::CreditExpiring => {
                let (Some(notice), Ok(serial)) = (
                    carried::<CreditNotice>(event),
                    SerialNumber::parse(&event.subject),
                ) else {
                    return Ok(None);
                };
                // A device topped up (or reset) since is no longer about
                // to run out: nothing to tell.
                self.devices
                    .get_device(&event.account, &serial)
                    .await?
                    .filter(|d| {
                        d.credit.state == CreditState::Active
                            && d.credit.until == Some(notice.until)
                    })
                    .map(|d| EventSubject::CreditExpiring(Box::new(d), notice))
            }
            EventType::BatchCompleted => {
                let Some(id) = BatchId::parse(&event.subject) else {
                    return Ok(None);
                };
                self.batches
                    .get_batch(&event.account, &id)
                    .await?
                    .map(|b| EventSubject::Batch(Box::new(b)))
            }
            EventType::PaymentReceived => self
                .payments
                .find_payment(&event.account, &event.subject)
                .await?
                .map(|p| EventSubject::Payment(Box::new(p))),
            EventType::WebhookTest | EventType::WebhookDisabled => self
                .store
                .endpoint(&event.account, &event.subject)
                .await?
                .map(|e| EventSubject::Endpoint(Box::new(e))),
        })
    }

    /// Makes and queues `event`'s delivery to each endpoint that receives
    /// it; answers how many. Running it again for the same event (a
    /// repeated stream record) makes no second delivery, but queues each
    /// again, in case the first run stopped between the two.
    pub async fn dispatch(&self, event: &Event, render: &RenderBody) -> Result<usize, StoreError> {
        let Some(subject) = self.subject(event).await? else {
            tracing::warn!(event = %event.id, "the event's subject is gone or moved on; nothing to deliver");
            return Ok(0);
        };
        let endpoints = self.store.list_endpoints(&event.account).await?;
        let mut queued = 0;
        for endpoint in endpoints.iter().filter(|e| e.receives(event)) {
            let delivery = Delivery {
                id: Delivery::id_for(&event.id, &endpoint.id),
                account: event.account.clone(),
                endpoint_id: endpoint.id.clone(),
                event_id: event.id.clone(),
                event_type: event.event_type,
                body: render(event, &subject, endpoint),
                created_at: event.occurred_at,
                status: DeliveryStatus::Pending,
                reason: None,
                attempts: Vec::new(),
                next_attempt_at: Some(event.occurred_at),
                version: 1,
            };
            match self.store.create_delivery(&delivery).await {
                Ok(()) | Err(StoreError::AlreadyExists) => {}
                Err(other) => return Err(other),
            }
            let job = DeliveryJob {
                account: event.account.clone(),
                delivery_id: delivery.id.clone(),
                due_at: event.occurred_at,
            };
            self.queue.enqueue(&job, 0).await?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// The record `event` carries; a snapshot that does not read is a bug
/// worth an error line, and leaves nothing to deliver.
fn carried<T: serde::de::DeserializeOwned>(event: &Event) -> Option<T> {
    let record = event.snapshot();
    if record.is_none() {
        tracing::error!(event = %event.id, "the event's snapshot does not read");
    }
    record
}

/// What one queued job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The attempt was made and recorded, with the delivery's status after it.
    Attempted(DeliveryStatus),
    /// Not due yet: queued again to wait.
    Deferred,
    /// Nothing to do: delivered or given up already, gone, or another copy
    /// of the job recorded its attempt first.
    Skipped,
}

pub struct Courier {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    queue: Arc<dyn DeliveryQueue>,
    policy: UrlPolicy,
    clock: Arc<dyn Clock>,
}

impl Courier {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sender: Arc<dyn WebhookSender>,
        queue: Arc<dyn DeliveryQueue>,
        policy: UrlPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Courier {
            store,
            sender,
            queue,
            policy,
            clock,
        }
    }

    async fn requeue(&self, job: &DeliveryJob, due_at: Timestamp) -> Result<(), StoreError> {
        let wait = self
            .clock
            .now()
            .secs_until(due_at)
            .clamp(0, MAX_QUEUE_DELAY_SECS);
        let next = DeliveryJob {
            due_at,
            ..job.clone()
        };
        self.queue
            .enqueue(&next, u32::try_from(wait).unwrap_or(0))
            .await
    }

    /// Handles one job: attempts the delivery if it is due, records the
    /// attempt, and queues what follows. An error means nothing after the
    /// failing step happened, and the job should come back.
    pub async fn handle(&self, job: &DeliveryJob) -> Result<Handled, StoreError> {
        let Some(delivery) = self.store.delivery(&job.account, &job.delivery_id).await? else {
            return Ok(Handled::Skipped);
        };
        if delivery.status != DeliveryStatus::Pending {
            return Ok(Handled::Skipped);
        }
        let now = self.clock.now();
        if let Some(due) = delivery.next_attempt_at.filter(|due| *due > now) {
            self.requeue(job, due).await?;
            return Ok(Handled::Deferred);
        }
        let endpoint = self
            .store
            .endpoint(&delivery.account, &delivery.endpoint_id)
            .await?;
        let endpoint = match endpoint {
            Some(endpoint) if endpoint.enabled => endpoint,
            Some(_) => return self.give_up(&delivery, "the endpoint is disabled").await,
            None => return self.give_up(&delivery, "the endpoint was deleted").await,
        };
        let (outcome, latency_ms) = self.send(&endpoint, &delivery, now).await;
        let next = self.after_attempt(&delivery, &outcome, latency_ms, now);
        match self.store.update_delivery(&next).await {
            Ok(()) => {}
            // Another copy of this job recorded an attempt first.
            Err(StoreError::Conflict) => return Ok(Handled::Skipped),
            Err(other) => return Err(other),
        }
        self.update_endpoint(&endpoint, &outcome, now).await?;
        if let Some(due) = next
            .next_attempt_at
            .filter(|_| next.status == DeliveryStatus::Pending)
        {
            self.requeue(job, due).await?;
        }
        Ok(Handled::Attempted(next.status))
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        now: Timestamp,
    ) -> (SendOutcome, u64) {
        let started = Instant::now();
        let url = match WebhookUrl::parse("url", &endpoint.url, self.policy) {
            Ok(url) => url,
            Err(err) => return (SendOutcome::Failed(format!("the URL {}", err.reason)), 0),
        };
        let timestamp = now.secs();
        let request = OutboundRequest {
            url,
            headers: vec![
                ("content-type", "application/json".to_owned()),
                ("webhook-id", delivery.event_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                (
                    "webhook-signature",
                    signature_header(
                        &endpoint.signing_secrets(now),
                        &delivery.event_id,
                        timestamp,
                        &delivery.body,
                    ),
                ),
            ],
            body: delivery.body.clone(),
        };
        let outcome = self.sender.send(&request).await;
        let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        (outcome, latency)
    }

    /// The delivery with this attempt recorded and its next step decided.
    fn after_attempt(
        &self,
        delivery: &Delivery,
        outcome: &SendOutcome,
        latency_ms: u64,
        now: Timestamp,
    ) -> Delivery {
        let mut next = delivery.clone();
        next.version += 1;
        let (status_code, error) = match outcome {
            SendOutcome::Answered(code) => (Some(*code), None),
            SendOutcome::Failed(reason) => (None, Some(reason.clone())),
        };
        let attempt_number = u32::try_from(delivery.attempts.len() + 1).unwrap_or(u32::MAX);
        let mut next_retry_at = None;
        match status_code {
            Some(200..=299) => {
                next.status = DeliveryStatus::Delivered;
                next.next_attempt_at = None;
            }
            Some(410) => {
                next.status = DeliveryStatus::Failed;
                next.reason = Some("the endpoint answered 410 Gone and was disabled".into());
                next.next_attempt_at = None;
            }
            _ => {
                let delay = with_jitter(retry_delay_secs(attempt_number), OsRng.next_u32());
                let due = now.plus_secs(delay);
                // The attempt that ends five days of trying is the last;
                // it is also the one that disables an endpoint failing
                // all along.
                if delivery.created_at.secs_until(now) >= DISABLE_AFTER_SECS {
                    next.status = DeliveryStatus::Failed;
                    next.reason = Some("failed for as long as retries last".into());
                    next.next_attempt_at = None;
                } else {
                    next.next_attempt_at = Some(due);
                    next_retry_at = Some(due);
                }
            }
        }
        next.attempts.push(Attempt {
            at: now,
            status_code,
            error,
            latency_ms,
            next_retry_at,
        });
        next
    }

    /// Keeps the endpoint's failure streak: a delivered attempt ends it, a
    /// failed one starts or extends it, and one that reaches five days, or
    /// a 410, disables the endpoint with a `webhook.disabled` event.
    async fn update_endpoint(
        &self,
        endpoint: &Endpoint,
        outcome: &SendOutcome,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut current = endpoint.clone();
        for _ in 0..5 {
            // Disabled meanwhile (by the account, or another attempt's
            // 410): its streak no longer matters.
            if !current.enabled {
                return Ok(());
            }
            let mut next = current.clone();
            match outcome {
                SendOutcome::Answered(200..=299) => {
                    if current.failing_since.is_none() {
                        return Ok(());
                    }
                    next.failing_since = None;
                }
                SendOutcome::Answered(410) => {
                    next.enabled = false;
                    next.disabled_reason = Some("the endpoint answered 410 Gone".into());
                }
                _ => {
                    let since = current.failing_since.unwrap_or(now);
                    next.failing_since = Some(since);
                    if since.secs_until(now) >= DISABLE_AFTER_SECS {
                        next.enabled = false;
                        next.disabled_reason = Some("failed for five days in a row".into());
                    } else if current.failing_since.is_some() {
                        return Ok(());
                    }
                }
            }
            let event = (!next.enabled).then(|| {
                Event::new(
                    &current.account,
                    EventType::WebhookDisabled,
                    &current.id,
                    now,
                )
            });
            next.version = current.version + 1;
            next.updated_at = now;
            match self.store.update_endpoint(&next, event.as_ref()).await {
                Ok(()) => {
                    if let Some(reason) = next.disabled_reason.as_deref().filter(|_| !next.enabled)
                    {
                        tracing::warn!(endpoint = %next.id, reason, "webhook endpoint disabled");
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict) => {
                    match self.store.endpoint(&current.account, &current.id).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(()),
                    }
                }
                Err(StoreError::NotFound) => return Ok(()),
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    async fn give_up(&self, delivery: &Delivery, reason: &str) -> Result<Handled, StoreError> {
        let next = Delivery {
            status: DeliveryStatus::Failed,
            reason: Some(reason.to_owned()),
            next_attempt_at: None,
            version: delivery.version + 1,
            ..delivery.clone()
        };
        match self.store.update_delivery(&next).await {
            Ok(()) => Ok(Handled::Attempted(DeliveryStatus::Failed)),
            Err(StoreError::Conflict) => Ok(Handled::Skipped),
            Err(other) => Err(other),
        }
    }
}
