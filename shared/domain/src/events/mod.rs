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
    /// A code was issued by `POST /devices/{serialNum}/codes` or its
    /// kin; codes a batch or a payment issues are reported by
    /// `batch.completed` and `payment.received` instead.
    #[serde(rename = "code.issued")]
    CodeIssued,
    /// Every item of a batch is settled, issued or failed.
    #[serde(rename = "batch.completed")]
    BatchCompleted,
    /// A device's active credit ends within the account's notice days.
    #[serde(rename = "device.credit_expiring")]
    CreditExpiring,
    /// A payment was taken (`POST /payments`, an M-Pesa confirmation).
    #[serde(rename = "payment.received")]
    PaymentReceived,
    /// An activation challenge was created (or replaced another).
    #[serde(rename = "challenge.created")]
    ChallengeCreated,
    /// A challenge's code was verified: one of its uses was spent.
    #[serde(rename = "challenge.verified")]
    ChallengeVerified,
    /// A license was created, by any of the three licensing APIs.
    #[serde(rename = "license.created")]
    LicenseCreated,
    /// A license was deleted; the event carries it as it was.
    #[serde(rename = "license.deleted")]
    LicenseDeleted,
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
    pub const SUBSCRIBABLE: [EventType; 9] = [
        EventType::CodeIssued,
        EventType::BatchCompleted,
        EventType::PaymentReceived,
        EventType::CreditExpiring,
        EventType::ChallengeCreated,
        EventType::ChallengeVerified,
        EventType::LicenseCreated,
        EventType::LicenseDeleted,
        EventType::WebhookDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CodeIssued => "code.issued",
            EventType::BatchCompleted => "batch.completed",
            EventType::PaymentReceived => "payment.received",
            EventType::CreditExpiring => "device.credit_expiring",
            EventType::ChallengeCreated => "challenge.created",
            EventType::ChallengeVerified => "challenge.verified",
            EventType::LicenseCreated => "license.created",
            EventType::LicenseDeleted => "license.deleted",
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
    /// `payment.received`, a batch's id for `batch.completed`, an
    /// endpoint's id for the `webhook.*` events, and the id of the code,
    /// challenge or license for the others.
    pub subject: String,
    /// The subject's stored record as JSON, as it was when the event
    /// happened, for the events whose point is that moment (a challenge at
    /// the use it reports) or whose subject is gone after them (a deleted
    /// license). Events about records that never change after them
    /// (payments) or whose present state is the news (batches, endpoints)
    /// only name their subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
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
            snapshot: None,
        }
    }

    /// The event carrying `record` as it is now (`snapshot`).
    pub fn carrying<T: Serialize>(self, record: &T) -> Self {
        Event {
            snapshot: Some(serde_json::to_string(record).expect("stored records serialize")),
            ..self
        }
    }

    /// The record a `carrying` event carries; `None` when it has
    /// none or it does not read as a `T`.
    pub fn snapshot<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.snapshot.as_deref()?).ok()
    }

    /// An event that must exist once however often it is made (a batch's
    /// completion, seen by every chunk that finishes after it): its id
    /// follows from `key`, and the store refuses a second one.
    pub fn once(
        account: &AccountId,
        event_type: EventType,
        subject: impl Into<String>,
        key: &str,
        occurred_at: Timestamp,
    ) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{}:{account}:{key}", event_type.as_str()).as_bytes());
        Event {
            id: format!("evt_{}", crate::hex::encode(&digest[..12])),
            ..Event::new(account, event_type, subject, occurred_at)
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
        let err = EventType::parse_subscribable("events[0]", "code.issud").unwrap_err();
        assert_eq!(err.field, "events[0]");
        assert!(
            err.reason
                .contains("code.issued, batch.completed, payment.received"),
            "{}",
            err.reason
        );
        assert!(EventType::parse_subscribable("e", "webhook.test").is_err());
    }

    #[test]
    fn types_serialize_as_their_names() {
        for t in EventType::SUBSCRIBABLE
            .into_iter()
            .chain([EventType::WebhookTest])
        {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            let back: EventType = serde_json::from_value(t.as_str().into()).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn an_event_made_once_has_the_same_id_however_often_and_a_snapshot_reads_back() {
        let account = AccountId::parse("acct").unwrap();
        let at = Timestamp::from_millis(1_000);
        let a = Event::once(&account, EventType::BatchCompleted, "b1", "b1", at);
        let b = Event::once(
            &account,
            EventType::BatchCompleted,
            "b1",
            "b1",
            at.plus_secs(5),
        );
        assert_eq!(a.id, b.id);
        assert_ne!(
            a.id,
            Event::once(
                &AccountId::parse("other").unwrap(),
                EventType::BatchCompleted,
                "b1",
                "b1",
                at
            )
            .id
        );
        let e = Event::new(&account, EventType::LicenseDeleted, "l1", at).carrying(&vec![1, 2]);
        assert_eq!(e.snapshot::<Vec<u32>>(), Some(vec![1, 2]));
        assert_eq!(a.snapshot::<Vec<u32>>(), None);
    }
}
