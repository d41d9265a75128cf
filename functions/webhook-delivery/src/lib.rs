//! The delivery worker: each SQS message is one delivery job. The courier
//! attempts it when due (a job that comes early waits again), records the
//! attempt and queues the retry; a job whose store step failed is reported
//! (`ReportBatchItemFailures`) so SQS hands it again (`docs/delivery.md`).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::clock::Clock;
use domain::webhooks::courier::Handled;
use domain::webhooks::url::UrlPolicy;
use domain::webhooks::{Courier, DeliveryJob};
use domain::{DeliveryQueue, WebhookSender};
use runtime_support::Platform;

/// The courier as its `main.rs` and the local API build it.
pub fn build(
    platform: &Platform,
    sender: Arc<dyn WebhookSender>,
    queue: Arc<dyn DeliveryQueue>,
    policy: UrlPolicy,
) -> Courier {
    let clock: Arc<dyn Clock> = platform.clock.clone();
    Courier::new(platform.stores.webhooks(), sender, queue, policy, clock)
}

/// One job; false when it should be handed again.
pub async fn handle_job(courier: &Courier, job: &DeliveryJob) -> bool {
    match courier.handle(job).await {
        Ok(Handled::Attempted(status)) => {
            tracing::info!(delivery = %job.delivery_id, ?status, "delivery attempted");
            true
        }
        Ok(Handled::Deferred | Handled::Skipped) => true,
        Err(err) => {
            tracing::warn!(delivery = %job.delivery_id, error = %err, "delivery job failed; it comes back");
            false
        }
    }
}

pub async fn handle(courier: &Courier, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let job: DeliveryJob = match message.body.as_deref().map(serde_json::from_str) {
            Some(Ok(job)) => job,
            _ => {
                tracing::error!(message_id = %id, "dropped a message that is not a delivery job");
                continue;
            }
        };
        if !handle_job(courier, &job).await {
            failures.push(BatchItemFailure {
                item_identifier: id,
            });
        }
    }
    SqsBatchResponse {
        batch_item_failures: failures,
    }
}
