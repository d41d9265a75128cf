//! The table in one place: its attribute and index names, how it is
//! created, and the format of every key (`docs/storage.md`).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use domain::challenges::{ChallengeRef, Purpose};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::codes::CodePosition;
use domain::devices::{ExpiryPosition, SerialNumber};
use domain::ids::ChallengeId;
use domain::payments::{LedgerPosition, PaymentPosition};
use domain::StoreError;

use crate::dynamo::{unavailable, DynamoStore};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";

/// Licenses by product, and by holder; devices by when their credit ends
/// (`docs/storage.md`).
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
pub const GSI3: &str = "gsi3";
pub const GSI3_PK: &str = "gsi3pk";
pub const GSI3_SK: &str = "gsi3sk";

/// Epoch seconds; DynamoDB's TTL deletes items some time after this.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

impl DynamoStore {
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
            .attribute_definitions(attribute(SK))
            // The outbox's transport, as `template.yaml` declares it.
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .expect("stream spec has its flag"),
            );
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
}

pub(crate) const CLIENT_SK: &str = "CLIENT";
pub(crate) const TOKEN_SK: &str = "TOKEN";

/// The `gsi1` partition that lists every client.
pub(crate) const CLIENTS_GSI: &str = "CLIENTS";

pub(crate) fn client_pk(account: &AccountId) -> String {
    format!("CLIENT#{account}")
}

/// A hashed credential of `kind` (`APIKEY`, `MPESA`), found by its hash;
/// its sort key is the kind itself.
pub(crate) fn credential_pk(kind: &str, hash: &str) -> String {
    format!("{kind}#{hash}")
}

/// The same credential in its account's partition.
pub(crate) fn credential_sk(kind: &str, id: &str) -> String {
    format!("{kind}#{id}")
}

/// Each device is its own partition, and its codes live beside it, so a
/// tenant's write rate grows with its devices (`docs/storage.md`).
pub(crate) fn device_pk(account: &AccountId, serial: &SerialNumber) -> String {
    format!("DEVICE#{account}#{}", serial.as_str())
}

pub(crate) const DEVICE_SK: &str = "DEVICE";

/// How many index partitions a tenant's device list and code timeline are
/// spread over. Each takes about 1,000 writes a second on AWS, and a page
/// queries all of them, so this trades listing cost for write headroom
/// (`docs/scale.md`). Changing it re-keys every device and code.
pub(crate) const DEVICE_SHARDS: u32 = 16;

/// The index shard of a device: FNV-1a of its serial, so it is stable
/// across processes and releases, unlike std's randomly seeded hasher.
pub(crate) fn device_shard(serial: &SerialNumber) -> u32 {
    let hash = serial.as_str().bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % DEVICE_SHARDS
}

pub(crate) fn devices_gsi(account: &AccountId, shard: u32) -> String {
    format!("DEVICES#{account}#{shard:02}")
}

/// A tenant's devices with active credit, by when it ends: a sparse index,
/// sharded like the device list, that only active devices are in.
pub(crate) fn expiring_gsi(account: &AccountId, shard: u32) -> String {
    format!("EXPIRING#{account}#{shard:02}")
}

/// Fixed-width time first, so string order is expiry order.
pub(crate) fn expiry_sk(position: &ExpiryPosition) -> String {
    format!(
        "{}#{}",
        expiry_bound(position.until),
        position.serial.as_str()
    )
}

/// The sort key of an instant alone: it sorts before every key of a
/// device expiring at that instant.
pub(crate) fn expiry_bound(at: Timestamp) -> String {
    format!("{:015}", at.millis())
}

pub(crate) fn expiry_position_from_sk(sk: &str) -> Result<ExpiryPosition, StoreError> {
    let bad = || StoreError::Corrupt(format!("unexpected expiry key {sk:?}"));
    let (millis, serial) = sk.split_once('#').ok_or_else(bad)?;
    Ok(ExpiryPosition {
        until: Timestamp::from_millis(millis.parse().map_err(|_| bad())?),
        serial: SerialNumber::parse(serial).map_err(|_| bad())?,
    })
}

/// A payment, keyed by its provider reference: the key is what makes a
/// reference one payment.
pub(crate) fn payment_pk(account: &AccountId, reference: &str) -> String {
    format!("PAYMENT#{account}#{reference}")
}

