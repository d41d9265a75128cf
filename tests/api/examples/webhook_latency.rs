//! Commit-to-delivery latency and deliveries per second of the webhook
//! pipeline, through the local API's in-process dispatcher and courier, on
//! the in-memory store and on DynamoDB Local (`DYNAMODB_ENDPOINT`, read
//! through the table's real stream), to a receiver on loopback.
//!
//! Latency: 300 payments one after another, 50 ms apart, each measured
//! from the moment its `POST /payments` answered (its transaction, event included, has
//! committed by then) to the moment the receiver read its delivery, while
//! the pipeline runs every 5 ms as the local API's loop would. Throughput:
//! 2,000 payments taken with the pipeline stopped, then the time from
//! starting it to the receiver holding all 2,000. Prints one JSON line per
//! measurement; `scripts/bench_webhooks.sh` turns them into the table in
//! `docs/benchmarks.md`.
// Timing statistics are floats; no amount of money passes through here.
#![allow(clippy::float_arithmetic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_tests::{Backend, TestApi};
use bytes::Bytes;
use futures_util::future::join_all;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const SEQUENTIAL: usize = 300;
const BULK: usize = 2_000;
const DEVICES: usize = 50;
const CALLERS: usize = 8;
const PASS_EVERY: Duration = Duration::from_millis(5);
/// The pause between the timed payments: slow enough that the one local
/// courier on DynamoDB Local keeps up, so the latency is the pipeline's and
/// not a queue's.
const PACE: Duration = Duration::from_millis(50);

/// When each payment reference's delivery arrived.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A receiver that notes when each event arrives and answers 204; it does
/// not verify signatures (the tests do that with `standardwebhooks`), so
/// that its own cost stays out of the numbers.
async fn start_receiver() -> (String, Arrivals) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        let at = Instant::now();
                        let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        if let Some(reference) = payload["data"]["payment"]["reference"].as_str() {
                            seen.lock()
                                .unwrap()
                                .entry(reference.to_owned())
                                .or_insert(at);
                        }
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .status(StatusCode::NO_CONTENT)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (url, arrivals)
}

async fn setup(api: &TestApi, receiver: &str) -> String {
    let client = api.new_client("Bench").await;
    let token = api.login(&client).await;
    let (status, hook) = api
        .post(
            "/webhooks",
            &token,
            json!({"url": receiver, "events": ["payment.received"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let plan = json!({"currency": "KES", "dailyRate": "10"}).to_string();
    for d in 0..DEVICES {
        let serial = format!("D{d:02}");
        let (status, _) = api
            .post(
                "/devices",
                &token,
                json!({"serialNum": serial, "protocol": "openpaygo"}),
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

async fn pay(api: &TestApi, token: &str, i: usize, reference: &str) -> Instant {
    let body = json!({"serialNum": format!("D{:02}", i % DEVICES), "amount": "10",
        "currency": "KES", "reference": reference, "paidAt": "2026-11-22T10:00:00Z"});
    let (status, answer) = api.post("/payments", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    Instant::now()
}

/// Runs the dispatcher and courier every `PASS_EVERY` while `running`.
fn pipeline(api: &Arc<TestApi>, running: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let api = api.clone();
    tokio::spawn(async move {
        while running.load(Ordering::Relaxed) {
            api.api.settle_webhooks().await;
            tokio::time::sleep(PASS_EVERY).await;
        }
    })
}

async fn wait_for(arrivals: &Arrivals, count: usize) {
    for _ in 0..12_000 {
        if arrivals.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "only {} of {count} deliveries arrived",
        arrivals.lock().unwrap().len()
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let mut backends = vec![("memory", Backend::Memory)];
    if std::env::var_os("DYNAMODB_ENDPOINT").is_some() {
        backends.push(("dynamodb-local", Backend::DynamoDb));
    }
    for (name, backend) in backends {
        let api = Arc::new(TestApi::start(backend).await);
        let (url, arrivals) = start_receiver().await;
        let token = setup(&api, &url).await;

        let running = Arc::new(AtomicBool::new(true));
        let loop_task = pipeline(&api, running.clone());
        // One delivery first, so the stream is open and the connections
        // warm before anything is timed.
        pay(&api, &token, 0, "WARM-UP").await;
        wait_for(&arrivals, 1).await;
        let mut committed = HashMap::new();
        for i in 0..SEQUENTIAL {
            let reference = format!("SEQ-{i}");
            let at = pay(&api, &token, i, &reference).await;
            committed.insert(reference, at);
            tokio::time::sleep(PACE).await;
        }
        wait_for(&arrivals, SEQUENTIAL + 1).await;
        running.store(false, Ordering::Relaxed);
        loop_task.await.unwrap();
        let mut latencies: Vec<f64> = {
            let seen = arrivals.lock().unwrap();
            committed
                .iter()
                .map(|(reference, at)| {
                    seen[reference].saturating_duration_since(*at).as_secs_f64() * 1_000.0
                })
                .collect()
        };
        latencies.sort_by(f64::total_cmp);
        println!(
            "{}",
            json!({
                "backend": name,
                "mode": "latency",
                "events": SEQUENTIAL,
                "passEveryMs": PASS_EVERY.as_millis() as u64,
                "paceMs": PACE.as_millis() as u64,
                "p50Ms": percentile(&latencies, 50.0),
                "p99Ms": percentile(&latencies, 99.0),
                "maxMs": latencies[latencies.len() - 1],
            })
        );

        arrivals.lock().unwrap().clear();
        let callers = (0..CALLERS).map(|caller| {
            let (api, token) = (api.clone(), token.clone());
            async move {
                for i in (caller..BULK).step_by(CALLERS) {
                    pay(&api, &token, i, &format!("BULK-{i}")).await;
                }
            }
        });
        join_all(callers).await;
        let started = Instant::now();
        let running = Arc::new(AtomicBool::new(true));
        let loop_task = pipeline(&api, running.clone());
        wait_for(&arrivals, BULK).await;
        let elapsed = started.elapsed();
        running.store(false, Ordering::Relaxed);
        loop_task.await.unwrap();
        println!(
            "{}",
            json!({
                "backend": name,
                "mode": "throughput",
                "events": BULK,
                "seconds": elapsed.as_secs_f64(),
                "deliveriesPerSecond": BULK as f64 / elapsed.as_secs_f64(),
            })
        );
    }
}
