//! A store that stops answering: requests get the function's own 503
//! `store_unavailable` within the store budget instead of hanging until
//! API Gateway gives up, and nothing is left half-written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api_tests::serde_json::{json, Value};
use api_tests::{dynamodb_endpoint, fresh_dynamo_store_at, TestApi};
use domain::rate_limits::RateLimits;
use http::{Method, StatusCode};
use storage::{StoreBudget, Stores};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// API Gateway's limit on an HTTP API integration: an answer after this
/// never reaches the caller.
const API_GATEWAY_LIMIT: Duration = Duration::from_secs(30);

/// A loopback TCP proxy in front of DynamoDB Local that can be paused: while
/// `stalled`, it holds every byte in both directions, as a store that has
/// stopped answering does.
struct StallingProxy {
    address: String,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl StallingProxy {
    async fn start(upstream: String) -> StallingProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        assert!(
            upstream.starts_with("127.0.0.1:") || upstream.starts_with("localhost:"),
            "the proxy forwards to loopback only, not {upstream}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, flag.clone()));
                tokio::spawn(pump(server_read, client_write, flag.clone()));
            }
        });
        StallingProxy {
            address,
            stalled,
            task,
        }
    }

    fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }
}

async fn device_count(api: &TestApi, bearer: &str) -> u64 {
    let (status, device) = api
        .call_as(Method::GET, "/devices/SN-STALL", bearer, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    device["count"].as_u64().unwrap()
}

async fn code_counts(api: &TestApi, bearer: &str) -> Vec<u64> {
    let (status, listing) = api
        .call_as(Method::GET, "/codes?serialNum=SN-STALL", bearer, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    let mut counts: Vec<u64> = listing["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c: &Value| c["count"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_store_answers_503_in_time_and_leaves_nothing_half_written() {
    let proxy = StallingProxy::start(dynamodb_endpoint()).await;
    // The budget the HTTP functions run with on Lambda.
    let store = fresh_dynamo_store_at(&proxy.address, StoreBudget::REQUEST).await;
    let api = TestApi::start_on(Stores::from(Arc::new(store)), RateLimits::default()).await;
    let client = api.new_client("Stalled").await;
    let bearer = format!("Bearer {}", api.login(&client).await);
    let (status, device) = api
        .call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "SN-STALL", "protocol": "openpaygo"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let before = device_count(&api, &bearer).await;

    proxy.stall(true);
    let code = json!({"serialNum": "SN-STALL", "codeType": "add_time", "arg": 3});
    let answer = tokio::time::timeout(
        API_GATEWAY_LIMIT,
        api.call_as(Method::POST, "/codes", &bearer, Some(code.clone())),
    )
    .await;
    let (status, body) = answer.expect("no answer before API Gateway's limit");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "store_unavailable", "{body}");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "the answer shows store details: {body}"
    );

    // The store answers again; the held request may still land, but only
    // whole: a code and its count advance together, or neither.
    proxy.stall(false);
    let (status, issued) = api
        .call_as(Method::POST, "/codes", &bearer, Some(code))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let counts = code_counts(&api, &bearer).await;
    assert!(
        (1..=2).contains(&counts.len()),
        "one code, or two if the stalled one landed late: {counts:?}"
    );
    let mut distinct = counts.clone();
    distinct.dedup();
    assert_eq!(distinct, counts, "two codes share a count");
    assert_eq!(
        device_count(&api, &bearer).await,
        *counts.last().unwrap(),
        "the device's count is not its newest code's"
    );
    assert!(counts[0] > before);
}
