//! `POST /auth` and the access token, through the local API on both backends.

use api_tests::{on_both_backends, TestApi};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::auth::P256SigningKey;
use domain::clock::Clock;
use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};

async fn exchange(api: &TestApi, token: &str) -> (StatusCode, Value) {
    let body = json!({"token": token, "tokenType": "auth"});
    api.call(Method::POST, "/auth", None, Some(&body)).await
}

fn claims(api: &TestApi, iss: &str, sub: &str) -> Value {
    json!({
        "iss": iss,
        "sub": sub,
        "iat": api.clock.now().secs(),
        "jti": domain::random::random_hex(8),
    })
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

async fn an_access_token_opens_the_other_endpoints(api: &TestApi) {
    let client = api.new_client("Acme").await;
    let (status, answer) = exchange(api, &api.auth_token(&client)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["tokenType"], "Bearer");
    assert_eq!(answer["expiresIn"], 900);
    assert!(answer["expiresAt"].as_str().unwrap().ends_with('Z'));
    let token = answer["accessToken"].as_str().unwrap();

    let (status, _) = api.get("/devices", token).await;
    assert_eq!(status, StatusCode::OK, "Bearer form");
    let (status, _) = api.call(Method::GET, "/devices", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "raw form");

    for header in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer nonsense"),
        Some("Basic abc"),
    ] {
        let (status, answer) = api.call(Method::GET, "/codes", header, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(answer["error"], "unauthorized");
    }
    // A token signed by another platform key does not pass.
    let foreign = P256SigningKey::generate().sign(&json!({
        "iss": "activation-platform", "aud": "activation-platform-api",
        "sub": client.key.as_str(), "iat": 0, "exp": 9_999_999_999i64, "jti": "x"
    }));
    let (status, _) = api.get("/devices", &foreign).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    api.clock.advance_secs(899);
    assert_eq!(api.get("/devices", token).await.0, StatusCode::OK);
    api.clock.advance_secs(1);
    let (status, answer) = api.get("/devices", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["message"].as_str().unwrap().contains("expired"),
        "{answer}"
    );
}

async fn every_auth_rule_refuses_with_its_reason(api: &TestApi) {
    let client = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let key = |c: &api_tests::TestClient| c.signing_key.public_key().to_spki_base64();
    let iss = client.key.as_str().to_owned();

    let message = |answer: &Value| answer["message"].as_str().unwrap_or_default().to_owned();
    let refused = |(status, answer): (StatusCode, Value), needle: &str| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert!(
            message(&answer).contains(needle),
            "{needle:?} not in {answer}"
        );
        message(&answer)
    };

    refused(exchange(api, "not-a-jwt").await, "well-formed");
    let hs256 = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&claims(api, &iss, &key(&client)).to_string())
    );
    refused(exchange(api, &hs256).await, "ES256");
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&claims(api, &iss, &key(&client)).to_string())
    );
    assert_eq!(exchange(api, &none).await.0, StatusCode::UNAUTHORIZED);

    let mut no_jti = claims(api, &iss, &key(&client));
    no_jti.as_object_mut().unwrap().remove("jti");
    refused(
        exchange(api, &client.signing_key.sign(&no_jti)).await,
        "'jti'",
    );
    let mut no_iat = claims(api, &iss, &key(&client));
    no_iat.as_object_mut().unwrap().remove("iat");
    refused(
        exchange(api, &client.signing_key.sign(&no_iat)).await,
        "'iat'",
    );
    let not_a_key = claims(api, &iss, "hello");
    refused(
        exchange(api, &client.signing_key.sign(&not_a_key)).await,
        "not a P-256",
    );

    // Unknown client and unregistered key read the same: no existence leak.
    let unknown_client = claims(api, "ck_nobody", &key(&client));
    let a = refused(
        exchange(api, &client.signing_key.sign(&unknown_client)).await,
        "registered",
    );
    let others_key = claims(api, &iss, &key(&other));
    let b = refused(
        exchange(api, &other.signing_key.sign(&others_key)).await,
        "registered",
    );
    assert_eq!(a, b);

    // The right key named, but signed by another.
    let forged = claims(api, &iss, &key(&client));
    refused(
        exchange(api, &other.signing_key.sign(&forged)).await,
        "signature",
    );
    // A tampered payload breaks the signature too.
    let good = client.signing_key.sign(&claims(api, &iss, &key(&client)));
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_claims = claims(api, &iss, &key(&client));
    tampered_claims["jti"] = json!("tampered");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&tampered_claims.to_string()),
        parts[2]
    );
    refused(exchange(api, &tampered).await, "signature");

    let mut old = claims(api, &iss, &key(&client));
    old["iat"] = json!(api.clock.now().secs() - 301);
    refused(
        exchange(api, &client.signing_key.sign(&old)).await,
        "in the past",
    );
    let mut future = claims(api, &iss, &key(&client));
    future["iat"] = json!(api.clock.now().secs() + 61);
    refused(
        exchange(api, &client.signing_key.sign(&future)).await,
        "in the future",
    );
    // The window's edges are inside it.
    let mut edge = claims(api, &iss, &key(&client));
    edge["iat"] = json!(api.clock.now().secs() - 300);
    assert_eq!(
        exchange(api, &client.signing_key.sign(&edge)).await.0,
        StatusCode::OK
    );
    edge["iat"] = json!(api.clock.now().secs() + 60);
    edge["jti"] = json!("edge-future");
    assert_eq!(
        exchange(api, &client.signing_key.sign(&edge)).await.0,
        StatusCode::OK
    );

    let once = api.auth_token(&client);
    assert_eq!(exchange(api, &once).await.0, StatusCode::OK);
    refused(exchange(api, &once).await, "already used");

    let too_long = "a".repeat(5000);
    refused(exchange(api, &too_long).await, "longer than");

    for body in [
        json!({"token": api.auth_token(&client), "tokenType": "access"}),
        json!({"token": api.auth_token(&client)}),
        json!({"tokenType": "auth"}),
        json!("token"),
    ] {
        let (status, answer) = api.call(Method::POST, "/auth", None, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let (status, _) = api.call_raw(Method::POST, "/auth", None, Some("{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.call(Method::GET, "/auth", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn a_raced_auth_token_is_accepted_once(api: &TestApi) {
    let client = api.new_client("Acme").await;
    let token = api.auth_token(&client);
    let attempts = (0..12).map(|_| exchange(api, &token));
    let results = join_all(attempts).await;
    let accepted = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(accepted, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|(s, a)| *s == StatusCode::OK
            || a["message"].as_str().unwrap().contains("already used")));
}

on_both_backends!(
    an_access_token_opens_the_other_endpoints,
    every_auth_rule_refuses_with_its_reason,
    a_raced_auth_token_is_accepted_once,
);
