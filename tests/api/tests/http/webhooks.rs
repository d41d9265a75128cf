//! Webhooks through the local API on both backends, delivered to a
//! receiver that verifies every request with the PyPI `standardwebhooks`
//! package: endpoints and their secrets, `payment.received` from the
//! payment's own transaction, retries under one `webhook-id`, 410, secret
//! rotation, refused addresses, and a dispatcher that restarts.

use api_tests::receiver::Receiver;
use api_tests::{on_both_backends, TestApi};
use domain::clock::Clock;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";

async fn create(api: &TestApi, token: &str, body: Value) -> (StatusCode, Value) {
    api.post("/webhooks", token, body).await
}

async fn endpoint(api: &TestApi, token: &str, url: &str, events: &[&str]) -> Value {
    let (status, created) = create(api, token, json!({"url": url, "events": events})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn patch(api: &TestApi, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    api.call_as(
        Method::PATCH,
        &format!("/webhooks/{id}"),
        &format!("Bearer {token}"),
        Some(body),
    )
    .await
}

async fn send_test(api: &TestApi, token: &str, id: &str) -> (StatusCode, Value) {
    api.post(&format!("/webhooks/{id}/test"), token, json!({}))
        .await
}

async fn deliveries(api: &TestApi, token: &str, id: &str) -> Vec<Value> {
    let (status, listing) = api.get(&format!("/webhooks/{id}/deliveries"), token).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    listing["deliveries"].as_array().unwrap().clone()
}

/// Moves the platform's clock and the receiver's together, then lets the
/// dispatcher and courier do what is due.
async fn advance(api: &TestApi, receivers: &[&Receiver], secs: i64) {
    api.clock.advance_secs(secs);
    for receiver in receivers {
        receiver.now(api.clock.now().secs()).await;
    }
    api.api.settle_webhooks().await;
}

/// A device with a plan, paid once with `reference`.
async fn pay(api: &TestApi, token: &str, serial: &str, reference: &str) -> Value {
    let (status, device) = api
        .post(
            "/devices",
            token,
            json!({"serialNum": serial, "protocol": "openpaygo", "secretKey": KEY}),
        )
        .await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "{device}"
    );
    let plan = json!({"currency": "KES", "dailyRate": "50"});
    let (status, shown) = api
        .call_raw(
            Method::PUT,
            &format!("/devices/{serial}/plan"),
            Some(&format!("Bearer {token}")),
            Some(&plan.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let (status, paid) = api
        .post(
            "/payments",
            token,
            json!({"serialNum": serial, "amount": "150", "currency": "KES",
                "reference": reference, "paidAt": api.clock.now().to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    paid
}

async fn endpoints_are_managed_and_their_secret_is_shown_once(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.resolver.set("hooks.example.com", &["93.184.216.34"]);
    let (status, created) = create(
        api,
        &token,
        json!({"url": "https://hooks.example.com/in", "events": ["payment.received"],
            "description": "ERP"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["events"], json!(["payment.received"]));

    let (status, shown) = api.get(&format!("/webhooks/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("secret").is_none() && !shown.to_string().contains(&secret[6..]));
    let (_, listing) = api.get("/webhooks", &token).await;
    assert_eq!(listing["endpoints"].as_array().unwrap().len(), 1);
    assert!(!listing.to_string().contains(&secret[6..]));

    let (status, changed) = patch(
        api,
        &token,
        &id,
        json!({"events": ["payment.received", "webhook.disabled"], "description": "ERP 2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["events"],
        json!(["payment.received", "webhook.disabled"])
    );
    assert!(changed.get("secret").is_none());
    let (status, rotated) = patch(api, &token, &id, json!({"rotateSecret": true})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated["previousSecretValidUntil"].is_string(), "{rotated}");

    let (status, disabled) = patch(api, &token, &id, json!({"enabled": false})).await;
    assert_eq!(
        (status, &disabled["enabled"]),
        (StatusCode::OK, &json!(false))
    );
    assert_eq!(send_test(api, &token, &id).await.0, StatusCode::CONFLICT);
    let (_, enabled) = patch(api, &token, &id, json!({"enabled": true})).await;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled.get("disabledReason").is_none(), "{enabled}");

    // Bad input: the field is named, nothing is stored.
    api.resolver.set("inside.example.com", &["10.1.2.3"]);
    for (body, field) in [
        (
            json!({"url": "http://hooks.example.com/", "events": ["payment.received"]}),
            "url",
        ),
        (
            json!({"url": "https://10.0.0.1/", "events": ["payment.received"]}),
            "url",
        ),
        (
            json!({"url": "https://inside.example.com/", "events": ["payment.received"]}),
            "url",
        ),
        (
            json!({"url": "https://nowhere.example.com/", "events": ["payment.received"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["sms.sent"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["webhook.test"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["payment.received", "payment.received"]}),
            "events[1]",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["payment.received"], "description": "x".repeat(201)}),
            "description",
        ),
    ] {
        let (status, error) = create(api, &token, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let (_, error) = create(
        api,
        &token,
        json!({"url": "https://hooks.example.com/", "events": ["nope"]}),
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("payment.received"),
        "{error}"
    );
    assert_eq!(
        patch(api, &token, &id, json!({"url": "https://169.254.169.254/"}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/webhooks/wh_nope", &token).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, listing) = api.get("/webhooks", &token).await;
    assert_eq!(listing["endpoints"].as_array().unwrap().len(), 1);

    // At most 20 per account; deleting one frees its place.
    for _ in 1..20 {
        endpoint(
            api,
            &token,
            "https://hooks.example.com/more",
            &["payment.received"],
        )
        .await;
    }
    let (status, error) = create(
        api,
        &token,
        json!({"url": "https://hooks.example.com/", "events": ["payment.received"]}),
    )
    .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_many_webhooks"))
    );
    let (status, _) = api
        .call_as(
            Method::DELETE,
            &format!("/webhooks/{id}"),
            &format!("Bearer {token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(&format!("/webhooks/{id}"), &token).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = api
        .call_as(
            Method::DELETE,
            &format!("/webhooks/{id}"),
            &format!("Bearer {token}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    endpoint(
        api,
        &token,
        "https://hooks.example.com/again",
        &["payment.received"],
    )
    .await;
}

async fn racing_creates_never_pass_the_limit(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let attempts = (0..30).map(|i| {
        let token = token.clone();
        async move {
            create(
                api,
                &token,
                json!({"url": format!("https://127.0.0.1/{i}"), "events": ["payment.received"]}),
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 20, "{statuses:?}");
    let (_, listing) = api.get("/webhooks", &token).await;
    assert_eq!(listing["endpoints"].as_array().unwrap().len(), 20);
}

async fn a_payment_arrives_signed_and_retries_keep_one_id(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    receiver.statuses(&[500, 500, 500, 503]).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let hook = endpoint(api, &token, &receiver.url, &["payment.received"]).await;
    receiver.secrets(&[hook["secret"].as_str().unwrap()]).await;
    let id = hook["id"].as_str().unwrap();

    let paid = pay(api, &token, "OP-1", "TX-1").await;
    api.api.settle_webhooks().await;
    // Well past each retry delay with its jitter: 5 s, 5 min, 30 min, 2 h.
    for wait in [6, 331, 1_981, 7_921] {
        advance(api, &[&receiver], wait).await;
    }
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 5, "{seen:#?}");
    let answered: Vec<i64> = seen
        .iter()
        .map(|r| r["answered"].as_i64().unwrap())
        .collect();
    assert_eq!(answered, [500, 500, 500, 503, 200]);
    for request in &seen {
        assert_eq!(request["verifiedWith"], json!([0]), "{request}");
        assert_eq!(request["id"], seen[0]["id"]);
        let payload = &request["payload"];
        assert_eq!(payload["type"], "payment.received");
        assert_eq!(payload["data"]["payment"]["reference"], "TX-1");
        assert_eq!(payload["data"]["payment"]["id"], paid["payment"]["id"]);
        // The code goes out only to endpoints that opted in.
        assert!(payload["data"]["code"].is_null(), "{payload}");
    }
    let token = api.login(&acme).await;
    let listed = deliveries(api, &token, id).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let delivery = &listed[0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["eventId"], seen[0]["id"]);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    assert_eq!(attempts[0]["statusCode"], 500);
    assert!(attempts[0]["nextRetryAt"].is_string() && attempts[0]["latencyMs"].is_u64());
    assert_eq!(attempts[4]["statusCode"], 200);
    assert!(attempts[4].get("nextRetryAt").is_none());

    // A retry sends the same event again, under the same id.
    let delivery_id = delivery["id"].as_str().unwrap();
    let (status, retried) = api
        .post(
            &format!("/webhooks/{id}/deliveries/{delivery_id}/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &retried["status"]),
        (StatusCode::ACCEPTED, &json!("pending"))
    );
    api.api.settle_webhooks().await;
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[5]["id"], seen[0]["id"]);
    let (status, _) = api
        .post(
            &format!("/webhooks/{id}/deliveries/dlv_000000000000000000000000/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn codes_go_only_to_endpoints_that_opted_in(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let (status, hook) = create(
        api,
        &token,
        json!({"url": receiver.url, "events": ["payment.received"], "includeCodes": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    receiver.secrets(&[hook["secret"].as_str().unwrap()]).await;
    let paid = pay(api, &token, "OP-2", "TX-2").await;
    api.api.settle_webhooks().await;
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["payload"]["data"]["code"], paid["code"]);
    assert!(paid["code"]["code"].is_string(), "{paid}");
}

async fn gone_disables_the_endpoint_and_others_hear_of_it(api: &TestApi) {
    let (gone, watcher) = (Receiver::start().await, Receiver::start().await);
    for receiver in [&gone, &watcher] {
        receiver.now(api.clock.now().secs()).await;
    }
    gone.statuses(&[410]).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let first = endpoint(api, &token, &gone.url, &["payment.received"]).await;
    let second = endpoint(api, &token, &watcher.url, &["webhook.disabled"]).await;
    gone.secrets(&[first["secret"].as_str().unwrap()]).await;
    watcher.secrets(&[second["secret"].as_str().unwrap()]).await;
    let first_id = first["id"].as_str().unwrap();

    let (status, sent) = send_test(api, &token, first_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["type"], "webhook.test");
    api.api.settle_webhooks().await;

    let seen = gone.requests().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["payload"]["type"], "webhook.test");
    assert_eq!(seen[0]["id"], sent["eventId"]);
    let (_, shown) = api.get(&format!("/webhooks/{first_id}"), &token).await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(shown["disabledReason"].as_str().unwrap().contains("410"));
    let listed = deliveries(api, &token, first_id).await;
    assert_eq!(listed[0]["status"], "failed");

    // The watcher hears of it, and never of the other endpoint's test.
    let heard = watcher.requests().await;
    assert_eq!(heard.len(), 1, "{heard:#?}");
    assert_eq!(heard[0]["payload"]["type"], "webhook.disabled");
    assert_eq!(heard[0]["payload"]["data"]["endpoint"]["id"], first_id);
    assert_eq!(heard[0]["verifiedWith"], json!([0]));
    assert!(!heard[0]["payload"].to_string().contains("whsec_"));

    // A disabled endpoint gets no payments until it is enabled again.
    pay(api, &token, "OP-3", "TX-3").await;
    api.api.settle_webhooks().await;
    assert_eq!(gone.requests().await.len(), 1);
}

async fn five_days_of_failures_disable_the_endpoint(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    receiver.statuses(&[500; 40]).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let hook = endpoint(api, &token, &receiver.url, &["payment.received"]).await;
    let id = hook["id"].as_str().unwrap();
    pay(api, &token, "OP-4", "TX-4").await;
    api.api.settle_webhooks().await;
    for wait in [6, 331, 1_981, 7_921, 19_801] {
        advance(api, &[&receiver], wait).await;
    }
    // Then every 10 hours, until five days have passed.
    for _ in 0..12 {
        advance(api, &[&receiver], 39_601).await;
    }
    let token = api.login(&acme).await;
    let (_, shown) = api.get(&format!("/webhooks/{id}"), &token).await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(
        shown["disabledReason"]
            .as_str()
            .unwrap()
            .contains("five days"),
        "{shown}"
    );
    let seen = receiver.requests().await;
    assert!(seen.len() >= 10, "{} attempts", seen.len());
    assert!(seen.iter().all(|r| r["id"] == seen[0]["id"]));
    let after = seen.len();
    advance(api, &[&receiver], 39_601).await;
    assert_eq!(
        receiver.requests().await.len(),
        after,
        "a disabled endpoint gets nothing"
    );
}

async fn a_rotated_secret_verifies_with_both_during_the_overlap(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let hook = endpoint(api, &token, &receiver.url, &["payment.received"]).await;
    let id = hook["id"].as_str().unwrap();
    let old = hook["secret"].as_str().unwrap().to_owned();
    let (_, rotated) = patch(api, &token, id, json!({"rotateSecret": true})).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    receiver.secrets(&[&old, &new]).await;

    send_test(api, &token, id).await;
    api.api.settle_webhooks().await;
    let seen = receiver.requests().await;
    assert_eq!(seen[0]["verifiedWith"], json!([0, 1]), "{:#?}", seen[0]);

    // A day later only the new secret signs.
    api.clock.advance_secs(86_401);
    receiver.now(api.clock.now().secs()).await;
    let token = api.login(&acme).await;
    send_test(api, &token, id).await;
    api.api.settle_webhooks().await;
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["verifiedWith"], json!([1]), "{:#?}", seen[1]);
    assert_ne!(seen[0]["id"], seen[1]["id"]);
}

async fn a_host_that_moves_inside_is_refused_at_delivery(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.resolver.set("receiver.example.com", &["127.0.0.1"]);
    let url = receiver.url.replace("127.0.0.1", "receiver.example.com");
    let hook = endpoint(api, &token, &url, &["payment.received"]).await;
    let id = hook["id"].as_str().unwrap();
    send_test(api, &token, id).await;
    api.api.settle_webhooks().await;
    assert_eq!(
        receiver.requests().await.len(),
        1,
        "the name reached loopback"
    );

    // Each refused kind, after the endpoint was accepted: refused before
    // any connection, and the attempt says why.
    for (addresses, kind) in [
        (vec!["10.0.0.7"], "private"),
        (vec!["93.184.216.34", "192.168.1.20"], "private"),
        (vec!["100.64.1.1"], "private"),
        (vec!["fd00::7"], "private"),
        (vec!["::ffff:10.0.0.7"], "private"),
        (vec!["169.254.3.4"], "link-local"),
        (vec!["fe80::1"], "link-local"),
        (vec!["169.254.169.254"], "metadata"),
        (vec!["fd00:ec2::254"], "metadata"),
        (vec!["0.0.0.0"], "reserved"),
    ] {
        api.resolver.set("receiver.example.com", &addresses);
        // Newest first: a later clock puts this test's delivery on top.
        api.clock.advance_secs(1);
        let (status, _) = send_test(api, &token, id).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        api.api.settle_webhooks().await;
        let listed = deliveries(api, &token, id).await;
        let attempt = &listed[0]["attempts"][0];
        let error = attempt["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("refused") && error.contains(kind),
            "{addresses:?}: {attempt}"
        );
        assert!(attempt.get("statusCode").is_none());
    }
    assert_eq!(
        receiver.requests().await.len(),
        1,
        "nothing reached the receiver"
    );
}

async fn a_restarted_dispatcher_loses_no_event_and_repeats_none(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let hook = endpoint(api, &token, &receiver.url, &["payment.received"]).await;
    receiver.secrets(&[hook["secret"].as_str().unwrap()]).await;
    // The payment commits; this process "crashes" before dispatching.
    pay(api, &token, "OP-5", "TX-5").await;
    assert!(receiver.requests().await.is_empty());

    // A fresh dispatcher over the same store reads the outbox (or the
    // table's stream) from its start, as Lambda does after a failure.
    let restarted = TestApi::start_on(api.stores.clone(), Default::default()).await;
    restarted
        .clock
        .advance_secs(api.clock.now().secs() - restarted.clock.now().secs());
    restarted.api.settle_webhooks().await;
    // The first process resumes too: the same records handed twice.
    api.api.settle_webhooks().await;
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0]["verifiedWith"], json!([0]));
    assert_eq!(seen[0]["payload"]["data"]["payment"]["reference"], "TX-5");
}

async fn one_tenant_never_reaches_another_tenants_endpoints(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let globex = api.new_client("Globex").await;
    let (acme_token, globex_token) = (api.login(&acme).await, api.login(&globex).await);
    let hook = endpoint(api, &acme_token, &receiver.url, &["payment.received"]).await;
    let id = hook["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/webhooks/{id}")),
        (Method::PATCH, format!("/webhooks/{id}")),
        (Method::DELETE, format!("/webhooks/{id}")),
        (Method::POST, format!("/webhooks/{id}/test")),
        (Method::GET, format!("/webhooks/{id}/deliveries")),
    ] {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let (status, answer) = api
            .call_as(
                method.clone(),
                &path,
                &format!("Bearer {globex_token}"),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (_, listing) = api.get("/webhooks", &globex_token).await;
    assert_eq!(listing["endpoints"], json!([]));
    // Globex's payments never reach Acme's endpoint.
    pay(api, &globex_token, "OP-6", "TX-6").await;
    api.api.settle_webhooks().await;
    assert!(receiver.requests().await.is_empty());
    assert!(api.get(&format!("/webhooks/{id}"), &acme_token).await.0 == StatusCode::OK);
}

/// The receiver's requests by event type, each verified and one per event.
async fn by_type(receiver: &Receiver) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut seen = std::collections::BTreeMap::<String, Vec<Value>>::new();
    for request in receiver.requests().await {
        assert_eq!(request["verifiedWith"], json!([0]), "{request}");
        let payload = request["payload"].clone();
        seen.entry(payload["type"].as_str().unwrap().to_owned())
            .or_default()
            .push(payload);
    }
    seen
}

async fn every_kind_of_change_is_told_with_the_api_s_own_view(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    let kinds = [
        "code.issued",
        "batch.completed",
        "challenge.created",
        "challenge.verified",
        "license.created",
        "license.deleted",
    ];
    let hook = endpoint(api, &token, &receiver.url, &kinds).await;
    receiver.secrets(&[hook["secret"].as_str().unwrap()]).await;

    let (status, _) = api
        .post(
            "/devices",
            &token,
            json!({"serialNum": "NX-E", "protocol": "nexus_full", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, code) = api
        .post(
            "/codes",
            &token,
            json!({"serialNum": "NX-E", "codeType": "add_time", "arg": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let items = [
        json!({"serialNum": "NX-E", "codeType": "add_time", "arg": 1}),
        json!({"serialNum": "GHOST", "codeType": "unlock"}),
    ];
    let (status, batch) = api.post("/batch", &token, json!({ "items": items })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
    let challenges = "/v1/mfa/challenges/activation";
    let (status, challenge) = api
        .post(
            challenges,
            &token,
            json!({"person_id": "p1", "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{challenge}");
    let challenge_id = challenge["id"].as_str().unwrap();
    let (status, verified) = api
        .post(
            &format!("{challenges}/{challenge_id}/verify"),
            &token,
            json!({"person_id": "p1", "code": challenge["code"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let bearer = format!("Bearer {token}");
    let licenses = "/api/license/management/v4";
    let (status, product) = api
        .call_as(
            Method::POST,
            &format!("{licenses}/products"),
            &bearer,
            Some(json!({"name": "Editor"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let (status, license) = api
        .call_as(
            Method::POST,
            &format!("{licenses}/licenses"),
            &bearer,
            Some(json!({"product_id": product["id"], "user_id": "K1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{license}");
    let one = format!("{licenses}/licenses/{}", license["id"].as_str().unwrap());
    let (status, _) = api.call_as(Method::DELETE, &one, &bearer, None).await;
    assert!(status.is_success(), "{status}");

    // The batch completes in the worker; its event follows.
    let mut seen = by_type(&receiver).await;
    for _ in 0..400 {
        api.api.settle_webhooks().await;
        seen = by_type(&receiver).await;
        if seen.len() == kinds.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let names: Vec<&str> = seen.keys().map(String::as_str).collect();
    let mut expected = kinds.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{seen:#?}");
    for (kind, payloads) in &seen {
        assert_eq!(payloads.len(), 1, "{kind}: {payloads:#?}");
    }
    let data = |kind: &str| seen[kind][0]["data"].clone();

    let told = data("code.issued")["code"].clone();
    assert_eq!(told["id"], code["id"]);
    assert_eq!(told["serialNum"], "NX-E");
    assert!(
        told.get("code").is_none(),
        "the code only goes to endpoints that opted in: {told}"
    );
    let told = data("batch.completed")["batch"].clone();
    assert_eq!(told["id"], batch["id"]);
    assert_eq!(
        (
            told["status"].as_str(),
            told["done"].as_u64(),
            told["failed"].as_u64()
        ),
        (Some("completed_with_errors"), Some(1), Some(1)),
        "{told}"
    );
    assert_eq!(told["statusUrl"], batch["statusUrl"]);
    for kind in ["challenge.created", "challenge.verified"] {
        let told = data(kind)["challenge"].clone();
        assert_eq!(told["id"], challenge["id"], "{kind}");
        assert!(told.get("code").is_none(), "{kind}: {told}");
    }
    assert_eq!(data("challenge.created")["challenge"]["usage_count"], 0);
    assert_eq!(data("challenge.verified")["challenge"]["usage_count"], 1);
    for kind in ["license.created", "license.deleted"] {
        let told = data(kind)["license"].clone();
        assert_eq!(told["id"], license["id"], "{kind}");
        assert_eq!(told["product_id"], product["id"], "{kind}");
        assert!(told.get("key").is_none(), "{kind}: {told}");
    }

    // An endpoint that opted in gets the codes and keys as well.
    let (status, _) = patch(
        api,
        &token,
        hook["id"].as_str().unwrap(),
        json!({"includeCodes": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = api
        .post(
            "/codes",
            &token,
            json!({"serialNum": "NX-E", "codeType": "add_time", "arg": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    api.api.settle_webhooks().await;
    let seen = by_type(&receiver).await;
    let told = &seen["code.issued"][1]["data"]["code"];
    assert_eq!((&told["id"], &told["code"]), (&again["id"], &again["code"]));
}

/// A device with `days` of credit from now, on the account of `token`.
async fn device_with_credit(api: &TestApi, token: &str, serial: &str, days: u32) -> Value {
    let (status, device) = api
        .post(
            "/devices",
            token,
            json!({"serialNum": serial, "protocol": "openpaygo", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    top_up(api, token, serial, days).await
}

async fn top_up(api: &TestApi, token: &str, serial: &str, days: u32) -> Value {
    let (status, code) = api
        .post(
            "/codes",
            token,
            json!({"serialNum": serial, "codeType": "add_time", "arg": days}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    let (_, device) = api.get(&format!("/devices/{serial}"), token).await;
    device
}

async fn a_device_about_to_run_out_is_told_once_its_days_ahead(api: &TestApi) {
    let receiver = Receiver::start().await;
    receiver.now(api.clock.now().secs()).await;
    let acme = api.new_client("Acme").await;
    let globex = api.new_client("Globex").await;
    // Globex hears five days ahead; Acme three, the default.
    api.stores
        .notices()
        .set_notice_days(&globex.key, 5)
        .await
        .unwrap();
    let mut hooks = Vec::new();
    for client in [&acme, &globex] {
        let token = api.login(client).await;
        let hook = endpoint(api, &token, &receiver.url, &["device.credit_expiring"]).await;
        hooks.push(hook["secret"].as_str().unwrap().to_owned());
    }
    let secrets: Vec<&str> = hooks.iter().map(String::as_str).collect();
    receiver.secrets(&secrets).await;
    let token = api.login(&acme).await;
    let told = device_with_credit(api, &token, "OP-TOLD", 5).await;
    device_with_credit(api, &token, "OP-TOPPED", 5).await;
    device_with_credit(api, &token, "OP-LATER", 6).await;
    let globex_token = api.login(&globex).await;
    device_with_credit(api, &globex_token, "OP-GLOBEX", 7).await;

    let run = api.api.cleanup().await.unwrap();
    assert_eq!(
        (run.notices.told, run.notices.accounts >= 2),
        (0, true),
        "{run:?}"
    );

    // Two days and a half hour on: OP-TOLD and OP-TOPPED have less than
    // three days left, OP-LATER a day more, and Globex's device five days
    // less half an hour.
    api.clock.advance_secs(2 * 86_400 + 1_800);
    let token = api.login(&acme).await;
    let run = api.api.cleanup().await.unwrap();
    assert_eq!(run.notices.told, 3, "{run:?}");
    // Topped up after its event was written and before it went out:
    // nothing to tell any more.
    top_up(api, &token, "OP-TOPPED", 5).await;
    advance(api, &[&receiver], 1).await;
    let seen = receiver.requests().await;
    let mut serials: Vec<(String, u64)> = seen
        .iter()
        .map(|r| {
            assert_eq!(r["payload"]["type"], "device.credit_expiring", "{r}");
            assert_eq!(r["verifiedWith"].as_array().unwrap().len(), 1, "{r}");
            let data = &r["payload"]["data"];
            (
                data["device"]["serialNum"].as_str().unwrap().to_owned(),
                data["days"].as_u64().unwrap(),
            )
        })
        .collect();
    serials.sort();
    assert_eq!(
        serials,
        [("OP-GLOBEX".to_owned(), 5), ("OP-TOLD".to_owned(), 3)],
        "{seen:#?}"
    );
    let notice = seen
        .iter()
        .find(|r| r["payload"]["data"]["device"]["serialNum"] == "OP-TOLD")
        .unwrap();
    assert_eq!(notice["payload"]["data"]["until"], told["credit"]["until"]);
    assert!(notice["payload"]["data"]["device"]
        .get("secretKey")
        .is_none());

    // Later runs see the same devices in their window and tell nobody again.
    api.clock.advance_secs(600);
    let run = api.api.cleanup().await.unwrap();
    // OP-TOPPED's new end is days away; its old event stays the one.
    assert_eq!(
        (run.notices.told, run.notices.already_told),
        (0, 2),
        "{run:?}"
    );
    advance(api, &[&receiver], 1).await;
    assert_eq!(receiver.requests().await.len(), 2);

    // A day on, OP-LATER's turn.
    api.clock.advance_secs(86_400);
    let run = api.api.cleanup().await.unwrap();
    assert_eq!(run.notices.told, 1, "{run:?}");
    advance(api, &[&receiver], 1).await;
    let seen = receiver.requests().await;
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[2]["payload"]["data"]["device"]["serialNum"],
        "OP-LATER"
    );
}

on_both_backends!(
    a_device_about_to_run_out_is_told_once_its_days_ahead,
    every_kind_of_change_is_told_with_the_api_s_own_view,
    endpoints_are_managed_and_their_secret_is_shown_once,
    racing_creates_never_pass_the_limit,
    a_payment_arrives_signed_and_retries_keep_one_id,
    codes_go_only_to_endpoints_that_opted_in,
    gone_disables_the_endpoint_and_others_hear_of_it,
    five_days_of_failures_disable_the_endpoint,
    a_rotated_secret_verifies_with_both_during_the_overlap,
    a_host_that_moves_inside_is_refused_at_delivery,
    a_restarted_dispatcher_loses_no_event_and_repeats_none,
    one_tenant_never_reaches_another_tenants_endpoints,
);
