//! The DynamoDB adapter: one table, keys and indexes as `docs/storage.md`
//! describes them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchPosition, ItemState};
use domain::clients::{Client as ApiClient, ClientKey, RegisteredKey};
use domain::clock::Timestamp;
use domain::codes::CodeOrder;
use domain::codes::{CodePosition, CodeQuery, CodeRecord};
use domain::devices::{Device, SerialNumber};
use domain::idempotency::KEY_TTL_SECS;
use domain::paging::SortOrder;
use domain::{BatchStore, ClientStore, CodeStore, DeviceStore, Page, StoreError};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::records::DeviceRecord;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Licenses by product, and by holder; `docs/storage.md`.
pub const GSI2: &str = "gsi2";
pub const GSI3: &str = "gsi3";
/// Epoch seconds; DynamoDB's TTL deletes items some time after this.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// How many DynamoDB queries one listing page may take when a filter drops
/// items, so a page is bounded in work as well as in size.
pub(crate) const MAX_QUERIES_PER_PAGE: usize = 8;

#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table with its index and TTL, as `template.yaml` declares
    /// it; for DynamoDB Local and tests. Succeeds when the table exists.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema has both fields")
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition has both fields")
        };
        let index = |name: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(&format!("{name}pk"), KeyType::Hash))
                .key_schema(key(&format!("{name}sk"), KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index has name and keys")
        };
        let mut create = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PK, KeyType::Hash))
            .key_schema(key(SK, KeyType::Range))
            .attribute_definitions(attribute(PK))
            .attribute_definitions(attribute(SK));
        for name in [GSI1, GSI2, GSI3] {
            create = create
                .attribute_definitions(attribute(&format!("{name}pk")))
                .attribute_definitions(attribute(&format!("{name}sk")))
                .global_secondary_indexes(index(name));
        }
        let created = create.send().await;
        match created {
            Ok(_) => {}
            Err(err) if err.code() == Some("ResourceInUseException") => return Ok(()),
            Err(err) => return Err(unavailable(err)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .expect("TTL spec has both fields"),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(pk))
            .key(SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// A transaction step that writes `item` where no item has its key.
    pub(crate) fn put_step(&self, item: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put has table and item"),
            )
            .build()
    }

    /// A transaction step that deletes an item, on `condition` if given.
    pub(crate) fn delete_step(
        &self,
        pk: String,
        sk: &str,
        condition: Option<&str>,
    ) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .set_condition_expression(condition.map(str::to_owned))
                    .build()
                    .expect("delete has table and key"),
            )
            .build()
    }

    /// Puts `item` only where no item has its key.
    pub(crate) async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::AlreadyExists))
    }
}

pub(crate) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A string attribute.
pub(crate) fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// A number attribute.
pub(crate) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// The primary key of an item.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// Maps a failed conditional write to `when_condition_fails`, anything else
/// to `Unavailable`.
pub(crate) fn conditional<E, R>(
    when_condition_fails: StoreError,
) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    move |err| {
        if err.code() == Some("ConditionalCheckFailedException") {
            when_condition_fails
        } else {
            unavailable(err)
        }
    }
}

pub(crate) fn corrupt(err: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

/// Every item `query` matches, over as many pages as DynamoDB cuts the
/// answer into, decoded as `T`.
pub(crate) async fn query_all<T: serde::de::DeserializeOwned>(
    query: QueryFluentBuilder,
) -> Result<Vec<T>, StoreError> {
    let items: Vec<Item> = query
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(unavailable)?;
    items
        .into_iter()
        .map(|item| from_item(item).map_err(corrupt))
        .collect()
}

/// A `transaction_outcome` classifier for transactions whose conditions
/// all mean the same thing: any failed one answers `error`.
pub(crate) fn any_failed_condition(
    error: StoreError,
) -> impl Fn(&[Option<&str>]) -> Option<StoreError> {
    move |reasons| {
        reasons
            .contains(&Some("ConditionalCheckFailed"))
            .then(|| error.clone())
    }
}

/// Turns a transaction's result into the port's answer. `classify` reads
/// the per-step cancellation reasons; `None` means an unexpected failure.
pub(crate) fn transaction_outcome<R: std::fmt::Debug>(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
    >,
    classify: impl Fn(&[Option<&str>]) -> Option<StoreError>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let err = match result {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    let classified = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let reasons: Vec<Option<&str>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            classify(&reasons)
        }
        Some(other) if other.code() == Some("TransactionConflictException") => {
            Some(StoreError::Conflict)
        }
        _ => None,
    };
    Err(classified.unwrap_or_else(|| unavailable(err)))
}

