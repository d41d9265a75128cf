//! Webhook endpoints, deliveries and the outbox in DynamoDB. An account's
//! endpoints and their counter share one partition; each delivery is its
//! own item, listed per endpoint through gsi1; each event is an item of
//! kind `outbox`, which is what the table's stream is filtered to
//! (`docs/delivery.md`).

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use domain::clients::AccountId;
use domain::events::{Event, OUTBOX_RETENTION_SECS};
use domain::paging::Page;
use domain::webhooks::port::EndpointCreated;
use domain::webhooks::{Delivery, DeliveryPosition, Endpoint, DELIVERY_RETENTION_SECS};
use domain::{StoreError, WebhookStore};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::dynamo::schema::{GSI1, GSI1_PK, GSI1_SK};
use crate::dynamo::{
    any_failed_condition, conditional, corrupt, key, n, query_items, records_of, s, unavailable,
    DynamoStore, Item, StoredItem,
};

/// What an outbox item's `kind` holds; the stream filter matches it.
pub const OUTBOX_KIND: &str = "outbox";
const EVENT_SK: &str = "EVENT";
const COUNT_SK: &str = "COUNT";
const DELIVERY_SK: &str = "DELIVERY";

fn endpoints_pk(account: &AccountId) -> String {
    format!("WEBHOOKS#{account}")
}

fn endpoint_sk(id: &str) -> String {
    format!("ENDPOINT#{id}")
}

fn delivery_pk(account: &AccountId, id: &str) -> String {
    format!("WHDELIVERY#{account}#{id}")
}

fn deliveries_gsi(account: &AccountId, endpoint: &str) -> String {
    format!("WHDELIVERIES#{account}#{endpoint}")
}

fn delivery_sort(position: &DeliveryPosition) -> String {
    format!("{:015}#{}", position.created_at.millis(), position.id)
}

#[derive(Serialize, Deserialize)]
struct OutboxItem {
    pk: String,
    sk: String,
    kind: String,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
    #[serde(flatten)]
    event: Event,
}

/// The outbox item of `event`, as the stream shows it.
pub(crate) fn outbox_item(event: &Event) -> Result<Item, StoreError> {
    to_item(OutboxItem {
        pk: format!("OUTBOX#{}", event.id),
        sk: EVENT_SK.into(),
        kind: OUTBOX_KIND.into(),
        expires_at: event.occurred_at.secs() + OUTBOX_RETENTION_SECS,
        event: event.clone(),
    })
    .map_err(corrupt)
}

/// The event an outbox item holds, from a stream record's new image;
/// `None` for an item of any other kind. The DynamoDB Lambda event and
/// the DynamoDB Streams API both give the image in a form serde_dynamo
/// reads.
pub fn event_of_image(image: impl Into<serde_dynamo::Item>) -> Result<Option<Event>, StoreError> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        kind: Option<String>,
    }
    let image: serde_dynamo::Item = image.into();
    let kind: Kind = serde_dynamo::from_item(image.clone()).map_err(corrupt)?;
    if kind.kind.as_deref() != Some(OUTBOX_KIND) {
        return Ok(None);
    }
    let item: OutboxItem = serde_dynamo::from_item(image).map_err(corrupt)?;
    Ok(Some(item.event))
}

#[derive(Serialize)]
struct DeliveryItem<'a> {
    #[serde(flatten)]
    stored: StoredItem<&'a Delivery>,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
}

impl DynamoStore {
    fn delivery_item(&self, delivery: &Delivery) -> Result<Item, StoreError> {
        to_item(DeliveryItem {
            stored: StoredItem {
                pk: delivery_pk(&delivery.account, &delivery.id),
                sk: DELIVERY_SK.into(),
                gsi1pk: Some(deliveries_gsi(&delivery.account, &delivery.endpoint_id)),
                gsi1sk: Some(delivery_sort(&delivery.position())),
                record: delivery,
            },
            expires_at: delivery.created_at.secs() + DELIVERY_RETENTION_SECS,
        })
        .map_err(corrupt)
    }

    fn endpoint_item(&self, endpoint: &Endpoint) -> Result<Item, StoreError> {
        to_item(StoredItem {
            pk: endpoints_pk(&endpoint.account),
            sk: endpoint_sk(&endpoint.id),
            gsi1pk: None,
            gsi1sk: None,
            record: endpoint,
        })
        .map_err(corrupt)
    }

