//! The outbox's vocabulary: what happened, to which account, and what it
//! names. An event is written in the same transaction as the change it
//! reports, so it exists exactly when the change does; it names its subject
//! (a payment's reference, an endpoint's id) rather than copying it, since
//! the subjects it names never change after the event (`docs/delivery.md`).

use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::field::FieldError;
use crate::random::random_hex;

/// The kinds of event the platform emits today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A payment was taken (`POST /payments`, an M-Pesa confirmation).
    #[serde(rename = "payment.received")]
    PaymentReceived,
    /// `POST /webhooks/{id}/test`: goes to that endpoint only.
    #[serde(rename = "webhook.test")]
    WebhookTest,
    /// An endpoint was disabled by the platform (it answered 410, or it
    /// failed for five days in a row).
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
}

impl EventType {
    /// The types an endpoint may subscribe to; `webhook.test` reaches the
    /// endpoint it is sent to whatever it subscribes to.
    pub const SUBSCRIBABLE: [EventType; 2] =
        [EventType::PaymentReceived, EventType::WebhookDisabled];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentReceived => "payment.received",
            EventType::WebhookTest => "webhook.test",
            EventType::WebhookDisabled => "webhook.disabled",
        }
    }

    /// A subscribable type by name; the error lists the supported ones.
    pub fn parse_subscribable(field: &str, text: &str) -> Result<Self, FieldError> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = EventType::SUBSCRIBABLE.iter().map(|t| t.as_str()).collect();
                FieldError::new(
                    field,
                    format!(
                        "is not an event this platform emits; it emits {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// One outbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `evt_` and 24 hex digits; the `webhook-id` of every delivery of it.
    pub id: String,
    pub account: AccountId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub occurred_at: Timestamp,
    /// What the event is about: a payment's reference for
    /// `payment.received`, an endpoint's id for the `webhook.*` events.
    pub subject: String,
}

impl Event {
    pub fn new(
        account: &AccountId,
        event_type: EventType,
        subject: impl Into<String>,
        occurred_at: Timestamp,
    ) -> Self {
        Event {
            id: format!("evt_{}", random_hex(12)),
            account: account.clone(),
            event_type,
            occurred_at,
            subject: subject.into(),
        }
    }
}

/// How long an outbox item is kept after its event: longer than the
/// 24 hours a DynamoDB stream keeps a record, so the item outlives its
/// dispatch by a wide margin (`docs/delivery.md`).
pub const OUTBOX_RETENTION_SECS: i64 = 7 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_emitted_types_can_be_subscribed_and_the_error_names_them() {
        assert_eq!(
            EventType::parse_subscribable("events[0]", "payment.received").unwrap(),
            EventType::PaymentReceived
        );
        let err = EventType::parse_subscribable("events[0]", "code.issued").unwrap_err();
        assert_eq!(err.field, "events[0]");
        assert!(
            err.reason.contains("payment.received, webhook.disabled"),
            "{}",
            err.reason
        );
        assert!(EventType::parse_subscribable("e", "webhook.test").is_err());
    }

    #[test]
    fn types_serialize_as_their_names() {
        for t in [
            EventType::PaymentReceived,
            EventType::WebhookTest,
            EventType::WebhookDisabled,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