fn batch_pk(client: &ClientKey, batch_id: &str) -> String {
    format!("BATCH#{client}#{batch_id}")
}

fn item_sk(index: u32) -> String {
    format!("ITEM#{index:05}")
}

const META_SK: &str = "META";

pub(crate) fn client_pk(client: &ClientKey) -> String {
    format!("CLIENT#{client}")
}

fn device_sk(serial: &SerialNumber) -> String {
    format!("DEVICE#{}", serial.as_str())
}

fn device_codes_pk(client: &ClientKey, serial: &SerialNumber) -> String {
    format!("DEVICECODES#{client}#{}", serial.as_str())
}

/// Fixed width, so string order is time order up to year 9999.
fn code_sk(created_at: Timestamp, id: &str) -> String {
    format!("CODE#{:015}#{id}", created_at.millis())
}

fn position_from_sk(sk: &str) -> Result<CodePosition, StoreError> {
    let bad = || StoreError::Corrupt(format!("unexpected code sort key {sk:?}"));
    let rest = sk.strip_prefix("CODE#").ok_or_else(bad)?;
    let (millis, id) = rest.split_once('#').ok_or_else(bad)?;
    Ok(CodePosition {
        created_at: Timestamp::from_millis(millis.parse().map_err(|_| bad())?),
        id: id.to_owned(),
    })
}

