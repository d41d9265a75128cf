//! `Idempotency-Key` over HTTP, on every route that creates something: a
//! retry gets the first answer without the work being done again, another
//! request under the same key is 422, failures are not kept, keys belong to
//! one account and expire, and racing retries do the work once.

use api_tests::{on_both_backends, ClockText, TestApi};
use futures_util::future::join_all;
use http::{Method, StatusCode};
use http_api::ROUTES;
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const V4: &str = "/api/license/management/v4";
const CHALLENGES: &str = "/v1/mfa/challenges/activation";
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// One creating route: its path, content type, a body, and another body.
struct Case {
    method: Method,
    path: String,
    content_type: &'static str,
    body: String,
    other_body: String,
}

fn json_case(path: impl Into<String>, body: Value, other_body: Value) -> Case {
    Case {
        method: Method::POST,
        path: path.into(),
        content_type: JSON,
        body: body.to_string(),
        other_body: other_body.to_string(),
    }
}

fn device(serial: &str) -> Value {
    json!({"serialNum": serial, "protocol": "openpaygo", "secretKey": KEY, "startingCode": 516959010})
}

fn subscription(name: &str) -> Value {
    json!({"type": "CONTRACT_PERPETUAL", "name": name, "status": "ACTIVE", "price": "1"})
}

fn challenge(person: &str) -> Value {
    json!({"person_id": person, "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"})
}

async fn post(
    api: &TestApi,
    authorization: &str,
    case_path: &str,
    content_type: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, http::HeaderMap, Value) {
    send(
        api,
        Method::POST,
        authorization,
        case_path,
        content_type,
        key,
        body,
    )
    .await
}

/// An RFC 3339 time `days` on from the API's clock.
fn in_days(api: &TestApi, days: i64) -> String {
    domain::clock::Timestamp::parse_rfc3339(&api.clock.now_rfc3339())
        .unwrap()
        .plus_secs(days * 86_400)
        .to_rfc3339()
}

async fn send(
    api: &TestApi,
    method: Method,
    authorization: &str,
    case_path: &str,
    content_type: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, http::HeaderMap, Value) {
    let mut headers = vec![
        ("authorization", authorization),
        ("content-type", content_type),
    ];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    api.send(method, case_path, &headers, Some(body)).await
}

