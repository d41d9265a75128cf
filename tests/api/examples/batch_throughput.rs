//! Items per second for a 10,000-item batch through the local API, next to
//! the same 10,000 items as single `POST /codes` calls, on the in-memory
//! store and on DynamoDB Local (`DYNAMODB_ENDPOINT`). Prints one JSON line
//! per measurement; `scripts/bench_batch.sh` turns them into the table in
//! `docs/benchmarks.md`.
// Timing statistics are floats; no amount of money passes through here.
#![allow(clippy::float_arithmetic)]

use std::time::{Duration, Instant};

use api_tests::{Backend, TestApi};
use futures_util::future::join_all;
use http::StatusCode;
use serde_json::{json, Value};

const ITEMS: usize = 10_000;
const DEVICES: usize = 50;
/// Concurrent callers of `POST /codes`, as a client with a connection pool.
const CALLERS: usize = 8;

async fn setup(api: &TestApi) -> String {
    let client = api.new_client("Bench").await;
    let token = api.login(&client).await;
    for d in 0..DEVICES {
        let protocol = if d % 2 == 0 {
            "nexus_full"
        } else {
            "openpaygo"
        };
        let (status, _) = api
            .post(
                "/devices",
                &token,
                json!({"serialNum": format!("D{d:02}"), "protocol": protocol}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    token
}

fn item(i: usize) -> Value {
    json!({"serialNum": format!("D{:02}", i % DEVICES), "codeType": "add_time", "arg": 1})
}

async fn batch(api: &TestApi, token: &str) -> Duration {
    let items: Vec<Value> = (0..ITEMS).map(item).collect();
    let started = Instant::now();
    let (status, created) = api.post("/batch", token, json!({ "items": items })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    loop {
        let (_, batch) = api.get(&format!("/batch/{id}?limit=1"), token).await;
        match batch["status"].as_str() {
            Some("completed") => return started.elapsed(),
            Some("pending" | "running") => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("batch ended {other:?}: {batch}"),
        }
    }
}

async fn singles(api: &TestApi, token: &str) -> Duration {
    let started = Instant::now();
    let callers = (0..CALLERS).map(|caller| async move {
        for i in (caller..ITEMS).step_by(CALLERS) {
            let (status, code) = api.post("/codes", token, item(i)).await;
            assert_eq!(status, StatusCode::CREATED, "{code}");
        }
    });
    join_all(callers).await;
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let mut backends = vec![("memory", Backend::Memory)];
    if std::env::var_os("DYNAMODB_ENDPOINT").is_some() {
        backends.push(("dynamodb-local", Backend::DynamoDb));
    }
    for (name, backend) in backends {
        let api = TestApi::start(backend).await;
        let token = setup(&api).await;
        let batch_time = batch(&api, &token).await;
        let single_time = singles(&api, &token).await;
        for (mode, elapsed) in [("batch", batch_time), ("single POST /codes", single_time)] {
            println!(
                "{}",
                json!({
                    "backend": name,
                    "mode": mode,
                    "items": ITEMS,
                    "seconds": elapsed.as_secs_f64(),
                    "itemsPerSecond": ITEMS as f64 / elapsed.as_secs_f64(),
                })
            );
        }
    }
}