const CLIENT_SK: &str = "CLIENT";
const TOKEN_SK: &str = "TOKEN";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientItem {
    pk: String,
    sk: String,
    client_key: ClientKey,
    name: String,
    created_at: Timestamp,
    /// SPKI base64 -> time added. A map, so adding a key can be a
    /// conditional `SET publicKeys.#key`.
    public_keys: HashMap<String, Timestamp>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredItem<T> {
    pub(crate) pk: String,
    pub(crate) sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gsi1sk: Option<String>,
    #[serde(flatten)]
    pub(crate) record: T,
}

#[async_trait]
impl ClientStore for DynamoStore {
    async fn create_client(&self, client: &ApiClient) -> Result<(), StoreError> {
        let item = ClientItem {
            pk: client_pk(&client.key),
            sk: CLIENT_SK.into(),
            client_key: client.key.clone(),
            name: client.name.clone(),
            created_at: client.created_at,
            public_keys: client
                .public_keys
                .iter()
                .map(|k| (k.spki.clone(), k.added_at))
                .collect(),
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_client(&self, key: &ClientKey) -> Result<Option<ApiClient>, StoreError> {
        let Some(item) = self.get(client_pk(key), CLIENT_SK).await? else {
            return Ok(None);
        };
        let item: ClientItem = from_item(item).map_err(corrupt)?;
        let mut public_keys: Vec<RegisteredKey> = item
            .public_keys
            .into_iter()
            .map(|(spki, added_at)| RegisteredKey { spki, added_at })
            .collect();
        public_keys.sort_by(|a, b| (a.added_at, &a.spki).cmp(&(b.added_at, &b.spki)));
        Ok(Some(ApiClient {
            key: item.client_key,
            name: item.name,
            public_keys,
            created_at: item.created_at,
        }))
    }

    async fn add_public_key(
        &self,
        client: &ClientKey,
        key: &RegisteredKey,
    ) -> Result<(), StoreError> {
        let added_at =
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(key.added_at).map_err(corrupt)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(client_pk(client)))
            .key(SK, AttributeValue::S(CLIENT_SK.into()))
            .update_expression("SET publicKeys.#key = :added")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(publicKeys.#key)")
            .expression_attribute_names("#key", &key.spki)
            .expression_attribute_values(":added", added_at)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => {
                // The condition has two halves; a read tells which failed.
                match self.get_client(client).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::AlreadyExists),
                }
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn claim_token_id(
        &self,
        client: &ClientKey,
        token_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        // An expired record may linger until TTL removes it, so the
        // condition also lets a write replace one whose time is up.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(format!("TOKEN#{client}#{token_id}")))
            .item(SK, AttributeValue::S(TOKEN_SK.into()))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N(expires_at.secs().to_string()),
            )
            .item(
                "expiresAtMillis",
                AttributeValue::N(expires_at.millis().to_string()),
            )
            .condition_expression("attribute_not_exists(pk) OR expiresAtMillis <= :now")
            .expression_attribute_values(":now", AttributeValue::N(now.millis().to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(conditional(StoreError::AlreadyExists))
    }
}

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn create_device(&self, device: &Device) -> Result<(), StoreError> {
        let item = StoredItem {
            pk: client_pk(&device.client),
            sk: device_sk(&device.serial),
            gsi1pk: None,
            gsi1sk: None,
            record: DeviceRecord::from(device),
        };
        self.put_new(to_item(item).map_err(corrupt)?).await
    }

    async fn get_device(
        &self,
        client: &ClientKey,
        serial: &SerialNumber,
    ) -> Result<Option<Device>, StoreError> {
        match self.get(client_pk(client), &device_sk(serial)).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<DeviceRecord> = from_item(item).map_err(corrupt)?;
                Device::try_from(stored.record).map(Some)
            }
        }
    }

    async fn list_devices(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, StoreError> {
        let pk = client_pk(client);
        let start = after.map(|serial| {
            HashMap::from([
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (SK.to_owned(), AttributeValue::S(device_sk(serial))),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S("DEVICE#".into()))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let stored: StoredItem<DeviceRecord> = from_item(item).map_err(corrupt)?;
                Device::try_from(stored.record)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let more = output.last_evaluated_key.is_some();
        Ok(Page::new(items, more, |d| d.serial.clone()))
    }
}

#[async_trait]
impl CodeStore for DynamoStore {
    async fn record_code(
        &self,
        device: &Device,
        next_count: u32,
        code: &CodeRecord,
        batch_item: Option<&BatchItemRef>,
    ) -> Result<(), StoreError> {
        let sk = code_sk(code.created_at, &code.id);
        let item = StoredItem {
            pk: client_pk(&code.client_key),
            sk: sk.clone(),
            gsi1pk: Some(device_codes_pk(&code.client_key, &code.serial_num)),
            gsi1sk: Some(sk),
            record: code,
        };
        let advance = Update::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(client_pk(&device.client)))
            .key(SK, AttributeValue::S(device_sk(&device.serial)))
            .update_expression("SET #count = :next, version = :newVersion")
            .condition_expression("version = :readVersion")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":next", AttributeValue::N(next_count.to_string()))
            .expression_attribute_values(
                ":newVersion",
                AttributeValue::N((device.version + 1).to_string()),
            )
            .expression_attribute_values(
                ":readVersion",
                AttributeValue::N(device.version.to_string()),
            )
            .build()
            .expect("update has table, key and expression");
        let mut steps = vec![
            TransactWriteItem::builder().update(advance).build(),
            self.put_step(to_item(item).map_err(corrupt)?),
        ];
        if let Some(item) = batch_item {
            let done = Update::builder()
                .table_name(&self.table)
                .key(
                    PK,
                    AttributeValue::S(batch_pk(&item.client, &item.batch_id)),
                )
                .key(SK, AttributeValue::S(item_sk(item.index)))
                .update_expression(
                    "SET #status = :done, codeId = :codeId, code = :code, #count = :count",
                )
                .condition_expression("#status = :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":done", AttributeValue::S("done".into()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                .expression_attribute_values(":codeId", AttributeValue::S(code.id.clone()))
                .expression_attribute_values(":code", AttributeValue::S(code.code.clone()))
                .expression_attribute_values(":count", AttributeValue::N(code.count.to_string()))
                .build()
                .expect("update has table, key and expression");
            steps.push(TransactWriteItem::builder().update(done).build());
            steps.push(self.count_on_batch(item, "done", code.created_at)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        // Steps: 0 the device, 1 the code, 2 the batch item, 3 its batch.
        transaction_outcome(result, |reasons| match reasons {
            [_, _, Some("ConditionalCheckFailed"), ..] => Some(StoreError::AlreadyExists),
            _ if reasons
                .iter()
                .any(|r| matches!(r, Some("ConditionalCheckFailed" | "TransactionConflict"))) =>
            {
                Some(StoreError::Conflict)
            }
            _ => None,
        })
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        let pk = client_pk(&query.client);
        let lowest = code_sk(query.created_from, "");
        let highest = code_sk(query.created_to, "~");
        let ascending = query.order == SortOrder::Ascending;
        let (partition, by_device) = match &query.serial {
            Some(serial) => (device_codes_pk(&query.client, serial), true),
            None => (pk.clone(), false),
        };
        let (key_pk, key_sk) = if by_device {
            (GSI1_PK, GSI1_SK)
        } else {
            (PK, SK)
        };
        let start_key = |sk: &str| {
            let mut key = HashMap::from([
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (SK.to_owned(), AttributeValue::S(sk.to_owned())),
            ]);
            if by_device {
                key.insert(GSI1_PK.to_owned(), AttributeValue::S(partition.clone()));
                key.insert(GSI1_SK.to_owned(), AttributeValue::S(sk.to_owned()));
            }
            key
        };
        // DynamoDB refuses a start key outside the key condition's range, so
        // a cursor before the range starts at its edge and one past it ends
        // the listing.
        let mut start = None;
        if let Some(after) = &query.after {
            let sk = code_sk(after.created_at, &after.id);
            let exhausted = if ascending {
                sk >= highest
            } else {
                sk <= lowest
            };
            if exhausted {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            let inside = sk > lowest && sk < highest;
            if inside {
                start = Some(start_key(&sk));
            }
        }

        let mut filters = Vec::new();
        let mut values = HashMap::from([
            (":pk".to_owned(), AttributeValue::S(partition.clone())),
            (":lowest".to_owned(), AttributeValue::S(lowest.clone())),
            (":highest".to_owned(), AttributeValue::S(highest.clone())),
        ]);
        if let Some(code_type) = query.code_type {
            filters.push("codeType = :codeType");
            values.insert(
                ":codeType".into(),
                AttributeValue::S(code_type.as_str().into()),
            );
        }
        if let Some(batch) = &query.batch_id {
            filters.push("batchId = :batchId");
            values.insert(":batchId".into(), AttributeValue::S(batch.clone()));
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));

        let mut items = Vec::new();
        let mut last_evaluated = None;
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let wanted = query.limit - items.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(by_device.then(|| GSI1.to_owned()))
                .key_condition_expression(format!(
                    "{key_pk} = :pk AND {key_sk} BETWEEN :lowest AND :highest"
                ))
                .set_filter_expression(filter.clone())
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start.take())
                .scan_index_forward(ascending)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                let stored: StoredItem<CodeRecord> = from_item(item).map_err(corrupt)?;
                items.push(stored.record);
            }
            last_evaluated = output.last_evaluated_key;
            match &last_evaluated {
                Some(key) if items.len() < query.limit => start = Some(key.clone()),
                _ => break,
            }
        }
        let next = match last_evaluated {
            None => None,
            Some(key) => match key.get(SK) {
                Some(AttributeValue::S(sk)) => Some(position_from_sk(sk)?),
                _ => {
                    return Err(StoreError::Corrupt(
                        "a page ended without a sort key".into(),
                    ))
                }
            },
        };
        Ok(Page { items, next })
    }
}

/// A batch item as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemRecord {
    index: u32,
    serial_num: SerialNumber,
    #[serde(with = "code_type_text")]
    code_type: keycode::CodeType,
    arg: u32,
    #[serde(flatten)]
    state: ItemState,
}

mod code_type_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &keycode::CodeType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<keycode::CodeType, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How many `BatchWriteItem` calls a batch's items go out in at once.
const PARALLEL_ITEM_WRITES: usize = 8;
/// DynamoDB's limit on items per `BatchWriteItem`.
const BATCH_WRITE_LIMIT: usize = 25;

impl DynamoStore {
    fn count_on_batch(
        &self,
        item: &BatchItemRef,
        counter: &str,
        at: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(
                PK,
                AttributeValue::S(batch_pk(&item.client, &item.batch_id)),
            )
            .key(SK, AttributeValue::S(META_SK.into()))
            .update_expression("ADD #counter :one SET updatedAt = :at")
            .expression_attribute_names("#counter", counter)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":at",
                serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(at).map_err(corrupt)?,
            )
            .build()
            .expect("update has table, key and expression");
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn write_items(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        let mut pending = requests;
        // Unprocessed items come back under throttling; they are sent again
        // with a growing pause, a bounded number of times.
        for attempt in 0..8u32 {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(unavailable)?;
            pending = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&self.table))
                .unwrap_or_default();
        }
        Err(StoreError::Unavailable(
            "DynamoDB kept items unprocessed".into(),
        ))
    }
}

