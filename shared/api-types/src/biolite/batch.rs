//! `POST /batch`, `GET /batch` and `GET /batch/{id}` (JSON or CSV): the
//! batch request and what the API shows of a batch and its items.

use domain::batches::{
    batch_cursor, check_size, Batch, BatchError, BatchItem, BatchPage, BatchPosition, BatchStatus,
    ItemError, ItemState, MAX_LISTED_ERRORS,
};
use domain::clock::Timestamp;
use domain::codes::{CodeOrder, CodesError};
use domain::paging::Page;
use serde::{Deserialize, Serialize};

use super::codes::CodeRequest;

/// The body of `POST /batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub items: Vec<CodeRequest>,
}

/// `GET /batch/{id}` parameters: a page of results, or `format=csv` for all.
#[derive(Debug, Default, Deserialize)]
pub struct BatchDetailParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub format: Option<String>,
}

impl BatchRequest {
    /// Every item validated, or every invalid item named (up to
    /// `MAX_LISTED_ERRORS` field errors).
    pub fn into_orders(self) -> Result<Vec<CodeOrder>, BatchError> {
        check_size(self.items.len())?;
        let mut orders = Vec::with_capacity(self.items.len());
        let mut errors = Vec::new();
        for (index, item) in self.items.iter().enumerate() {
            match item.validate() {
                Ok(order) => orders.push(order),
                Err(CodesError::InvalidField { field, reason }) => {
                    if errors.len() < MAX_LISTED_ERRORS {
                        errors.push(ItemError {
                            index,
                            field,
                            reason,
                        });
                    }
                }
                Err(other) => {
                    errors.push(ItemError {
                        index,
                        field: String::new(),
                        reason: other.to_string(),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(orders)
        } else {
            Err(BatchError::InvalidItems(errors))
        }
    }
}

/// What the API shows of a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub id: String,
    pub status: BatchStatus,
    pub total: u32,
    pub done: u32,
    pub failed: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub status_url: String,
}

impl BatchView {
    /// `status_path` is the route of `GET /batch/{id}`, `{id}` in place.
    pub fn new(batch: &Batch, status_path: &str) -> Self {
        BatchView {
            id: batch.id.to_string(),
            status: batch.status(),
            total: batch.total,
            done: batch.done,
            failed: batch.failed,
            created_at: batch.created_at,
            updated_at: batch.updated_at,
            status_url: status_path.replace("{id}", &batch.id),
        }
    }
}

/// One item as `GET /batch/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    pub index: u32,
    pub serial_num: String,
    pub code_type: &'static str,
    pub arg: u32,
    #[serde(flatten)]
    pub state: ItemStateView,
}

/// An item's outcome: `status`, and the code or the reason.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemStateView {
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

impl From<&ItemState> for ItemStateView {
    fn from(state: &ItemState) -> Self {
        match state {
            ItemState::Pending => ItemStateView::Pending,
            ItemState::Done {
                code_id,
                code,
                count,
            } => ItemStateView::Done {
                code_id: code_id.clone(),
                code: code.clone(),
                count: *count,
            },
            ItemState::Failed { reason } => ItemStateView::Failed {
                reason: reason.clone(),
            },
        }
    }
}

impl From<&BatchItem> for ItemView {
    fn from(item: &BatchItem) -> Self {
        ItemView {
            index: item.item.index,
            serial_num: item.order.serial.as_str().to_owned(),
            code_type: item.order.code_type.as_str(),
            arg: item.order.arg,
            state: ItemStateView::from(&item.state),
        }
    }
}

/// `GET /batch/{id}`: the batch and one page of its results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchDetail {
    #[serde(flatten)]
    pub batch: BatchView,
    pub results: Vec<ItemView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchListing {
    pub batches: Vec<BatchView>,
    pub next_cursor: Option<String>,
}

impl BatchDetail {
    pub fn new(page: &BatchPage, status_path: &str) -> Self {
        BatchDetail {
            batch: BatchView::new(&page.batch, status_path),
            results: page.items.iter().map(ItemView::from).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

impl BatchListing {
    pub fn new(page: &Page<Batch, BatchPosition>, status_path: &str) -> Self {
        BatchListing {
            batches: page
                .items
                .iter()
                .map(|batch| BatchView::new(batch, status_path))
                .collect(),
            next_cursor: page.next.as_ref().map(batch_cursor),
        }
    }
}

/// Every item of a batch as `GET /batch/{id}?format=csv` answers it.
pub fn batch_csv(items: &[BatchItem]) -> String {
    let mut out = String::from("index,serialNum,codeType,arg,status,code,count,codeId,error\n");
    for item in items {
        let (status, code, count, code_id, error) = match &item.state {
            ItemState::Pending => ("pending", "", String::new(), "", ""),
            ItemState::Done {
                code_id,
                code,
                count,
            } => (
                "done",
                code.as_str(),
                count.to_string(),
                code_id.as_str(),
                "",
            ),
            ItemState::Failed { reason } => ("failed", "", String::new(), "", reason.as_str()),
        };
        out.push_str(&format!(
            "{},{},{},{},{status},{},{count},{code_id},{}\n",
            item.item.index,
            item.order.serial.as_str(),
            item.order.code_type.as_str(),
            item.order.arg,
            csv_field(code),
            csv_field(error),
        ));
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }
}
