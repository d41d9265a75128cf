//! The local stand-in for SQS plus the worker Lambda: each chunk is handed
//! to the worker function's own handler as a one-message SQS event, and a
//! chunk it reports as failed is delivered again after a pause, with the
//! receive count rising, until the dead-letter limit.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use batch_worker_function::{handle, DEFAULT_MAX_RECEIVES};
use domain::batches::Chunk;
use domain::BatchService;
use tokio::sync::mpsc;

/// The pause before a failed chunk comes back: the local visibility timeout.
const REDELIVERY_PAUSE: Duration = Duration::from_millis(50);

pub async fn run(batches: BatchService, mut new_chunks: mpsc::UnboundedReceiver<Chunk>) {
    let (redeliver, mut redeliveries) = mpsc::unbounded_channel::<(Chunk, u32)>();
    loop {
        let (chunk, receives) = tokio::select! {
            Some(chunk) = new_chunks.recv() => (chunk, 1),
            Some(again) = redeliveries.recv() => again,
            else => return,
        };
        let body = serde_json::to_string(&chunk).expect("chunks serialize");
        let message = SqsMessage {
            message_id: Some(format!(
                "local-{}-{}-{receives}",
                chunk.batch_id, chunk.first
            )),
            body: Some(body),
            attributes: [("ApproximateReceiveCount".to_owned(), receives.to_string())].into(),
            ..Default::default()
        };
        let event = SqsEvent {
            records: vec![message],
        };
        let response = handle(&batches, event, DEFAULT_MAX_RECEIVES).await;
        if response.batch_item_failures.is_empty() {
            continue;
        }
        if receives >= DEFAULT_MAX_RECEIVES {
            tracing::error!(batch = %chunk.batch_id, first = chunk.first, "chunk dead-lettered");
            continue;
        }
        let redeliver = redeliver.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REDELIVERY_PAUSE * receives).await;
            let _ = redeliver.send((chunk, receives + 1));
        });
    }
}