#[async_trait]
impl BatchStore for DynamoStore {
    async fn create_batch(&self, batch: &Batch, items: &[BatchItem]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let pk = batch_pk(&batch.client_key, &batch.id);
        // Items first: until the batch record exists they are unreachable,
        // so a failure part-way leaves nothing a client can see.
        let requests = items
            .iter()
            .map(|item| {
                let record = StoredItem {
                    pk: pk.clone(),
                    sk: item_sk(item.item.index),
                    gsi1pk: None,
                    gsi1sk: None,
                    record: ItemRecord {
                        index: item.item.index,
                        serial_num: item.order.serial.clone(),
                        code_type: item.order.code_type,
                        arg: item.order.arg,
                        state: item.state.clone(),
                    },
                };
                let put = PutRequest::builder()
                    .set_item(Some(to_item(record).map_err(corrupt)?))
                    .build()
                    .expect("put request has an item");
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let groups: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_LIMIT)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        stream::iter(groups)
            .map(|group| self.write_items(group))
            .buffer_unordered(PARALLEL_ITEM_WRITES)
            .try_collect::<Vec<()>>()
            .await?;

        let meta = StoredItem {
            pk: pk.clone(),
            sk: META_SK.into(),
            gsi1pk: Some(format!("BATCHES#{}", batch.client_key)),
            gsi1sk: Some(format!("{:015}#{}", batch.created_at.millis(), batch.id)),
            record: batch,
        };
        let mut steps = vec![self.put_step(to_item(meta).map_err(corrupt)?)];
        if let Some(key) = &batch.idempotency_key {
            let expires = batch.created_at.plus_secs(KEY_TTL_SECS);
            steps.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item(
                                PK,
                                AttributeValue::S(format!(
                                    "IDEMPOTENCY#{}#batch#{key}",
                                    batch.client_key
                                )),
                            )
                            .item(SK, AttributeValue::S("IDEMPOTENCY".into()))
                            .item("batchId", AttributeValue::S(batch.id.clone()))
                            .item(TTL_ATTRIBUTE, AttributeValue::N(expires.secs().to_string()))
                            // A key past its TTL that DynamoDB has not yet
                            // deleted is free again.
                            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                            .expression_attribute_values(
                                ":now",
                                AttributeValue::N(batch.created_at.secs().to_string()),
                            )
                            .build()
                            .expect("put has table and item"),
                    )
                    .build(),
            );
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        transaction_outcome(result, any_failed_condition(StoreError::AlreadyExists))
    }

