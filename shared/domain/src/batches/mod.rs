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
use crate::codes::{CodeOrder, CodesError, CodesService};
use crate::field::FieldError;
use crate::idempotency::{IdempotencyKey, KEY_TTL_SECS};
use crate::ids::BatchId;
use crate::paging::{page_limit, Page};
use crate::store::StoreError;
use port::{BatchStore, ChunkQueue};

/// The most items one batch may hold.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// Items per queued chunk: one SQS message, well under its 256 KiB.
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
}

impl Batch {
    pub fn status(&self) -> BatchStatus {
        let finished = self.done + self.failed;
        if finished == 0 {
            BatchStatus::Pending
        } else if finished < self.total {
            BatchStatus::Running
        } else if self.failed == 0 {
            BatchStatus::Completed
        } else if self.done == 0 {
            BatchStatus::Failed
        } else {
            BatchStatus::CompletedWithErrors
        }
    }

    pub fn chunks(&self) -> Vec<Chunk> {
        (0..self.total)
            .step_by(CHUNK_SIZE as usize)
            .map(|first| Chunk {
                account: self.account.clone(),
                batch_id: self.id.clone(),
                first,
                count: CHUNK_SIZE.min(self.total - first),
            })
            .collect()
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

/// A slice of a batch's items: one queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    pub batch_id: BatchId,
    pub first: u32,
    pub count: u32,
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
    /// Every item is done or failed for good.
    Finished,
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
