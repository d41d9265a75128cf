//! The chunk queue and the webhook delivery queue on SQS (feature `sqs`).

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use domain::batches::Chunk;
use domain::webhooks::DeliveryJob;
use domain::{ChunkQueue, DeliveryQueue, StoreError};

/// SQS's limit on entries per `SendMessageBatch`.
const SQS_BATCH_LIMIT: usize = 10;

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl ChunkQueue for SqsQueue {
    async fn send(&self, chunks: &[Chunk]) -> Result<(), StoreError> {
        for group in chunks.chunks(SQS_BATCH_LIMIT) {
            let entries = group
                .iter()
                .enumerate()
                .map(|(i, chunk)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(chunk).expect("chunks serialize"))
                        .build()
                        .expect("entry has id and body")
                })
                .collect();
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    StoreError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            if let Some(failed) = output.failed.first() {
                return Err(StoreError::Unavailable(format!(
                    "SQS refused {} chunk(s): {}",
                    output.failed.len(),
                    failed.message.as_deref().unwrap_or(&failed.code)
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DeliveryQueue for SqsQueue {
    async fn enqueue(&self, job: &DeliveryJob, delay_secs: u32) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(job).expect("jobs serialize"))
            .delay_seconds(i32::try_from(delay_secs.min(900)).unwrap_or(900))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                StoreError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })
    }
}

/// Builds the SQS client for an endpoint: a local SQS-compatible server
/// with dummy credentials, or `None` for AWS; each call within `budget`.
pub async fn sqs_client(endpoint: Option<&str>, budget: crate::StoreBudget) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&crate::aws_config_for(endpoint, budget).await)
}