    async fn find_by_idempotency_key(
        &self,
        client: &ClientKey,
        key: &str,
    ) -> Result<Option<Batch>, StoreError> {
        let Some(item) = self
            .get(format!("IDEMPOTENCY#{client}#batch#{key}"), "IDEMPOTENCY")
            .await?
        else {
            return Ok(None);
        };
        match item.get("batchId") {
            Some(AttributeValue::S(id)) => self.get_batch(client, id).await,
            _ => Err(StoreError::Corrupt(
                "an idempotency record has no batch id".into(),
            )),
        }
    }

    async fn get_batch(&self, client: &ClientKey, id: &str) -> Result<Option<Batch>, StoreError> {
        match self.get(batch_pk(client, id), META_SK).await? {
            None => Ok(None),
            Some(item) => {
                let stored: StoredItem<Batch> = from_item(item).map_err(corrupt)?;
                Ok(Some(stored.record))
            }
        }
    }

    async fn list_batches(
        &self,
        client: &ClientKey,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, StoreError> {
        let partition = format!("BATCHES#{client}");
        let start = after.map(|p| {
            HashMap::from([
                (PK.to_owned(), AttributeValue::S(batch_pk(client, &p.id))),
                (SK.to_owned(), AttributeValue::S(META_SK.into())),
                (GSI1_PK.to_owned(), AttributeValue::S(partition.clone())),
                (
                    GSI1_SK.to_owned(),
                    AttributeValue::S(format!("{:015}#{}", p.created_at.millis(), p.id)),
                ),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
            .set_exclusive_start_key(start)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                from_item::<StoredItem<Batch>>(item)
                    .map(|s| s.record)
                    .map_err(corrupt)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let more = output.last_evaluated_key.is_some();
        Ok(Page::new(items, more, Batch::position))
    }

    async fn list_items(
        &self,
        client: &ClientKey,
        batch_id: &str,
        first: u32,
        count: u32,
    ) -> Result<Vec<BatchItem>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let last = first.saturating_add(count - 1);
        let records: Vec<StoredItem<ItemRecord>> = query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
                .expression_attribute_values(":pk", AttributeValue::S(batch_pk(client, batch_id)))
                .expression_attribute_values(":first", AttributeValue::S(item_sk(first)))
                .expression_attribute_values(":last", AttributeValue::S(item_sk(last)))
                .consistent_read(true),
        )
        .await?;
        Ok(records
            .into_iter()
            .map(|stored| {
                let record = stored.record;
                BatchItem {
                    item: BatchItemRef {
                        client: client.clone(),
                        batch_id: batch_id.to_owned(),
                        index: record.index,
                    },
                    order: CodeOrder {
                        serial: record.serial_num,
                        code_type: record.code_type,
                        arg: record.arg,
                    },
                    state: record.state,
                }
            })
            .collect())
    }

    async fn fail_item(
        &self,
        item: &BatchItemRef,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let failed = Update::builder()
            .table_name(&self.table)
            .key(
                PK,
                AttributeValue::S(batch_pk(&item.client, &item.batch_id)),
            )
            .key(SK, AttributeValue::S(item_sk(item.index)))
            .update_expression("SET #status = :failed, reason = :reason")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":reason", AttributeValue::S(reason.to_owned()))
            .build()
            .expect("update has table, key and expression");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(failed).build())
            .transact_items(self.count_on_batch(item, "failed", at)?)
            .send()
            .await;
        transaction_outcome(result, |reasons| match reasons {
            [Some("ConditionalCheckFailed"), ..] => Some(StoreError::AlreadyExists),
            _ if reasons.contains(&Some("TransactionConflict")) => Some(StoreError::Conflict),
            _ => None,
        })
    }
}

/// Builds the SDK client for an endpoint: a DynamoDB Local URL with dummy
/// credentials, or `None` for AWS with the environment's credentials.
pub async fn dynamodb_client(endpoint: Option<&str>) -> Client {
    Client::new(&crate::aws_config_for(endpoint).await)
}
