//! Items per second for a 10,000-item batch through the local API, next to
//! the same 10,000 items as single `POST /codes` calls, on the in-memory
//! store and on DynamoDB Local (`DYNAMODB_ENDPOINT`); then, on DynamoDB
//! Local, codes per second from 16 concurrent callers spread over 1, 10 and
//! 100 devices. Prints one JSON line per measurement;
//! `scripts/bench_batch.sh` turns them into the tables in
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
/// How often the batch's caller asks whether it has finished. In memory a
/// question costs nothing, so it asks often enough not to blur a batch
/// that takes a tenth of a second; DynamoDB Local runs every request on one
/// engine, so asking faster there only takes time from the batch.
const POLL_MEMORY: Duration = Duration::from_millis(2);
const POLL_DYNAMODB: Duration = Duration::from_millis(200);
/// The scaling run: callers, codes in all, and the device counts.
const SCALING_CALLERS: usize = 16;
const SCALING_CODES: usize = 2_000;
const SCALING_DEVICES: [usize; 3] = [1, 10, 100];

async fn setup(api: &TestApi) -> String {
    let client = api.new_client("Bench").await;
    let token = api.login(&client).await;
    register(api, &token, "D", DEVICES).await;
    token
}

async fn register(api: &TestApi, token: &str, prefix: &str, devices: usize) {
    for d in 0..devices {
        let protocol = if d % 2 == 0 {
            "nexus_full"
        } else {
            "openpaygo"
        };
        let (status, _) = api
            .post(
                "/devices",
                token,
                json!({"serialNum": format!("{prefix}{d:02}"), "protocol": protocol}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

/// Codes per second from `SCALING_CALLERS` callers over `devices` devices
/// of one tenant, each caller taking the devices in turn, and how many 409
/// `device_busy` answers they had to retry, as a client would.
async fn scaling(api: &TestApi, token: &str, devices: usize) -> (f64, usize) {
    let prefix = format!("S{devices}x");
    register(api, token, &prefix, devices).await;
    let started = Instant::now();
    let callers = (0..SCALING_CALLERS).map(|caller| {
        let prefix = prefix.clone();
        async move {
            let mut busy = 0;
            for i in (caller..SCALING_CODES).step_by(SCALING_CALLERS) {
                let serial = format!("{prefix}{:02}", i % devices);
                let order = json!({"serialNum": serial, "codeType": "add_time", "arg": 1});
                loop {
                    let (status, code) = api.post("/codes", token, order.clone()).await;
                    if status == StatusCode::CONFLICT && code["error"] == "device_busy" {
                        busy += 1;
                        continue;
                    }
                    assert_eq!(status, StatusCode::CREATED, "{code}");
                    break;
                }
            }
            busy
        }
    });
    let busy: usize = join_all(callers).await.into_iter().sum();
    (SCALING_CODES as f64 / started.elapsed().as_secs_f64(), busy)
}

fn item(i: usize) -> Value {
    json!({"serialNum": format!("D{:02}", i % DEVICES), "codeType": "add_time", "arg": 1})
}

async fn batch(api: &TestApi, token: &str, poll_every: Duration) -> Duration {
    let items: Vec<Value> = (0..ITEMS).map(item).collect();
    let started = Instant::now();
    let (status, created) = api.post("/batch", token, json!({ "items": items })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    loop {
        let (_, batch) = api.get(&format!("/batch/{id}?limit=1"), token).await;
        match batch["status"].as_str() {
            Some("completed") => return started.elapsed(),
            Some("pending" | "running") => tokio::time::sleep(poll_every).await,
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
    let mut backends = vec![("memory", Backend::Memory, POLL_MEMORY)];
    if std::env::var_os("DYNAMODB_ENDPOINT").is_some() {
        backends.push(("dynamodb-local", Backend::DynamoDb, POLL_DYNAMODB));
    }
    for (name, backend, poll_every) in backends {
        let api = TestApi::start(backend).await;
        let token = setup(&api).await;
        let batch_time = batch(&api, &token, poll_every).await;
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
        if name == "dynamodb-local" {
            for devices in SCALING_DEVICES {
                let (per_second, busy) = scaling(&api, &token, devices).await;
                println!(
                    "{}",
                    json!({
                        "backend": name,
                        "mode": "scaling",
                        "devices": devices,
                        "callers": SCALING_CALLERS,
                        "codes": SCALING_CODES,
                        "codesPerSecond": per_second,
                        "busyRetries": busy,
                    })
                );
            }
        }
    }
}
