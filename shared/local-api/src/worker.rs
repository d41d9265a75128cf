//! The local stand-in for SQS plus the worker Lambda: each chunk is handed
//! to the worker function's own handler as a one-message SQS event, up to
//! `concurrency` at a time (the template's `BatchWorkerConcurrency`). A
//! chunk the handler reports as failed is delivered again after a pause,
//! with the receive count rising, until the dead-letter limit.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use batch_worker_function::{handle, DEFAULT_MAX_RECEIVES};
use domain::batches::Chunk;
use domain::BatchService;
use tokio::sync::{mpsc, Semaphore};

/// The pause before a failed chunk comes back: the local visibility timeout.
const REDELIVERY_PAUSE: Duration = Duration::from_millis(50);
pub async fn run(
    batches: BatchService,
    mut new_chunks: mpsc::UnboundedReceiver<Chunk>,
    concurrency: usize,
) {
    let batches = Arc::new(batches);
    let workers = Arc::new(Semaphore::new(concurrency.max(1)));
    let (redeliver, mut redeliveries) = mpsc::unbounded_channel::<(Chunk, u32)>();
    loop {
        let (chunk, receives) = tokio::select! {
            Some(chunk) = new_chunks.recv() => (chunk, 1),
            Some(again) = redeliveries.recv() => again,
            else => return,
        };
        let Ok(permit) = workers.clone().acquire_owned().await else {
            return;
        };
        let (batches, redeliver) = (batches.clone(), redeliver.clone());
        tokio::spawn(async move {
            let delivered = deliver(&batches, &chunk, receives).await;
            drop(permit);
            if delivered {
                return;
            }
            if receives >= DEFAULT_MAX_RECEIVES {
                tracing::error!(batch = %chunk.batch_id, chunk = chunk.number, "chunk dead-lettered");
                return;
            }
            tokio::time::sleep(REDELIVERY_PAUSE * receives).await;
            let _ = redeliver.send((chunk, receives + 1));
        });
    }
}

/// One delivery through the worker's handler; false when it asks for another.
async fn deliver(batches: &BatchService, chunk: &Chunk, receives: u32) -> bool {
    let message = SqsMessage {
        message_id: Some(format!(
            "local-{}-{}-{receives}",
            chunk.batch_id, chunk.number
        )),
        body: Some(serde_json::to_string(chunk).expect("chunks serialize")),
        attributes: [("ApproximateReceiveCount".to_owned(), receives.to_string())].into(),
        ..Default::default()
    };
    let event = SqsEvent {
        records: vec![message],
    };
    handle(batches, event, DEFAULT_MAX_RECEIVES)
        .await
        .batch_item_failures
        .is_empty()
}
