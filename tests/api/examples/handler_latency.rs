//! The time the local API's handlers take for `POST /codes` and
//! `GET /codes` on the in-memory store: no network, no DynamoDB. Each
//! request goes through the codes function's `handle` exactly as on Lambda
//! (routing, access-token check, validation, keycode, store, JSON). Prints
//! one JSON line per route with p50, p99 and max in microseconds;
//! `scripts/bench.sh` puts them in `docs/benchmarks.md`.
// Timing statistics are floats; no amount of money passes through here.
#![allow(clippy::float_arithmetic)]

use std::time::Instant;

use api_tests::{Backend, TestApi};
use http::StatusCode;
use lambda_http::{Body, Request};
use serde_json::json;

const DEVICES: usize = 1000;
const WARMUP: usize = 2_000;
const REQUESTS: usize = 50_000;

fn request(method: &str, uri: &str, token: &str, body: Option<String>) -> Request {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map(Body::Text).unwrap_or(Body::Empty))
        .unwrap()
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let api = TestApi::start(Backend::Memory).await;
    let client = api.new_client("Latency").await;
    let token = api.login(&client).await;
    for d in 0..DEVICES {
        let body = json!({"serialNum": format!("L{d:04}"), "protocol": "openpaygo"});
        let (status, _) = api.post("/devices", &token, body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let post = |i: usize| {
        let body =
            json!({"serialNum": format!("L{:04}", i % DEVICES), "codeType": "add_time", "arg": 1});
        request("POST", "/codes", &token, Some(body.to_string()))
    };
    let get = |i: usize| {
        request(
            "GET",
            &format!("/codes?serialNum=L{:04}&limit=10", i % DEVICES),
            &token,
            None,
        )
    };
    for (route, make, expected) in [
        ("POST /codes", &post as &dyn Fn(usize) -> Request, 201),
        ("GET /codes", &get as &dyn Fn(usize) -> Request, 200),
    ] {
        for i in 0..WARMUP {
            let response = api.api.handle(make(i)).await;
            assert_eq!(response.status().as_u16(), expected);
        }
        let mut nanos = Vec::with_capacity(REQUESTS);
        for i in 0..REQUESTS {
            let request = make(i);
            let started = Instant::now();
            let response = api.api.handle(request).await;
            nanos.push(started.elapsed().as_nanos());
            assert_eq!(response.status().as_u16(), expected);
        }
        nanos.sort_unstable();
        println!(
            "{}",
            json!({
                "route": route,
                "requests": REQUESTS,
                "p50_us": percentile(&nanos, 0.50),
                "p99_us": percentile(&nanos, 0.99),
                "max_us": percentile(&nanos, 1.0),
            })
        );
    }
}
