//! The per-client limits on `/auth`, `POST /batch` and challenge
//! verification: 429 with `Retry-After` once a client's window is full,
//! other clients untouched, the next window open again. Only requests the
//! client itself signed count against its `/auth` share.

use api_tests::{Backend, TestApi};
use domain::auth::{ClientAuthClaims, P256SigningKey};
use domain::clock::Clock;
use domain::rate_limits::{RateLimit, RateLimits};
use http::{Method, StatusCode};
use serde_json::{json, Value};

const CHALLENGES: &str = "/v1/mfa/challenges/activation";

async fn tight(backend: Backend) -> TestApi {
    TestApi::start_with_limits(
        backend,
        RateLimits {
            auth: Some(RateLimit::per_minute(3)),
            batch: Some(RateLimit::per_minute(2)),
            verify: Some(RateLimit::per_minute(3)),
        },
    )
    .await
}

async fn post(
    api: &TestApi,
    path: &str,
    authorization: Option<&str>,
    body: Value,
) -> (StatusCode, http::HeaderMap, Value) {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    api.send(Method::POST, path, &headers, Some(&body.to_string()))
        .await
}

fn assert_limited(answer: &(StatusCode, http::HeaderMap, Value), what: &str) {
    assert_eq!(
        answer.0,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        answer.2
    );
    assert_eq!(answer.2["error"], "rate_limited", "{what}");
    let retry: u64 = answer.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{what}: Retry-After {retry}");
}

async fn auth_is_limited_per_client(backend: Backend) {
    let api = tight(backend).await;
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    // Tokens that claim to be Acme's but are signed by someone else are
    // refused before they are counted, so they cannot use up Acme's share.
    let impostor = P256SigningKey::generate();
    for _ in 0..5 {
        let claims = ClientAuthClaims::new(&acme.key, &acme.signing_key, api.clock.now());
        // Acme's key in `sub`, the impostor's signature.
        let forged = impostor.sign(&claims);
        let answer = post(
            &api,
            "/auth",
            None,
            json!({"token": forged, "tokenType": "auth"}),
        )
        .await;
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{}", answer.2);
    }
    for _ in 0..3 {
        api.login(&acme).await;
    }
    let token = api.auth_token(&acme);
    let refused = post(
        &api,
        "/auth",
        None,
        json!({"token": token, "tokenType": "auth"}),
    )
    .await;
    assert_limited(&refused, "the fourth /auth");
    api.login(&other).await;
    api.clock.advance_secs(60);
    api.login(&acme).await;
}

async fn batches_and_verifications_are_limited_per_client(backend: Backend) {
    let api = tight(backend).await;
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let other_bearer = format!("Bearer {}", api.login(&other).await);

    let batch = json!({"items": [{"serialNum": "NONE", "codeType": "unlock"}]});
    for _ in 0..2 {
        let answer = post(&api, "/batch", Some(&bearer), batch.clone()).await;
        assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.2);
    }
    assert_limited(
        &post(&api, "/batch", Some(&bearer), batch.clone()).await,
        "the third batch",
    );
    let answer = post(&api, "/batch", Some(&other_bearer), batch.clone()).await;
    assert_eq!(
        answer.0,
        StatusCode::ACCEPTED,
        "another client has its own window"
    );

    let (_, _, challenge) = post(
        &api,
        CHALLENGES,
        Some(&bearer),
        json!({"person_id": "p1", "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"}),
    )
    .await;
    let verify = format!("{CHALLENGES}/{}/verify", challenge["id"].as_str().unwrap());
    let code = challenge["code"].as_str().unwrap();
    for attempt in ["WRONGCODE1", code, code] {
        let answer = post(
            &api,
            &verify,
            Some(&bearer),
            json!({"person_id": "p1", "code": attempt}),
        )
        .await;
        assert_ne!(answer.0, StatusCode::TOO_MANY_REQUESTS, "{}", answer.2);
    }
    let answer = post(
        &api,
        &verify,
        Some(&bearer),
        json!({"person_id": "p1", "code": code}),
    )
    .await;
    assert_limited(&answer, "the fourth verification");

    api.clock.advance_secs(60);
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let answer = post(
        &api,
        &verify,
        Some(&bearer),
        json!({"person_id": "p1", "code": code}),
    )
    .await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.2);
    let answer = post(&api, "/batch", Some(&bearer), batch).await;
    assert_eq!(answer.0, StatusCode::ACCEPTED, "{}", answer.2);
}

macro_rules! on_both {
    ($($scenario:ident),*) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$scenario(api_tests::Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                super::$scenario(api_tests::Backend::DynamoDb).await
            }
        }
    )*};
}

on_both!(
    auth_is_limited_per_client,
    batches_and_verifications_are_limited_per_client
);
