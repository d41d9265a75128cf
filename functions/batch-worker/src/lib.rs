//! The batch worker: each SQS message is one chunk of a batch. Chunks that
//! could not finish are reported back (`ReportBatchItemFailures`) so SQS
//! delivers them again; on the last delivery before the dead-letter queue
//! the chunk's remaining items are marked failed.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::batches::{Chunk, ChunkOutcome};
use domain::BatchService;
use runtime_support::Platform;
use storage::MemoryQueue;

/// Must equal the queue's `maxReceiveCount` in `template.yaml`.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// How many worker instances SQS runs at once: the default of the
/// template's `BatchWorkerConcurrency`, which the local worker follows.
/// The arithmetic that chose it is in `docs/scale.md`.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The worker's service, as its `main.rs` and the local API build it. It
/// only processes chunks, so it queues nowhere.
pub fn build(platform: &Platform) -> BatchService {
    BatchService::new(
        platform.stores.batches(),
        Arc::new(MemoryQueue::closed()),
        platform.codes_service(),
        platform.clock.clone(),
    )
}

pub async fn handle(
    batches: &BatchService,
    event: SqsEvent,
    max_receives: u32,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let chunk: Chunk = match message.body.as_deref().map(serde_json::from_str) {
            Some(Ok(chunk)) => chunk,
            _ => {
                // Not a chunk of ours: retrying cannot help; let it go.
                tracing::error!(message_id = %id, "dropped a message that is not a chunk");
                continue;
            }
        };
        let receives: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let final_attempt = receives >= max_receives;
        match batches.process_chunk(&chunk, final_attempt).await {
            ChunkOutcome::Finished { items } => {
                tracing::info!(batch = %chunk.batch_id, chunk = chunk.number, items, "chunk finished");
                runtime_support::metrics::record(
                    runtime_support::metrics::Metric::BatchItemsProcessed,
                    items as u64,
                );
            }
            ChunkOutcome::Retry(reason) => {
                tracing::warn!(batch = %chunk.batch_id, chunk = chunk.number, receives, %reason, "chunk will be delivered again");
                failures.push(BatchItemFailure {
                    item_identifier: id,
                });
            }
        }
    }
    SqsBatchResponse {
        batch_item_failures: failures,
    }
}
