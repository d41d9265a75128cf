//! Batch code generation: `POST /batch` stores a batch and its items and
//! queues them in chunks; a worker issues each item's code exactly once,
//! however often a chunk is delivered.

pub mod port;
mod service;

pub use service::*;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
pub use crate::codes::BatchItemRef;
use crate::codes::{CodeOrder, CodesError, CodesService, MAX_RUN};
use crate::devices::SerialNumber;
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::idempotency::{IdempotencyKey, KEY_TTL_SECS};
use crate::ids::BatchId;
use crate::paging::{page_limit, Page};
use crate::store::StoreError;
use port::{BatchStore, ChunkQueue};

/// The most items one batch may hold.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// Items per queued chunk, unless one device has more: one SQS message,
/// well under its 256 KiB even when a chunk holds a whole batch.
pub const CHUNK_SIZE: u32 = 100;
/// How many invalid items a 400 lists before it stops counting out loud.
pub const MAX_LISTED_ERRORS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the batch must hold 1-{MAX_BATCH_ITEMS} items")]
    WrongSize,
    #[error("{} item(s) are invalid", .0.len())]
    InvalidItems(Vec<ItemError>),
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    #[error("no batch with this id")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<FieldError> for BatchError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        BatchError::InvalidField { field, reason }
    }
}

/// Why one item of a `POST /batch` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    pub index: usize,
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Pending,
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
}

/// A batch as stored; `done` and `failed` move with each item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub id: BatchId,
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    pub total: u32,
    pub done: u32,
    pub failed: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The caller's `Idempotency-Key`, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A digest of the request body, to tell a retry from a reuse of the key.
    pub request_digest: String,
    /// How many chunks its items were cut into (`plan_chunks`).
    #[serde(default)]
    pub chunks: u32,
}

impl Batch {
    /// Whether every item is settled, issued or failed.
    pub fn is_finished(&self) -> bool {
        self.done + self.failed >= self.total
    }

    /// The `batch.completed` event: one per batch, whenever it is made.
    pub fn completed_event(&self, at: Timestamp) -> Event {
        let id = self.id.to_string();
        Event::once(&self.account, EventType::BatchCompleted, &id, &id, at)
    }

    pub fn status(&self) -> BatchStatus {
        let finished = self.done + self.failed;
        if finished == 0 {
            BatchStatus::Pending
        } else if !self.is_finished() {
            BatchStatus::Running
        } else if self.failed == 0 {
            BatchStatus::Completed
        } else if self.done == 0 {
            BatchStatus::Failed
        } else {
            BatchStatus::CompletedWithErrors
        }
    }

    pub fn position(&self) -> BatchPosition {
        BatchPosition {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

/// Where a batch sits in creation order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchPosition {
    pub created_at: Timestamp,
    pub id: BatchId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    #[serde(rename_all = "camelCase")]
    Done {
        code_id: String,
        code: String,
        count: u32,
    },
    Failed {
        reason: String,
    },
}

/// One requested code of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub item: BatchItemRef,
    pub order: CodeOrder,
    pub state: ItemState,
}

/// A share of a batch's items: one queue message. The worker reads the
/// chunk's items from the store by its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    pub batch_id: BatchId,
    /// Its number in the batch, which keys its orders, results and counts.
    #[serde(rename = "chunk")]
    pub number: u32,
}

/// Where an item is worked: its chunk, and its run within the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub chunk: u32,
    pub run: u32,
}

/// Each item's chunk and run. The items are grouped by device (sorted by
/// serial), and whole devices are packed into chunks of up to `CHUNK_SIZE`
/// items; a device with more items than that has a chunk of its own. So no
/// two chunks of a batch share a device: chunks worked at once never race
/// on one. Within a chunk each device's items, in index order, are cut into
/// runs of up to `MAX_RUN`, numbered in chunk order: a run is settled in one
/// atomic step, and which items make it up never depends on what happened
/// to them, so a redelivered chunk finds the same runs (`docs/batch.md`).
pub fn plan_chunks(orders: &[CodeOrder]) -> Vec<Placement> {
    let mut indices: Vec<usize> = (0..orders.len()).collect();
    let mut placement = vec![Placement { chunk: 0, run: 0 }; orders.len()];
    let (mut chunk, mut in_chunk, mut run) = (0u32, 0usize, 0u32);
    for device in by_device(&mut indices, |&i| &orders[i].serial) {
        if in_chunk > 0 && in_chunk + device.len() > CHUNK_SIZE as usize {
            chunk += 1;
            in_chunk = 0;
            run = 0;
        }
        for items in device.chunks(MAX_RUN) {
            for &index in items {
                placement[index] = Placement { chunk, run };
            }
            run += 1;
        }
        in_chunk += device.len();
    }
    placement
}

/// `items` sorted by device, keeping their order within one device, and
/// cut into one slice per device.
fn by_device<'a, 's, T>(
    items: &'a mut [T],
    serial: impl Fn(&T) -> &'s SerialNumber,
) -> impl Iterator<Item = &'a [T]> {
    items.sort_by(|a, b| serial(a).cmp(serial(b)));
    items.chunk_by(move |a, b| serial(a) == serial(b))
}

/// The queue messages of `batch`: one per chunk, in chunk order.
pub fn chunks_of(batch: &Batch) -> Vec<Chunk> {
    (0..batch.chunks)
        .map(|number| Chunk {
            account: batch.account.clone(),
            batch_id: batch.id.clone(),
            number,
        })
        .collect()
}

/// `GET /batch/{id}`: the batch and one page of its items, in item order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPage {
    pub batch: Batch,
    pub items: Vec<BatchItem>,
    pub next_cursor: Option<String>,
}

/// What became of a chunk when the worker was done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Every item of the chunk, of which it holds `items`, is done or
    /// failed for good.
    Finished { items: usize },
    /// A transient failure; deliver the chunk again.
    Retry(String),
}

impl From<crate::idempotency::IdempotencyError> for BatchError {
    fn from(err: crate::idempotency::IdempotencyError) -> Self {
        BatchError::InvalidField {
            field: "Idempotency-Key".into(),
            reason: err.to_string(),
        }
    }
}