    /// A step that writes `item` over one at `version - 1`.
    fn versioned_put(&self, item: Item, version: u64) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_exists(pk) AND version = :read")
                    .expression_attribute_values(":read", n(version - 1))
                    .build()
                    .expect("put has table and item"),
            )
            .build()
    }

    /// `NotFound` or `Conflict`, whichever explains a failed versioned
    /// write to this key.
    async fn why_not_written(&self, pk: String, sk: &str) -> StoreError {
        match self.get(pk, sk).await {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(err) => err,
        }
    }

    /// Runs a transaction that moves an account's endpoint counter. Racing
    /// creates and deletes collide on the counter; each loser tries again
    /// after a pause, so `classify` only ever sees the conditions' own
    /// outcome (a full account, a missing endpoint).
    async fn transact_on_counter(
        &self,
        steps: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
        classify: impl Fn(&[Option<&str>]) -> Option<StoreError>,
    ) -> Result<(), StoreError> {
        for attempt in 0..12u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(5))).await;
            }
            let outcome = self
                .transact(steps.clone(), |reasons| {
                    if reasons.contains(&Some("TransactionConflict")) {
                        Some(StoreError::Conflict)
                    } else {
                        classify(reasons)
                    }
                })
                .await;
            match outcome {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(
            "the account's endpoint counter stayed contended".into(),
        ))
    }

    /// The outbox event with this id, while its item is kept.
    pub async fn outbox_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        match self.get(format!("OUTBOX#{id}"), EVENT_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: OutboxItem = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.event))
            }
        }
    }
}

#[async_trait::async_trait]
impl WebhookStore for DynamoStore {
    async fn create_endpoint(
        &self,
        endpoint: &Endpoint,
        max: usize,
    ) -> Result<EndpointCreated, StoreError> {
        let count = TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(endpoints_pk(&endpoint.account), COUNT_SK)))
                    .update_expression("SET endpoints = if_not_exists(endpoints, :zero) + :one")
                    .condition_expression("attribute_not_exists(endpoints) OR endpoints < :max")
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":max", n(max))
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build();
        let put = self.put_step(self.endpoint_item(endpoint)?);
        let outcome = self
            .transact_on_counter(vec![count, put], |reasons| {
                if reasons.first() == Some(&Some("ConditionalCheckFailed")) {
                    // The counter's condition: the account is full.
                    Some(StoreError::NotFound)
                } else {
                    reasons
                        .contains(&Some("ConditionalCheckFailed"))
                        .then_some(StoreError::AlreadyExists)
                }
            })
            .await;
        match outcome {
            Ok(()) => Ok(EndpointCreated::Created),
            Err(StoreError::NotFound) => Ok(EndpointCreated::LimitReached),
            Err(other) => Err(other),
        }
    }

    async fn endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        match self.get(endpoints_pk(account), &endpoint_sk(id)).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Endpoint> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn list_endpoints(&self, account: &AccountId) -> Result<Vec<Endpoint>, StoreError> {
        let items = query_items(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(endpoints_pk(account)))
                .expression_attribute_values(":prefix", s("ENDPOINT#"))
                .consistent_read(true),
        )
        .await?;
        let mut endpoints: Vec<Endpoint> = records_of(items)?;
        endpoints.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(endpoints)
    }

    async fn update_endpoint(
        &self,
        next: &Endpoint,
        event: Option<&Event>,
    ) -> Result<(), StoreError> {
        let mut steps = vec![self.versioned_put(self.endpoint_item(next)?, next.version)];
        if let Some(event) = event {
            steps.push(self.put_step(outbox_item(event)?));
        }
        match self.transact(steps, super::codes::lost_race).await {
            Err(StoreError::Conflict) => Err(self
                .why_not_written(endpoints_pk(&next.account), &endpoint_sk(&next.id))
                .await),
            other => other,
        }
    }

    async fn delete_endpoint(&self, account: &AccountId, id: &str) -> Result<(), StoreError> {
        let delete = self.delete_step(
            endpoints_pk(account),
            &endpoint_sk(id),
            Some("attribute_exists(pk)"),
        );
        let count = TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(endpoints_pk(account), COUNT_SK)))
                    .update_expression("SET endpoints = endpoints - :one")
                    .condition_expression("endpoints > :zero")
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":one", n(1))
                    .build()
                    .expect("update has table, key and expression"),
            )
            .build();
        self.transact_on_counter(
            vec![delete, count],
            any_failed_condition(StoreError::NotFound),
        )
        .await
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        self.put_new(outbox_item(event)?).await
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.put_new(self.delivery_item(delivery)?).await
    }

    async fn delivery(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        match self.get(delivery_pk(account, id), DELIVERY_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Delivery> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn update_delivery(&self, next: &Delivery) -> Result<(), StoreError> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.delivery_item(next)?))
            .condition_expression("attribute_exists(pk) AND version = :read")
            .expression_attribute_values(":read", n(next.version - 1))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::Conflict));
        match written {
            Err(StoreError::Conflict) => Err(self
                .why_not_written(delivery_pk(&next.account, &next.id), DELIVERY_SK)
                .await),
            other => other,
        }
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        endpoint_id: &str,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> Result<Page<Delivery, DeliveryPosition>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", s(deliveries_gsi(account, endpoint_id)));
        query = match after {
            Some(after) => query
                .key_condition_expression("#pk = :pk AND #sk < :after")
                .expression_attribute_names("#sk", GSI1_SK)
                .expression_attribute_values(":after", s(delivery_sort(after))),
            None => query.key_condition_expression("#pk = :pk"),
        };
        let output = query.send().await.map_err(unavailable)?;
        let mut deliveries: Vec<Delivery> = records_of(output.items.unwrap_or_default())?;
        let more = deliveries.len() > limit;
        deliveries.truncate(limit);
        Ok(Page::new(deliveries, more, Delivery::position))
    }
}