pub(crate) const PAYMENT_SK: &str = "PAYMENT";

/// One device's payments, on gsi1.
pub(crate) fn device_payments_gsi(account: &AccountId, serial: &SerialNumber) -> String {
    format!("PAYMENTS#{account}#{}", serial.as_str())
}

/// A tenant's payments, sharded by device like its code timeline, on gsi2.
pub(crate) fn tenant_payments_gsi(account: &AccountId, shard: u32) -> String {
    format!("PAYMENTLOG#{account}#{shard:02}")
}

/// A device's payments in the order they were taken, for its ledger, on
/// gsi3.
pub(crate) fn ledger_gsi(account: &AccountId, serial: &SerialNumber) -> String {
    format!("LEDGER#{account}#{}", serial.as_str())
}

pub(crate) fn ledger_sk(position: &LedgerPosition) -> String {
    format!("{:015}#{}", position.at.millis(), position.id)
}

/// Fixed-width `paidAt` first, so string order is time order.
pub(crate) fn payment_sk_of(position: &PaymentPosition) -> String {
    format!("{:015}#{}", position.paid_at.millis(), position.id)
}

pub(crate) fn payment_position_from_sk(sk: &str) -> Result<PaymentPosition, StoreError> {
    let bad = || StoreError::Corrupt(format!("unexpected payment key {sk:?}"));
    let (millis, id) = sk.split_once('#').ok_or_else(bad)?;
    Ok(PaymentPosition {
        paid_at: Timestamp::from_millis(millis.parse().map_err(|_| bad())?),
        id: id.to_owned(),
    })
}

pub(crate) fn codes_gsi(account: &AccountId, shard: u32) -> String {
    format!("CODES#{account}#{shard:02}")
}

/// Fixed width, so string order is time order up to year 9999. The same
/// key sorts a code in its device's partition and in its tenant's shard of
/// the code index.
pub(crate) fn code_sk(created_at: Timestamp, id: &str) -> String {
    format!("CODE#{:015}#{id}", created_at.millis())
}

pub(crate) fn position_from_sk(sk: &str) -> Result<CodePosition, StoreError> {
    let bad = || StoreError::Corrupt(format!("unexpected code sort key {sk:?}"));
    let rest = sk.strip_prefix("CODE#").ok_or_else(bad)?;
    let (millis, id) = rest.split_once('#').ok_or_else(bad)?;
    Ok(CodePosition {
        created_at: Timestamp::from_millis(millis.parse().map_err(|_| bad())?),
        id: id.to_owned(),
    })
}

pub(crate) const META_SK: &str = "META";

pub(crate) fn batch_pk(account: &AccountId, batch_id: &str) -> String {
    format!("BATCH#{account}#{batch_id}")
}

/// A batch's orders are kept in pages of this many consecutive indices,
/// one record in a partition of its own each: a page of results reads one
/// or two, and storing a 10,000-item batch writes 100 of them.
pub(crate) const ITEMS_PER_PAGE: u32 = 100;

pub(crate) fn batch_page_pk(account: &AccountId, batch_id: &str, page: u32) -> String {
    format!("BATCHITEMS#{account}#{batch_id}#{page:03}")
}

pub(crate) const PAGE_SK: &str = "PAGE";

/// Chunk `number`'s partition: its orders, the results of each of its runs
/// and its progress record. Only that chunk's deliveries write there, so
/// chunks worked at once never meet on a record or a partition.
pub(crate) fn batch_chunk_pk(account: &AccountId, batch_id: &str, number: u32) -> String {
    format!("BATCHCHUNK#{account}#{batch_id}#{number:05}")
}

/// The chunk's orders, in parts of at most `ORDERS_PER_PART`.
pub(crate) fn orders_sk(part: usize) -> String {
    format!("ORDERS#{part:03}")
}

/// A chunk of one device can hold a whole batch; 1,000 orders keep a part
/// near 40 KB, well under DynamoDB's 400 KB item limit.
pub(crate) const ORDERS_PER_PART: usize = 1_000;

/// The results of run `run` of the chunk, written once when it is settled.
pub(crate) fn run_sk(run: u32) -> String {
    format!("RUN#{run:05}")
}

