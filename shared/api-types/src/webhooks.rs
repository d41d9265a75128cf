//! Webhook endpoints and deliveries (`/webhooks`, camelCase), and the body
//! each event is delivered with: `{"type", "timestamp", "data"}`, as the
//! Standard Webhooks specification suggests, where `data` is this API's
//! own view of the subject (`docs/delivery.md`).

use domain::clock::Timestamp;
use domain::events::{Event, EventType};
use domain::field::FieldError;
use domain::paging::Page;
use domain::webhooks::courier::EventSubject;
use domain::webhooks::service::{parse_description, parse_events, EndpointPatch, NewEndpoint};
use domain::webhooks::{Attempt, Delivery, DeliveryPosition, DeliveryStatus, Endpoint};
use serde::{Deserialize, Serialize};

use crate::biolite::batch::BatchView;
use crate::biolite::codes::CodeView;
use crate::biolite::devices::DeviceView;
use crate::biolite::payments::PaymentOutcome;
use crate::licensing::amino::LicenseView;
use crate::solaris::ChallengeView;

/// `POST /webhooks`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEndpointBody {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub include_codes: Option<bool>,
}

impl NewEndpointBody {
    pub fn into_command(self) -> Result<NewEndpoint, FieldError> {
        Ok(NewEndpoint {
            events: parse_events("events", &self.events)?,
            description: parse_description(self.description.as_deref().unwrap_or(""))?,
            include_codes: self.include_codes.unwrap_or(false),
            url: self.url,
        })
    }
}

/// `PATCH /webhooks/{id}`: each field given replaces the endpoint's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatchBody {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub include_codes: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub rotate_secret: Option<bool>,
}

impl EndpointPatchBody {
    pub fn into_patch(self) -> Result<EndpointPatch, FieldError> {
        Ok(EndpointPatch {
            url: self.url,
            events: self
                .events
                .map(|names| parse_events("events", &names))
                .transpose()?,
            description: self
                .description
                .map(|text| parse_description(&text))
                .transpose()?,
            include_codes: self.include_codes,
            enabled: self.enabled,
            rotate_secret: self.rotate_secret.unwrap_or(false),
        })
    }
}

/// An endpoint as the API shows it: never its secrets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub include_codes: bool,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<Timestamp>,
    /// Until when the secret a rotation replaced still signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&Endpoint> for EndpointView {
    fn from(e: &Endpoint) -> Self {
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            include_codes: e.include_codes,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            previous_secret_valid_until: e.previous_secret.as_ref().map(|p| p.valid_until),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// The answer of a create, and of a patch that rotated the secret: the
/// only two answers that show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    pub secret: String,
}

impl EndpointWithSecret {
    pub fn of(endpoint: &Endpoint) -> Self {
        EndpointWithSecret {
            endpoint: EndpointView::from(endpoint),
            secret: endpoint.secret.reveal(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointListing {
    pub endpoints: Vec<EndpointView>,
}

impl EndpointListing {
    pub fn new(endpoints: &[Endpoint]) -> Self {
        EndpointListing {
            endpoints: endpoints.iter().map(EndpointView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` every attempt carried.
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_at: Option<Timestamp>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        AttemptView {
            at: a.at,
            status_code: a.status_code,
            error: a.error.clone(),
            latency_ms: a.latency_ms,
            next_retry_at: a.next_retry_at,
        }
    }
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type,
            status: d.status,
            reason: d.reason.clone(),
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            attempts: d.attempts.iter().map(AttemptView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryListing {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

impl From<Page<Delivery, DeliveryPosition>> for DeliveryListing {
    fn from(page: Page<Delivery, DeliveryPosition>) -> Self {
        DeliveryListing {
            deliveries: page.items.iter().map(DeliveryView::from).collect(),
            next_cursor: page.next.as_ref().map(DeliveryPosition::to_cursor),
        }
    }
}

/// The answer of `POST /webhooks/{id}/test`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestEventSent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
}

#[derive(Serialize)]
struct EventBody<'a, T: Serialize> {
    #[serde(rename = "type")]
    event_type: EventType,
    timestamp: Timestamp,
    data: &'a T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointEventData {
    endpoint: EndpointView,
}

/// Where `GET /batch/{id}` is, for the batch view's `statusUrl` (the
/// routes table, which this crate cannot see, is checked against it).
pub const BATCH_STATUS_PATH: &str = "/batch/{id}";

/// The body `endpoint` gets for `event`: `data` holds the subject's view
/// under its name (`code`, `batch`, `payment`, `challenge`, `license`,
/// `endpoint`), except a payment, whose view is `data` itself, and a
/// credit notice, `{"device", "until", "days"}`. A code, a
/// challenge's code and a license key are left out unless the endpoint
/// opted in with `includeCodes`.
pub fn event_body(event: &Event, subject: &EventSubject, endpoint: &Endpoint) -> String {
    let named = |name: &str, view: serde_json::Value, secret: Option<&str>| {
        let mut view = view;
        if let (Some(secret), false) = (secret, endpoint.include_codes) {
            if let Some(fields) = view.as_object_mut() {
                fields.remove(secret);
            }
        }
        serde_json::json!({ name: view })
    };
    let data = match subject {
        EventSubject::Payment(payment) => {
            let mut outcome = PaymentOutcome::from(payment.as_ref());
            if !endpoint.include_codes {
                outcome.code = None;
            }
            to_value(&outcome)
        }
        EventSubject::Code(code) => named(
            "code",
            to_value(&CodeView::from(code.as_ref())),
            Some("code"),
        ),
        EventSubject::CreditExpiring(device, notice) => serde_json::json!({
            "device": to_value(&DeviceView::from(device.as_ref())),
            "until": notice.until,
            "days": notice.days,
        }),
        EventSubject::Batch(batch) => named(
            "batch",
            to_value(&BatchView::new(batch, BATCH_STATUS_PATH)),
            None,
        ),
        EventSubject::Challenge(challenge) => named(
            "challenge",
            to_value(&ChallengeView::from(challenge.as_ref())),
            Some("code"),
        ),
        EventSubject::License(license) => named(
            "license",
            to_value(&LicenseView::new(license, event.occurred_at)),
            Some("key"),
        ),
        EventSubject::Endpoint(subject) => to_value(&EndpointEventData {
            endpoint: EndpointView::from(subject.as_ref()),
        }),
    };
    serde_json::to_string(&EventBody {
        event_type: event.event_type,
        timestamp: event.occurred_at,
        data: &data,
    })
    .expect("event bodies serialize")
}

fn to_value<T: Serialize>(view: &T) -> serde_json::Value {
    serde_json::to_value(view).expect("views serialize")
}
