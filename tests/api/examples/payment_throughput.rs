//! Payments per second through the local API next to `POST /codes` in the
//! same run, on the in-memory store and on DynamoDB Local
//! (`DYNAMODB_ENDPOINT`): 2,000 of each from 8 concurrent callers over 50
//! devices, each payment buying one day, so both issue the same codes and
//! a payment adds only its own record. Prints one JSON line per
//! measurement; `scripts/bench_payments.sh` turns them into the table in
//! `docs/benchmarks.md`.
// Timing statistics are floats; no amount of money passes through here.
#![allow(clippy::float_arithmetic)]

use std::time::{Duration, Instant};

use api_tests::{Backend, TestApi};
use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const CALLS: usize = 2_000;
const DEVICES: usize = 50;
const CALLERS: usize = 8;

async fn setup(api: &TestApi) -> String {
    let client = api.new_client("Bench").await;
    let token = api.login(&client).await;
    let plan = json!({"currency": "KES", "dailyRate": "10"}).to_string();
    for d in 0..DEVICES {
        let protocol = if d % 2 == 0 {
            "nexus_full"
        } else {
            "openpaygo"
        };
        let serial = format!("D{d:02}");
        let (status, _) = api
            .post(
                "/devices",
                &token,
                json!({"serialNum": serial, "protocol": protocol}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, answer) = api
            .call_raw(
                Method::PUT,
                &format!("/devices/{serial}/plan"),
                Some(&format!("Bearer {token}")),
                Some(&plan),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    token
}

/// `CALLS` requests from `CALLERS` callers, each taking the devices in
/// turn; `body(i)` is the i-th request.
async fn run(
    api: &TestApi,
    token: &str,
    path: &str,
    body: impl Fn(usize) -> Value + Sync,
) -> Duration {
    let started = Instant::now();
    let body = &body;
    let callers = (0..CALLERS).map(|caller| async move {
        for i in (caller..CALLS).step_by(CALLERS) {
            let (status, answer) = api.post(path, token, body(i)).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
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
        let codes = run(&api, &token, "/codes", |i| {
            json!({"serialNum": format!("D{:02}", i % DEVICES), "codeType": "add_time", "arg": 1})
        })
        .await;
        let payments = run(&api, &token, "/payments", |i| {
            json!({"serialNum": format!("D{:02}", i % DEVICES), "amount": "10", "currency": "KES",
                "reference": format!("BENCH-{i}"), "paidAt": "2026-11-22T10:00:00Z"})
        })
        .await;
        for (mode, elapsed) in [("POST /codes", codes), ("POST /payments", payments)] {
            println!(
                "{}",
                json!({
                    "backend": name,
                    "mode": mode,
                    "calls": CALLS,
                    "seconds": elapsed.as_secs_f64(),
                    "callsPerSecond": CALLS as f64 / elapsed.as_secs_f64(),
                })
            );
        }
    }
}
