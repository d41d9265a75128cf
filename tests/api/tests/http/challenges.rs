//! Activation challenges through the local API on both backends: create
//! (and its 409 and override), list, retrieve, delete, verify with its
//! races and attempt limit, delivery events, and the cleanup.

use api_tests::serde_json::{json, Value};
use api_tests::{on_both_backends, TestApi};
use http::{Method, StatusCode};

const BASE: &str = "/v1/mfa/challenges/activation";

fn person_body(person: &str, origin: &str) -> Value {
    json!({"person_id": person, "origin": origin, "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"})
}

async fn create(api: &TestApi, token: &str, person: &str) -> Value {
    let (status, body) = api
        .post(BASE, token, person_body(person, "MOBILE_APP"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn verify(
    api: &TestApi,
    token: &str,
    id: &str,
    person: &str,
    code: &str,
) -> (StatusCode, Value) {
    api.post(
        &format!("{BASE}/{id}/verify"),
        token,
        json!({"person_id": person, "code": code}),
    )
    .await
}

async fn challenges_are_created_listed_and_deleted(api: &TestApi) {
    let bank = api.new_client("Bank").await;
    let token = api.login(&bank).await;
    let other = api.new_client("Other bank").await;
    let other_token = api.login(&other).await;

    let (status, _) = api
        .call(Method::POST, BASE, None, Some(&person_body("p1", "WEB")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let first = create(api, &token, "p1").await;
    let code = first["code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    assert!(
        code.bytes()
            .all(|b| domain::challenges::CODE_ALPHABET.contains(&b)),
        "{code}"
    );
    assert_eq!(
        (
            first["usage_count"].as_u64(),
            first["max_usage_count"].as_u64()
        ),
        (Some(0), Some(5))
    );
    assert_eq!(first["person_id"], "p1");
    assert_eq!(first["origin"], "MOBILE_APP");
    let created = first["created_at"].as_str().unwrap();
    assert_eq!(
        (created.len(), created.ends_with('Z')),
        (20, true),
        "{created}"
    );
    let id = first["id"].as_str().unwrap().to_owned();

    let (status, body) = api.post(BASE, &token, person_body("p1", "WEB")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("challenge_exists"))
    );
    let (status, body) = api.post(BASE, &other_token, person_body("p1", "WEB")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another bank's person is another person: {body}"
    );

    // The override, in the query or in the body.
    api.clock.advance_secs(5);
    let (status, second) = api
        .post(
            &format!("{BASE}?invalidate_existing_code=true"),
            &token,
            person_body("p1", "WEB"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["code"], first["code"]);
    let (_, old) = api.get(&format!("{BASE}/{id}"), &token).await;
    assert_eq!(
        old["expires_at"], second["created_at"],
        "the old one is marked expired"
    );
    let mut body = person_body("p1", "WEBUI");
    body["invalidate_existing_code"] = json!(true);
    let (status, third) = api.post(BASE, &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{third}");

    for (bad, field) in [
        (person_body("p2", "SOLARISBANK"), "origin"),
        (person_body("p2", "FAX"), "origin"),
        (json!({"origin": "WEB"}), "person_id"),
        (
            json!({"person_id": "p2", "origin": "WEB", "purpose": "LOGIN"}),
            "purpose",
        ),
        (
            json!({"person_id": "p2", "origin": "WEB", "delivery_method": "EMAIL"}),
            "delivery_method",
        ),
    ] {
        let (status, body) = api.post(BASE, &token, bad).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, _) = api
        .post(
            &format!("{BASE}?invalidate_existing_code=yes"),
            &token,
            person_body("p2", "WEB"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Retrieve and scope.
    let (status, _) = api.get(&format!("{BASE}/{id}"), &other_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.get(&format!("{BASE}/nope"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Listing.
    for person in ["p2", "p3", "p4"] {
        create(api, &token, person).await;
    }
    let list = |query: &str| format!("{BASE}?{query}");
    let (status, live) = api.get(&list(""), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&live).len(), 4, "p1's newest and p2-p4: {live}");
    let (_, everything) = api
        .get(&list("filter%5Binclude_expired%5D=true"), &token)
        .await;
    assert_eq!(ids(&everything).len(), 6);
    assert_eq!(ids(&everything)[0], id, "creation order");
    let (_, p1) = api
        .get(
            &list("filter%5Bperson_id%5D=p1&filter%5Binclude_expired%5D=true"),
            &token,
        )
        .await;
    assert_eq!(ids(&p1).len(), 3);
    let (_, webui) = api.get(&list("filter%5Borigin%5D=WEBUI"), &token).await;
    assert_eq!(ids(&webui), vec![third["id"].as_str().unwrap().to_owned()]);
    let (_, page) = api
        .get(
            &list("page%5Bsize%5D=2&page%5Bnumber%5D=2&filter%5Binclude_expired%5D=true"),
            &token,
        )
        .await;
    assert_eq!(ids(&page), ids(&everything)[2..4].to_vec());
    let (_, past_end) = api
        .get(&list("page%5Bsize%5D=5&page%5Bnumber%5D=3"), &token)
        .await;
    assert_eq!(past_end, json!([]));
    let (_, theirs) = api
        .get(&list("filter%5Binclude_expired%5D=true"), &other_token)
        .await;
    assert_eq!(ids(&theirs).len(), 1);
    for bad in [
        "page%5Bsize%5D=0",
        "page%5Bsize%5D=101",
        "page%5Bnumber%5D=0",
        "page%5Bsize%5D=100&page%5Bnumber%5D=101",
        "filter%5Binclude_expired%5D=maybe",
        "filter%5Bpurpose%5D=LOGIN",
        "filter%5Bperson_id%5D=has%20space",
    ] {
        let (status, body) = api.get(&list(bad), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Delete marks it expired; the code stops working.
    let target = third["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("{BASE}/{target}"),
            Some(&format!("Bearer {other_token}")),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another bank cannot delete it"
    );
    let (status, body) = api
        .call(
            Method::DELETE,
            &format!("{BASE}/{target}"),
            Some(&format!("Bearer {token}")),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, deleted) = api.get(&format!("{BASE}/{target}"), &token).await;
    let now = domain::clock::Clock::now(api.clock.as_ref());
    assert_eq!(
        deleted["expires_at"].as_str().unwrap(),
        format!("{}Z", &now.to_rfc3339()[..19])
    );
    let (status, body) = verify(api, &token, target, "p1", third["code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_deleted"))
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("{BASE}/{target}"),
            Some(&format!("Bearer {token}")),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "deleting again changes nothing"
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("{BASE}/unknown"),
            Some(&format!("Bearer {token}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The person may get a new code without the override now.
    create(api, &token, "p1").await;
}

async fn verification_counts_uses_and_limits_attempts(api: &TestApi) {
    let bank = api.new_client("Bank").await;
    let token = api.login(&bank).await;
    let challenge = create(api, &token, "p1").await;
    let id = challenge["id"].as_str().unwrap();
    let code = challenge["code"].as_str().unwrap();

    let (status, body) = verify(api, &token, id, "p1", "AAAAAAAAAA").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_code"))
    );
    let (status, _) = verify(api, &token, id, "p2", code).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another person");
    let typed = format!("{}-{}", code[..5].to_lowercase(), &code[5..]);
    let (status, body) = verify(api, &token, id, "p1", &typed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["usage_count"], 1);
    for bad in [
        json!({"code": code}),
        json!({"person_id": "p1"}),
        json!({"person_id": "p1", "code": ""}),
    ] {
        let (status, _) = api.post(&format!("{BASE}/{id}/verify"), &token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    // Wrong codes: four more fill the window (one was spent above).
    for _ in 0..4 {
        let (status, _) = verify(api, &token, id, "p1", "AAAAAAAAAA").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let request = hyper_request(api, id, &token, code);
    let (status, retry_after, body) = request.await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: i64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    api.clock.advance_secs(retry);
    // Access tokens live 15 minutes; log in again after moving time.
    let token = api.login(&bank).await;
    let (status, body) = verify(api, &token, id, "p1", code).await;
    assert_eq!(
        (status, body["usage_count"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );

    // Racing uses: never more than max_usage_count succeed.
    let fresh = create(api, &token, "racer").await;
    let (fresh_id, fresh_code) = (
        fresh["id"].as_str().unwrap().to_owned(),
        fresh["code"].as_str().unwrap().to_owned(),
    );
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (base, token, id, code) = (
                api.base.clone(),
                token.clone(),
                fresh_id.clone(),
                fresh_code.clone(),
            );
            tokio::spawn(async move {
                let body = json!({"person_id": "racer", "code": code});
                let path = format!("{BASE}/{id}/verify");
                api_tests::status_of(
                    &base,
                    Method::POST,
                    &path,
                    &format!("Bearer {token}"),
                    Some(&body),
                )
                .await
            })
        })
        .collect();
    let (mut ok, mut exhausted) = (0, 0);
    for racer in racers {
        match racer.await.unwrap() {
            200 => ok += 1,
            422 => exhausted += 1,
            other => panic!("status {other}"),
        }
    }
    assert_eq!((ok, exhausted), (5, 11));
    let (status, body) = verify(api, &token, &fresh_id, "racer", &fresh_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("challenge_exhausted")
        )
    );

    // Replaced and expired codes.
    let old = create(api, &token, "p3").await;
    let (_, _) = api
        .post(
            &format!("{BASE}?invalidate_existing_code=true"),
            &token,
            person_body("p3", "WEB"),
        )
        .await;
    let (status, body) = verify(
        api,
        &token,
        old["id"].as_str().unwrap(),
        "p3",
        old["code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("challenge_invalidated")
        )
    );
    let later = create(api, &token, "p4").await;
    api.clock.advance_secs(14 * 86_400);
    let token = api.login(&bank).await;
    let (status, body) = verify(
        api,
        &token,
        later["id"].as_str().unwrap(),
        "p4",
        later["code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("challenge_expired"))
    );
}

/// A verify through raw hyper, for the Retry-After header.
async fn hyper_request(
    api: &TestApi,
    id: &str,
    token: &str,
    code: &str,
) -> (StatusCode, Option<String>, String) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::builder()
        .method(Method::POST)
        .uri(format!("{}{BASE}/{id}/verify", api.base))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(
            json!({"person_id": "p1", "code": code}).to_string(),
        )))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, String::from_utf8_lossy(&body).into_owned())
}

async fn delivery_events_are_recorded_newest_first(api: &TestApi) {
    let bank = api.new_client("Bank").await;
    let token = api.login(&bank).await;
    let other = api.new_client("Other").await;
    let other_token = api.login(&other).await;
    let challenge = create(api, &token, "p1").await;
    let id = challenge["id"].as_str().unwrap();
    let events = format!("{BASE}/{id}/delivery_events");
    let mut made = Vec::new();
    for (kind, at) in [
        ("DISPATCHED", "2026-11-20T09:00:00Z"),
        ("DELIVERED", "2026-11-22T09:00:00Z"),
        ("IN_TRANSIT", "2026-11-21T09:00:00.000Z"),
    ] {
        let (status, body) = api
            .post(
                &events,
                &token,
                json!({"type": kind, "timestamp": at, "provider": "DEUTSCHE POST", "additional_details": "Booking id is 123E"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(
            body["id"], challenge["id"],
            "the document answers with the challenge"
        );
        made.push(kind);
    }
    let (status, listed) = api.get(&events, &token).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["DELIVERED", "IN_TRANSIT", "DISPATCHED"]);
    assert_eq!(listed[0]["provider"], "DEUTSCHE POST");
    let event_id = listed[1]["id"].as_str().unwrap();
    let (status, one) = api.get(&format!("{events}/{event_id}"), &token).await;
    assert_eq!(
        (status, one["type"].as_str()),
        (StatusCode::OK, Some("IN_TRANSIT"))
    );
    assert_eq!(one["timestamp"], "2026-11-21T09:00:00.000Z");
    let (status, body) = api.get(&format!("{events}/nope"), &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("delivery_event_not_found"))
    );
    for path in [events.clone(), format!("{events}/{event_id}")] {
        let (status, _) = api.get(&path, &other_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = api
        .post(
            &events,
            &other_token,
            json!({"type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (bad, field) in [
        (json!({"timestamp": "2026-11-20T09:00:00Z"}), "type"),
        (
            json!({"type": "dispatched", "timestamp": "2026-11-20T09:00:00Z"}),
            "type",
        ),
        (json!({"type": "DISPATCHED"}), "timestamp"),
        (
            json!({"type": "DISPATCHED", "timestamp": "yesterday"}),
            "timestamp",
        ),
        (
            json!({"type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z", "provider": "x".repeat(200)}),
            "provider",
        ),
    ] {
        let (status, body) = api.post(&events, &token, bad).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, _) = api
        .post(
            &format!("{BASE}/unknown/delivery_events"),
            &token,
            json!({"type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_cleanup_expires_and_purges_through_the_local_api(api: &TestApi) {
    let bank = api.new_client("Bank").await;
    let token = api.login(&bank).await;
    let first = create(api, &token, "p1").await;
    create(api, &token, "p2").await;
    api.clock.advance_secs(14 * 86_400);
    let token = api.login(&bank).await;
    let report = api.api.cleanup().await.unwrap();
    assert_eq!(
        (
            report.challenges.marked_expired,
            report.challenges.purged,
            report.challenges.more
        ),
        (2, 0, false)
    );
    let (_, live) = api.get(BASE, &token).await;
    assert_eq!(live, json!([]));
    let (_, kept) = api
        .get(&format!("{BASE}?filter%5Binclude_expired%5D=true"), &token)
        .await;
    assert_eq!(
        ids(&kept).len(),
        2,
        "expired challenges stay for the retention"
    );
    create(api, &token, "p1").await;
    api.clock.advance_secs(30 * 86_400);
    let token = api.login(&bank).await;
    let report = api.api.cleanup().await.unwrap();
    assert_eq!(
        (report.challenges.marked_expired, report.challenges.purged),
        (1, 2)
    );
    let (status, _) = api
        .get(&format!("{BASE}/{}", first["id"].as_str().unwrap()), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "purged");
}

on_both_backends!(
    challenges_are_created_listed_and_deleted,
    verification_counts_uses_and_limits_attempts,
    delivery_events_are_recorded_newest_first,
    the_cleanup_expires_and_purges_through_the_local_api,
);