pub(crate) const PROGRESS_SK: &str = "PROGRESS";

pub(crate) const PRODUCT_SK: &str = "PRODUCT";
pub(crate) const SKU_SK: &str = "SKU";
pub(crate) const LICENSE_SK: &str = "LICENSE";
pub(crate) const LICENSE_KEY_SK: &str = "LICENSEKEY";

pub(crate) fn product_pk(account: &AccountId, id: &str) -> String {
    format!("PRODUCT#{account}#{id}")
}

pub(crate) fn products_gsi(account: &AccountId) -> String {
    format!("PRODUCTS#{account}")
}

pub(crate) fn sku_pk(account: &AccountId, sku: &str) -> String {
    format!("SKU#{account}#{sku}")
}

pub(crate) fn license_pk(account: &AccountId, id: &str) -> String {
    format!("LICENSE#{account}#{id}")
}

pub(crate) fn licenses_gsi1(account: &AccountId) -> String {
    format!("LICENSES#{account}")
}

pub(crate) fn licenses_gsi2(account: &AccountId, product: &str) -> String {
    format!("LICENSEPRODUCT#{account}#{product}")
}

pub(crate) fn licenses_gsi3(account: &AccountId, holder: &str) -> String {
    format!("LICENSEHOLDER#{account}#{holder}")
}

pub(crate) fn license_key_pk(key: &str) -> String {
    format!("LICENSEKEY#{key}")
}

pub(crate) const NONCE_SK: &str = "NONCE";
pub(crate) const LOGIN_TOKEN_SK: &str = "LOGINTOKEN";

pub(crate) fn nonce_pk(account: &AccountId, nonce: &str) -> String {
    format!("NONCE#{account}#{nonce}")
}

pub(crate) fn login_token_pk(hash: &str) -> String {
    format!("LOGINTOKEN#{hash}")
}

pub(crate) fn challenges_pk(account: &AccountId) -> String {
    format!("CHALLENGES#{account}")
}

pub(crate) fn challenge_sk(id: &str) -> String {
    format!("CHALLENGE#{id}")
}

pub(crate) fn challenge_slot_pk(account: &AccountId, person: &str, purpose: Purpose) -> String {
    let purpose = serde_json::to_value(purpose).expect("an enum serializes");
    format!(
        "CHALLENGESLOT#{account}#{person}#{}",
        purpose.as_str().unwrap_or_default()
    )
}

pub(crate) fn challenge_code_pk(account: &AccountId, code: &str) -> String {
    format!("CHALLENGECODE#{account}#{code}")
}

pub(crate) fn challenge_events_pk(account: &AccountId, challenge: &str) -> String {
    format!("CHALLENGEEVENTS#{account}#{challenge}")
}

/// The cleanup's indexes are spread over 16 partitions by the last hex digit
/// of the challenge id, so no one partition takes every account's writes.
pub(crate) const CLEANUP_SHARDS: &str = "0123456789abcdef";

pub(crate) fn cleanup_shard(id: &str) -> char {
    id.chars().last().unwrap_or('0')
}

/// `<millis, 15 digits>#<account>#<id>`: time order across accounts.
pub(crate) fn due_key(at: Timestamp, account: &AccountId, id: &str) -> String {
    format!("{:015}#{account}#{id}", at.millis())
}

pub(crate) fn ref_from_due_key(sort: &str) -> Result<ChallengeRef, StoreError> {
    let mut parts = sort.splitn(3, '#');
    let (_, account, id) = (parts.next(), parts.next(), parts.next());
    match (account.map(AccountId::parse), id) {
        (Some(Ok(account)), Some(id)) => match ChallengeId::parse(id) {
            Some(id) => Ok(ChallengeRef { account, id }),
            None => Err(StoreError::Corrupt(format!("bad cleanup key {sort:?}"))),
        },
        _ => Err(StoreError::Corrupt(format!("bad cleanup key {sort:?}"))),
    }
}

pub(crate) const REQUEST_KEY_SK: &str = "IDEMPOTENCY";
pub(crate) const RATE_SK: &str = "RATE";

pub(crate) fn request_key_pk(account: &AccountId, key: &str) -> String {
    format!("REQUEST#{account}#{key}")
}
