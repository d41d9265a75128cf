//! The dispatcher: each outbox item the table's stream carries becomes one
//! delivery per endpoint that receives it, queued for the delivery worker.
//! A record that fails is reported (`ReportBatchItemFailures`), and the
//! stream hands it and everything after it again, so no event is lost; a
//! record handed twice makes no second delivery (`docs/delivery.md`).

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use domain::events::Event;
use domain::webhooks::Dispatcher;
use domain::{DeliveryQueue, StoreError};
use runtime_support::Platform;

/// The dispatcher as its `main.rs` and the local API build it.
pub fn build(platform: &Platform, queue: Arc<dyn DeliveryQueue>) -> Dispatcher {
    Dispatcher::new(
        platform.stores.webhooks(),
        platform.stores.payments(),
        platform.stores.batches(),
        platform.stores.devices(),
        queue,
    )
}

/// Dispatches `events` in order; on a failure, the index of the event it
/// stopped at, which must be handed again with all after it.
pub async fn dispatch_all(
    dispatcher: &Dispatcher,
    events: &[Event],
) -> Result<usize, (usize, StoreError)> {
    let mut queued = 0;
    for (index, event) in events.iter().enumerate() {
        match dispatcher
            .dispatch(event, &api_types::webhooks::event_body)
            .await
        {
            Ok(n) => {
                tracing::info!(event = %event.id, r#type = event.event_type.as_str(), deliveries = n, "event dispatched");
                queued += n;
            }
            Err(err) => return Err((index, err)),
        }
    }
    Ok(queued)
}

/// One batch of stream records, as Lambda hands it.
pub async fn handle(dispatcher: &Dispatcher, batch: StreamEvent) -> DynamoDbEventResponse {
    let mut events = Vec::new();
    let mut sequence_numbers = Vec::new();
    for record in batch.records {
        match storage::dynamo::event_of_image(record.change.new_image) {
            Ok(Some(event)) => {
                events.push(event);
                sequence_numbers.push(record.change.sequence_number);
            }
            // The filter lets only outbox items through; anything else is
            // not ours to deliver.
            Ok(None) => {}
            Err(err) => {
                tracing::error!(error = %err, "dropped a stream record that is not a readable event");
            }
        }
    }
    let failures = match dispatch_all(dispatcher, &events).await {
        Ok(_) => Vec::new(),
        Err((index, err)) => {
            tracing::warn!(error = %err, "dispatch stopped; the stream hands the rest again");
            vec![DynamoDbBatchItemFailure {
                item_identifier: sequence_numbers[index].clone(),
            }]
        }
    };
    DynamoDbEventResponse {
        batch_item_failures: failures,
    }
}