async fn every_creating_route_replays_its_first_answer(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let (_, _, product) = post(
        api,
        &bearer,
        &format!("{V4}/products"),
        JSON,
        None,
        r#"{"name": "Seed"}"#,
    )
    .await;
    let pid = product["id"].as_str().unwrap().to_owned();
    let (_, _, seed) = post(
        api,
        &bearer,
        CHALLENGES,
        JSON,
        None,
        &challenge("seed").to_string(),
    )
    .await;
    let cid = seed["id"].as_str().unwrap().to_owned();

    // A device with a plan, for the payment case.
    post(
        api,
        &bearer,
        "/devices",
        JSON,
        None,
        &json!({"serialNum": "ID-PAID", "protocol": "nexus_full"}).to_string(),
    )
    .await;
    let plan = json!({"currency": "KES", "dailyRate": "10"}).to_string();
    let (status, _, answer) = send(
        api,
        Method::PUT,
        &bearer,
        "/devices/ID-PAID/plan",
        JSON,
        None,
        &plan,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let cases = [
        json_case("/devices", device("ID-1"), device("ID-2")),
        json_case(
            "/codes",
            json!({"serialNum": "ID-1", "codeType": "add_time", "arg": 1}),
            json!({"serialNum": "ID-1", "codeType": "add_time", "arg": 2}),
        ),
        json_case(
            "/batch",
            json!({"items": [{"serialNum": "ID-1", "codeType": "add_time", "arg": 3}]}),
            json!({"items": [{"serialNum": "ID-1", "codeType": "add_time", "arg": 4}]}),
        ),
        json_case(
            format!("{V4}/products"),
            json!({"name": "One", "sku": "one"}),
            json!({"name": "Two"}),
        ),
        json_case(
            format!("{V4}/licenses"),
            json!({"product_id": pid, "user_id": "U1"}),
            json!({"product_id": pid, "user_id": "U2"}),
        ),
        json_case(
            format!("{V4}/licenses/batch_create"),
            json!({"licenses": [{"product_id": pid, "user_id": "U3"}]}),
            json!({"licenses": [{"product_id": pid, "user_id": "U4"}]}),
        ),
        Case {
            method: Method::POST,
            path: "/API/Public/v1/Discounts/r1/Create".into(),
            content_type: FORM,
            body: format!("productId={pid}&percentage=15"),
            other_body: format!("productId={pid}&percentage=20"),
        },
        json_case(
            "/payments",
            json!({"serialNum": "ID-PAID", "amount": "30", "currency": "KES",
                "reference": "IDEM-1", "paidAt": "2026-11-22T10:00:00Z"}),
            json!({"serialNum": "ID-PAID", "amount": "30", "currency": "KES",
                "reference": "IDEM-2", "paidAt": "2026-11-22T10:00:00Z"}),
        ),
        Case {
            method: Method::PUT,
            ..json_case(
                "/devices/ID-1/credit",
                json!({"until": in_days(api, 20)}),
                json!({"until": in_days(api, 23)}),
            )
        },
        json_case("/create", subscription("Sub"), subscription("Other")),
        json_case(CHALLENGES, challenge("p1"), challenge("p2")),
        json_case(
            "/webhooks",
            json!({"url": "https://127.0.0.1/one", "events": ["payment.received"]}),
            json!({"url": "https://127.0.0.1/two", "events": ["payment.received"]}),
        ),
        json_case(
            format!("{CHALLENGES}/{cid}/delivery_events"),
            json!({"type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z"}),
            json!({"type": "DELIVERED", "timestamp": "2026-11-21T09:00:00Z"}),
        ),
    ];

    // The cases are every creating route of the table, no more, no less.
    let mut covered: Vec<String> = cases
        .iter()
        .map(|c| {
            let path = c
                .path
                .replace(&cid, "{id}")
                .replace("/ID-1/", "/{serialNum}/");
            format!("{} {path}", c.method)
        })
        .collect();
    let mut creating: Vec<String> = ROUTES
        .iter()
        .filter(|r| r.creates)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    covered.sort();
    creating.sort();
    assert_eq!(covered, creating);

    for (i, case) in cases.iter().enumerate() {
        let key = format!("retry-{i}");
        let attempt = |key: Option<String>, body: String| {
            let (method, path, content_type, bearer) = (
                case.method.clone(),
                case.path.clone(),
                case.content_type,
                bearer.clone(),
            );
            async move {
                send(
                    api,
                    method,
                    &bearer,
                    &path,
                    content_type,
                    key.as_deref(),
                    &body,
                )
                .await
            }
        };
        let first = attempt(Some(key.clone()), case.body.clone()).await;
        assert!(first.0.is_success(), "{}: {}", case.path, first.2);
        let again = attempt(Some(key.clone()), case.body.clone()).await;
        if case.path == "/batch" {
            // The batch answers its current state (docs/batch.md): the same
            // batch, possibly further along. It keeps its own key with the
            // batch, so its answer is not marked as replayed.
            assert_eq!((again.0, &again.2["id"]), (first.0, &first.2["id"]));
        } else {
            assert_eq!((again.0, &again.2), (first.0, &first.2), "{}", case.path);
            assert_eq!(again.1["idempotent-replayed"], "true", "{}", case.path);
        }
        assert_eq!(
            again.1.get("location"),
            first.1.get("location"),
            "{}",
            case.path
        );
        let other = attempt(Some(key), case.other_body.clone()).await;
        assert_eq!(
            other.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {}",
            case.path,
            other.2
        );
        let without_key = attempt(None, case.other_body.clone()).await;
        assert!(
            without_key.0.is_success(),
            "{}: {}",
            case.path,
            without_key.2
        );
    }

    // The device exists once: the replay did not register it again.
    let (status, _, answer) = post(
        api,
        &bearer,
        "/devices",
        JSON,
        None,
        &device("ID-1").to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (_, codes) = api
        .get(
            "/codes?serialNum=ID-1&codeType=add_time&limit=100",
            &bearer[7..],
        )
        .await;
    let args: Vec<u64> = codes["codes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["batchId"].is_null())
        .map(|c| c["arg"].as_u64().unwrap())
        .collect();
    assert_eq!(args.iter().filter(|a| **a == 1).count(), 1, "{codes}");
}

async fn failures_are_not_kept_and_keys_expire(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let code = json!({"serialNum": "LATE", "codeType": "unlock"}).to_string();

    let (status, _, _) = post(api, &bearer, "/codes", JSON, Some("k"), &code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    post(
        api,
        &bearer,
        "/devices",
        JSON,
        None,
        &device("LATE").to_string(),
    )
    .await;
    let (status, headers, first) = post(api, &bearer, "/codes", JSON, Some("k"), &code).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a refusal is not replayed: {first}"
    );
    assert!(headers.get("idempotent-replayed").is_none());

    // Another account's key of the same name is its own.
    let other = api.new_client("Other").await;
    let other_bearer = format!("Bearer {}", api.login(&other).await);
    let (status, _, _) = post(api, &other_bearer, "/codes", JSON, Some("k"), &code).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no replay of Acme's code");

    let batch =
        json!({"items": [{"serialNum": "LATE", "codeType": "add_time", "arg": 1}]}).to_string();
    let (_, _, first_batch) = post(api, &bearer, "/batch", JSON, Some("b"), &batch).await;

    api.clock
        .advance_secs(domain::idempotency::KEY_TTL_SECS - 1);
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let (_, _, replay) = post(api, &bearer, "/codes", JSON, Some("k"), &code).await;
    assert_eq!(replay, first);
    api.clock.advance_secs(1);
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let (status, headers, fresh) = post(api, &bearer, "/codes", JSON, Some("k"), &code).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    assert_ne!(fresh["id"], first["id"], "an expired key runs again");
    let (status, _, fresh_batch) = post(api, &bearer, "/batch", JSON, Some("b"), &batch).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fresh_batch}");
    assert_ne!(
        fresh_batch["id"], first_batch["id"],
        "the batch's key expires too"
    );
    assert!(fresh["count"].as_u64() > first["count"].as_u64());

    for bad in ["", "has space", &"k".repeat(129), "caf\u{e9}"] {
        let (status, _, answer) = post(api, &bearer, "/codes", JSON, Some(bad), &code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {answer}");
        assert_eq!(answer["field"], "Idempotency-Key");
    }
}

async fn racing_retries_issue_one_code(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let bearer = format!("Bearer {}", api.login(&acme).await);
    post(
        api,
        &bearer,
        "/devices",
        JSON,
        None,
        &device("RACE").to_string(),
    )
    .await;
    let code = json!({"serialNum": "RACE", "codeType": "add_time", "arg": 7}).to_string();
    let answers =
        join_all((0..12).map(|_| post(api, &bearer, "/codes", JSON, Some("raced"), &code))).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::CREATED)
        .map(|(_, _, body)| body)
        .collect();
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|body| *body == created[0]),
        "one answer for all"
    );
    for (status, headers, body) in &answers {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"], "idempotency_key_in_use");
            assert!(headers.get("retry-after").is_some());
        }
    }
    let (_, codes) = api.get("/codes?serialNum=RACE", &bearer[7..]).await;
    assert_eq!(codes["codes"].as_array().unwrap().len(), 1, "{codes}");
}

on_both_backends!(
    every_creating_route_replays_its_first_answer,
    failures_are_not_kept_and_keys_expire,
    racing_retries_issue_one_code,
);
