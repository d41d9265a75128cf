//! Batches through the local API (its in-process worker behind the queue
//! port), and the worker's exactly-once guarantees under redelivery, a
//! crash part-way through a chunk, and a chunk that never succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api_tests::{on_both_backends, on_both_stores, TestApi};
use api_types::biolite::batch::BatchRequest;
use api_types::biolite::devices::NewDeviceBody;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use domain::batches::{BatchStatus, Chunk, ChunkOutcome, ItemState};
use domain::clients::AccountId;
use domain::clock::{SystemClock, Timestamp};
use domain::codes::{CodePosition, CodeQuery, CodeRecord};
use domain::devices::Device;
use domain::ids::BatchId;
use domain::{BatchService, CodesService};
use domain::{ChunkQueue, CodeStore, Page, StoreError};
use http::{Method, StatusCode};
use keycode::simulator::{Entry, SimulatedDevice};
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde_json::{json, Value};
use storage::{MemoryQueue, Stores};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";

/// Polls `GET /batch/{id}` until the batch is no longer pending or running.
async fn finished(api: &TestApi, token: &str, id: &str) -> Value {
    for _ in 0..2400 {
        let (status, batch) = api.get(&format!("/batch/{id}?limit=1"), token).await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        if !matches!(batch["status"].as_str(), Some("pending" | "running")) {
            return batch;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batch {id} did not finish");
}

async fn post_batch(
    api: &TestApi,
    token: &str,
    items: &[Value],
    key: Option<&str>,
) -> (StatusCode, Value) {
    let body = json!({ "items": items }).to_string();
    let mut request = hyper_request(api, token, &body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    send(request, &body).await
}

fn hyper_request(api: &TestApi, token: &str, _body: &str) -> http::request::Builder {
    http::Request::builder()
        .method(Method::POST)
        .uri(format!("{}/batch", api.base))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
}

async fn send(request: http::request::Builder, body: &str) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn a_batch_issues_every_item_once_and_records_item_failures(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let other_token = api.login(&other).await;
    for serial in ["N1", "N2", "N3"] {
        api.post(
            "/devices",
            &token,
            json!({"serialNum": serial, "protocol": "nexus_full", "secretKey": KEY}),
        )
        .await;
    }
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "OP", "protocol": "openpaygo"}),
    )
    .await;
    let mut items: Vec<Value> = (0..120)
        .map(|i| json!({"serialNum": format!("N{}", i % 3 + 1), "codeType": "add_time", "arg": i % 5}))
        .collect();
    items.push(json!({"serialNum": "GHOST", "codeType": "unlock"}));
    items.push(json!({"serialNum": "OP", "codeType": "1_hour"}));

    let (status, created) = post_batch(api, &token, &items, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["total"], 122);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["statusUrl"], format!("/batch/{id}"));

    let batch = finished(api, &token, &id).await;
    assert_eq!(
        (
            batch["status"].as_str(),
            batch["done"].as_u64(),
            batch["failed"].as_u64()
        ),
        (Some("completed_with_errors"), Some(120), Some(2)),
        "{batch}"
    );

    // Results page by page, in item order.
    // Pages of 40 cross the stored items' partitions of 100 (80-119).
    let mut results = Vec::new();
    let mut path = format!("/batch/{id}?limit=40");
    loop {
        let (_, page) = api.get(&path, &token).await;
        results.extend(page["results"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/batch/{id}?limit=40&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(results.len(), 122);
    assert!(results.iter().enumerate().all(|(i, r)| r["index"] == i));
    assert_eq!(results[120]["status"], "failed");
    assert!(results[120]["reason"]
        .as_str()
        .unwrap()
        .contains("no device"));
    assert!(results[121]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot be expressed"));

    // Every device's codes carry counts 0..n once each and a device accepts them.
    let mut by_device: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for r in &results[..120] {
        assert_eq!(r["status"], "done");
        by_device
            .entry(r["serialNum"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                r["count"].as_u64().unwrap(),
                r["code"].as_str().unwrap().to_owned(),
            ));
    }
    for (serial, mut codes) in by_device {
        codes.sort();
        let counts: Vec<u64> = codes.iter().map(|(c, _)| *c).collect();
        assert_eq!(counts, (0..40).collect::<Vec<_>>(), "{serial}");
        let mut device = SimulatedDevice::new(
            DeviceSecrets {
                protocol: DeviceProtocol::NexusFull,
                key: SecretKey::from_hex(KEY).unwrap(),
                starting_code: None,
            },
            0,
        );
        for (_, code) in &codes {
            assert_eq!(device.enter(code), Entry::Accepted, "{serial}");
        }
        let (_, shown) = api.get(&format!("/devices/{serial}"), &token).await;
        assert_eq!(shown["count"], 40, "the device advanced once per code");
    }

    // The batch's codes are listed under its id.
    let mut listed = 0;
    let mut path = format!("/codes?batchId={id}&limit=100");
    loop {
        let (_, page) = api.get(&path, &token).await;
        listed += page["codes"].as_array().unwrap().len();
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/codes?batchId={id}&limit=100&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(listed, 120);

    let (status, content_type, csv) = api
        .get_text(&format!("/batch/{id}?format=csv"), &token)
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/csv; charset=utf-8")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 123);
    assert_eq!(
        lines[0],
        "index,serialNum,codeType,arg,status,code,count,codeId,error"
    );
    assert!(
        lines[121].starts_with("120,GHOST,unlock,0,failed,,,,"),
        "{}",
        lines[121]
    );
    assert_eq!(
        api.get(&format!("/batch/{id}"), &other_token).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, theirs) = api.get("/batch", &other_token).await;
    assert_eq!(theirs["batches"], json!([]));
}

async fn batch_requests_are_validated_up_front_and_idempotent(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "N1", "protocol": "nexus_full"}),
    )
    .await;

    let bad = [
        json!({"serialNum": "N1", "codeType": "add_time", "arg": 1}),
        json!({"serialNum": "N1", "codeType": "zap"}),
        json!({"serialNum": "N1", "codeType": "add_time", "arg": 5000}),
        json!({"serialNum": "a#b", "codeType": "unlock"}),
    ];
    let (status, answer) = post_batch(api, &token, &bad, None).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_items")),
        "{answer}"
    );
    let indexes: Vec<u64> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 2, 3]);
    assert_eq!(
        post_batch(api, &token, &[], None).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = api
        .call_raw(
            Method::POST,
            "/batch",
            Some(&format!("Bearer {token}")),
            Some(r#"{"items": 5}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, listing) = api.get("/batch", &token).await;
    assert_eq!(
        listing["batches"],
        json!([]),
        "refused batches are not stored"
    );

    let items = vec![json!({"serialNum": "N1", "codeType": "add_time", "arg": 2}); 3];
    let (status, first) = post_batch(api, &token, &items, Some("order-42")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, retry) = post_batch(api, &token, &items, Some("order-42")).await;
    assert_eq!(
        (status, &retry["id"]),
        (StatusCode::ACCEPTED, &first["id"]),
        "a retry gets the first batch"
    );
    api.clock.advance_millis(10);
    let other_items = vec![json!({"serialNum": "N1", "codeType": "unlock"})];
    let (status, answer) = post_batch(api, &token, &other_items, Some("order-42")).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    let (_, second) = post_batch(api, &token, &other_items, Some("order-43")).await;
    let id = first["id"].as_str().unwrap();
    finished(api, &token, id).await;
    finished(api, &token, second["id"].as_str().unwrap()).await;

    let (_, page) = api.get("/batch?limit=1", &token).await;
    assert_eq!(page["batches"][0]["id"], second["id"], "newest first");
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/batch?limit=1&cursor={cursor}"), &token)
        .await;
    assert_eq!(rest["batches"][0]["id"], first["id"]);
    // DynamoDB may hand out a cursor whose page is empty; it ends there.
    if let Some(cursor) = rest["nextCursor"].as_str() {
        let (_, end) = api
            .get(&format!("/batch?limit=1&cursor={cursor}"), &token)
            .await;
        assert_eq!(
            (&end["batches"], &end["nextCursor"]),
            (&json!([]), &Value::Null)
        );
    }
    let (_, device) = api.get("/devices/N1", &token).await;
    assert_eq!(
        device["count"], 4,
        "three items plus one: the retried POST added nothing"
    );
    for bad in [
        "/batch?limit=0",
        "/batch?cursor=zzz",
        &format!("/batch/{id}?cursor=99"),
        &format!("/batch/{id}?format=xml"),
    ] {
        assert_eq!(
            api.get(bad, &token).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(
        api.get("/batch/nope", &token).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(
    a_batch_issues_every_item_once_and_records_item_failures,
    batch_requests_are_validated_up_front_and_idempotent,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_item_batch_completes_through_the_local_api() {
    let api = TestApi::start(api_tests::Backend::Memory).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    const DEVICES: usize = 50;
    for d in 0..DEVICES {
        let protocol = if d % 2 == 0 {
            "nexus_full"
        } else {
            "openpaygo"
        };
        api.post(
            "/devices",
            &token,
            json!({"serialNum": format!("D{d:02}"), "protocol": protocol}),
        )
        .await;
    }
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"serialNum": format!("D{:02}", i % DEVICES), "codeType": "add_time", "arg": 1}))
        .collect();
    let (status, created) = post_batch(&api, &token, &items, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_str().unwrap();
    let batch = finished(&api, &token, id).await;
    assert_eq!(
        (batch["status"].as_str(), batch["done"].as_u64()),
        (Some("completed"), Some(10_000))
    );

    let mut codes = BTreeSet::new();
    let mut per_device: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let (status, _, csv) = api
        .get_text(&format!("/batch/{id}?format=csv"), &token)
        .await;
    assert_eq!((status, csv.lines().count()), (StatusCode::OK, 10_001));
    let account = AccountId::parse(acme.key.as_str()).unwrap();
    let mut query = CodeQuery {
        account,
        serial: None,
        code_type: None,
        batch_id: Some(BatchId::parse(id).unwrap()),
        created_from: Timestamp::MIN,
        created_to: Timestamp::MAX,
        order: domain::paging::SortOrder::Ascending,
        limit: 100,
        after: None,
    };
    loop {
        let page = api.stores.codes().list_codes(&query).await.unwrap();
        for code in &page.items {
            assert!(codes.insert(code.id.clone()));
            per_device
                .entry(code.serial_num.as_str().to_owned())
                .or_default()
                .push(u64::from(code.count));
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(codes.len(), 10_000, "10,000 distinct codes");
    for (serial, mut counts) in per_device {
        counts.sort_unstable();
        counts.dedup();
        assert_eq!(counts.len(), 200, "{serial}: every code its own count");
    }
}

/// Fails every code write after the first `allowed` codes, as a store
/// outage or a worker killed part-way through would. A run of codes that
/// would pass the allowance fails whole, as its one transaction would.
struct FailingAfter {
    inner: Arc<dyn CodeStore>,
    allowed: AtomicUsize,
}

#[async_trait]
impl CodeStore for FailingAfter {
    async fn record_code(
        &self,
        device: &Device,
        next: &domain::codes::Advance,
        code: &CodeRecord,
    ) -> Result<(), StoreError> {
        self.spend(1)?;
        self.inner.record_code(device, next, code).await
    }

    async fn record_code_run(
        &self,
        device: &Device,
        next: &domain::codes::Advance,
        issued: &[(CodeRecord, domain::batches::BatchItemRef)],
        refused: &[(domain::batches::BatchItemRef, String)],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.spend(issued.len())?;
        self.inner
            .record_code_run(device, next, issued, refused, at)
            .await
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        self.inner.list_codes(query).await
    }
}

impl FailingAfter {
    fn spend(&self, codes: usize) -> Result<(), StoreError> {
        self.allowed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(codes)
            })
            .map(|_| ())
            .map_err(|_| StoreError::Unavailable("injected outage".into()))
    }
}

/// A service over `stores` whose code writes fail after `allowed` of them.
fn worker(stores: &Stores, allowed: usize) -> BatchService {
    let codes: Arc<dyn CodeStore> = Arc::new(FailingAfter {
        inner: stores.codes(),
        allowed: AtomicUsize::new(allowed),
    });
    let service = CodesService::new(stores.devices(), codes, Arc::new(SystemClock));
    BatchService::new(
        stores.batches(),
        Arc::new(MemoryQueue::closed()),
        Arc::new(service),
        Arc::new(SystemClock),
    )
}

struct Discard;

#[async_trait]
impl ChunkQueue for Discard {
    async fn send(&self, _chunks: &[Chunk]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A client with three Nexus devices and a stored 30-item batch that
/// takes turns over them (so the worker issues it in three runs); returns
/// the batch's single chunk.
async fn batch_of_30(stores: &Stores) -> (AccountId, Chunk) {
    let account = AccountId::parse("ck_worker").unwrap();
    let codes = Arc::new(CodesService::new(
        stores.devices(),
        stores.codes(),
        Arc::new(SystemClock),
    ));
    for serial in DEVICES_OF_30 {
        let device: NewDeviceBody = serde_json::from_value(
            json!({"serialNum": serial, "protocol": "nexus_full", "secretKey": KEY}),
        )
        .unwrap();
        codes
            .register_device(&account, device.into_command().unwrap())
            .await
            .unwrap();
    }
    let service = BatchService::new(
        stores.batches(),
        Arc::new(Discard),
        codes,
        Arc::new(SystemClock),
    );
    let request: BatchRequest = serde_json::from_value(json!({
        "items": (0..30)
            .map(|i| json!({"serialNum": DEVICES_OF_30[i % 3], "codeType": "add_time", "arg": 1}))
            .collect::<Vec<_>>()
    }))
    .unwrap();
    let batch = service
        .create(&account, b"body", request.into_orders().unwrap(), None)
        .await
        .unwrap();
    let chunks = domain::batches::chunks_of(&batch);
    assert_eq!(chunks.len(), 1);
    (account, chunks[0].clone())
}

const DEVICES_OF_30: [&str; 3] = ["N1", "N2", "N3"];

/// The counts the devices of `batch_of_30` have used, together.
async fn device_count(stores: &Stores, account: &AccountId) -> u32 {
    let mut total = 0;
    for serial in DEVICES_OF_30 {
        let serial = domain::devices::SerialNumber::parse(serial).unwrap();
        let device = stores.devices().get_device(account, &serial).await;
        total += device.unwrap().unwrap().count;
    }
    total
}

/// The code counts of devices that issued `per_device[i]` codes each, from
/// 0, sorted as `batch_codes` answers them.
fn counts(per_device: &[u32]) -> Vec<u32> {
    let mut all: Vec<u32> = per_device.iter().flat_map(|&n| 0..n).collect();
    all.sort_unstable();
    all
}

async fn batch_codes(stores: &Stores, account: &AccountId, batch: &str) -> Vec<u32> {
    let query = CodeQuery {
        account: account.clone(),
        serial: None,
        code_type: None,
        batch_id: Some(BatchId::parse(batch).unwrap()),
        created_from: Timestamp::MIN,
        created_to: Timestamp::MAX,
        order: domain::paging::SortOrder::Ascending,
        limit: 100,
        after: None,
    };
    let mut counts: Vec<u32> = stores
        .codes()
        .list_codes(&query)
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.count)
        .collect();
    counts.sort_unstable();
    counts
}

async fn a_chunk_delivered_twice_adds_nothing(stores: &Stores) {
    let (client, chunk) = batch_of_30(stores).await;
    let healthy = worker(stores, usize::MAX);
    assert_eq!(
        healthy.process_chunk(&chunk, false).await,
        ChunkOutcome::Finished { items: 30 }
    );
    assert_eq!(
        healthy.process_chunk(&chunk, false).await,
        ChunkOutcome::Finished { items: 30 }
    );
    // Two deliveries at the same time as well.
    let (a, b) = tokio::join!(
        healthy.process_chunk(&chunk, false),
        healthy.process_chunk(&chunk, false)
    );
    assert_eq!(
        (a, b),
        (
            ChunkOutcome::Finished { items: 30 },
            ChunkOutcome::Finished { items: 30 }
        )
    );
    assert_eq!(
        batch_codes(stores, &client, &chunk.batch_id).await,
        counts(&[10, 10, 10])
    );
    assert_eq!(device_count(stores, &client).await, 30);
    let batch = stores
        .batches()
        .get_batch(&client, &chunk.batch_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (batch.done, batch.failed, batch.status()),
        (30, 0, BatchStatus::Completed)
    );
}

async fn a_chunk_that_failed_part_way_completes_on_redelivery(stores: &Stores) {
    let (client, chunk) = batch_of_30(stores).await;
    // The first run (N1's 10 codes) fits the allowance; the second does not.
    let crashing = worker(stores, 12);
    assert!(matches!(
        crashing.process_chunk(&chunk, false).await,
        ChunkOutcome::Retry(_)
    ));
    assert_eq!(
        batch_codes(stores, &client, &chunk.batch_id).await,
        counts(&[10])
    );
    let batch = stores
        .batches()
        .get_batch(&client, &chunk.batch_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((batch.done, batch.status()), (10, BatchStatus::Running));

    let healthy = worker(stores, usize::MAX);
    assert_eq!(
        healthy.process_chunk(&chunk, false).await,
        ChunkOutcome::Finished { items: 30 }
    );
    assert_eq!(
        batch_codes(stores, &client, &chunk.batch_id).await,
        counts(&[10, 10, 10])
    );
    assert_eq!(device_count(stores, &client).await, 30);
}

async fn a_chunk_that_keeps_failing_is_dead_lettered_and_the_batch_says_so(stores: &Stores) {
    let (client, chunk) = batch_of_30(stores).await;
    let broken = worker(stores, 10);
    // The worker Lambda's own handler: deliveries 1-4 ask for another try,
    // the 5th (the queue's maxReceiveCount) gives up on the remaining items
    // and still reports failure, so SQS moves the message to the DLQ.
    for receives in 1..=5u32 {
        let message = SqsMessage {
            message_id: Some("m1".into()),
            body: Some(serde_json::to_string(&chunk).unwrap()),
            attributes: [("ApproximateReceiveCount".to_owned(), receives.to_string())].into(),
            ..Default::default()
        };
        let event = SqsEvent {
            records: vec![message],
        };
        let response = batch_worker_function::handle(&broken, event, 5).await;
        assert_eq!(response.batch_item_failures.len(), 1, "delivery {receives}");
        let batch = stores
            .batches()
            .get_batch(&client, &chunk.batch_id)
            .await
            .unwrap()
            .unwrap();
        let expected_failed = if receives == 5 { 20 } else { 0 };
        assert_eq!(
            (batch.done, batch.failed),
            (10, expected_failed),
            "delivery {receives}"
        );
    }
    let batch = stores
        .batches()
        .get_batch(&client, &chunk.batch_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.status(), BatchStatus::CompletedWithErrors);
    let items = stores
        .batches()
        .list_items(&client, &chunk.batch_id, 0, 30)
        .await
        .unwrap();
    assert!(
        matches!(&items[29].state, ItemState::Failed { reason } if reason.contains("dead-lettered"))
    );
    assert_eq!(
        device_count(stores, &client).await,
        10,
        "failed items advanced nothing"
    );
}

on_both_stores!(
    a_chunk_delivered_twice_adds_nothing,
    a_chunk_that_failed_part_way_completes_on_redelivery,
    a_chunk_that_keeps_failing_is_dead_lettered_and_the_batch_says_so,
);
