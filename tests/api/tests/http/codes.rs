//! Devices and codes through the local API on both backends; every code is
//! typed into a simulated device of its protocol, which must accept it.

use std::collections::BTreeSet;

use api_tests::{on_both_backends, ClockText, TestApi};
use futures_util::future::join_all;
use http::StatusCode;
use keycode::simulator::{Entry, SimulatedDevice};
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";

fn secrets(protocol: DeviceProtocol, starting_code: Option<u32>) -> DeviceSecrets {
    DeviceSecrets {
        protocol,
        key: SecretKey::from_hex(KEY).unwrap(),
        starting_code,
    }
}

async fn devices_are_registered_shown_without_secrets_and_scoped(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let other_token = api.login(&other).await;

    let body = json!({"serialNum": "OP-1", "protocol": "openpaygo", "secretKey": KEY,
        "startingCode": 516959010, "timeDivider": 24, "restrictedDigitSet": true});
    let (status, device) = api.post("/devices", &token, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert_eq!(
        device,
        json!({"serialNum": "OP-1", "protocol": "openpaygo", "extended": false,
            "restrictedDigitSet": true, "timeDivider": 24, "count": 1,
            "createdAt": device["createdAt"],
            "credit": {"state": "locked", "until": null, "updatedAt": device["createdAt"]}})
    );
    let (status, answer) = api.post("/devices", &token, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("device_exists"))
    );
    // Serial numbers are per client: the other client may use the same one.
    assert_eq!(
        api.post("/devices", &other_token, body).await.0,
        StatusCode::CREATED
    );

    let (status, generated) = api
        .post(
            "/devices",
            &token,
            json!({"serialNum": 42, "protocol": "nexus_small"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{generated}");
    assert_eq!(generated["serialNum"], "42");
    assert_eq!(generated["count"], 0);

    for (body, field) in [
        (
            json!({"serialNum": "a b", "protocol": "openpaygo"}),
            "serialNum",
        ),
        (
            json!({"serialNum": "x", "protocol": "openpaygo", "secretKey": "abc"}),
            "secretKey",
        ),
        (
            json!({"serialNum": "x", "protocol": "nexus_full", "timeDivider": 1}),
            "timeDivider",
        ),
    ] {
        let (status, answer) = api.post("/devices", &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field);
    }
    for body in [
        json!({"serialNum": "x", "protocol": "morse"}),
        json!({"serialNum": "x"}),
        json!([]),
    ] {
        let (status, answer) = api.post("/devices", &token, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_body"))
        );
    }

    let (status, shown) = api.get("/devices/OP-1", &token).await;
    assert_eq!(status, StatusCode::OK);
    let text = shown.to_string();
    assert!(
        !text.contains(KEY) && !text.contains("516959010"),
        "no secrets: {text}"
    );
    assert_eq!(
        api.get("/devices/42", &other_token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/devices/nope", &token).await.0,
        StatusCode::NOT_FOUND
    );

    let mut serials = Vec::new();
    let mut path = "/devices?limit=1".to_owned();
    loop {
        let (status, page) = api.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!page.to_string().contains(KEY));
        serials.extend(
            page["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["serialNum"].clone()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/devices?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(serials, [json!("42"), json!("OP-1")]);
    assert_eq!(
        api.get("/devices?limit=0", &token).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/devices?cursor=%%%", &token).await.0,
        StatusCode::BAD_REQUEST
    );
}

/// Issues `requests` in order and types each code into `device`.
async fn issue_and_enter(
    api: &TestApi,
    token: &str,
    device: &mut SimulatedDevice,
    serial: &str,
    requests: &[(&str, u32)],
) -> Vec<Value> {
    let mut issued = Vec::new();
    for (code_type, arg) in requests {
        let body = json!({"serialNum": serial, "codeType": code_type, "arg": arg});
        let (status, code) = api.post("/codes", token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{code_type}: {code}");
        let typed = code["code"].as_str().unwrap();
        assert_eq!(
            device.enter(typed),
            Entry::Accepted,
            "{code_type} {arg}: {typed}"
        );
        issued.push(code);
    }
    issued
}

async fn codes_are_real_keycodes_that_devices_accept(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;

    let openpaygo = DeviceProtocol::OpenPaygo {
        extended: false,
        restricted_digit_set: false,
        time_divider: 1,
    };
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "OP-1", "protocol": "openpaygo",
        "secretKey": KEY, "startingCode": 516959010}),
    )
    .await;
    let mut device = SimulatedDevice::new(secrets(openpaygo, Some(516959010)), 1);
    let issued = issue_and_enter(
        api,
        &token,
        &mut device,
        "OP-1",
        &[
            ("add_time", 3),
            ("add_time", 1),
            ("set_time", 10),
            ("unlock", 0),
        ],
    )
    .await;
    assert!(device.unlocked);
    let first = &issued[0];
    assert_eq!(first["serialNum"], "OP-1");
    assert_eq!(first["codeType"], "add_time");
    assert_eq!(first["arg"], 3);
    assert_eq!(first["clientKey"], acme.key.as_str());
    assert_eq!(first["code"].as_str().unwrap().len(), 9);
    assert!(first["id"].is_string() && first["createdAt"].is_string());
    let counts: Vec<u64> = issued
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");

    let extended = DeviceProtocol::OpenPaygo {
        extended: true,
        restricted_digit_set: true,
        time_divider: 1440,
    };
    api.post("/devices", &token, json!({"serialNum": "OP-X", "protocol": "openpaygo", "extended": true,
        "restrictedDigitSet": true, "timeDivider": 1440, "secretKey": KEY, "startingCode": 123456789})).await;
    let mut device = SimulatedDevice::new(secrets(extended, Some(123456789)), 1);
    issue_and_enter(
        api,
        &token,
        &mut device,
        "OP-X",
        &[("1_minute", 0), ("1_hour", 0), ("add_time", 2)],
    )
    .await;
    assert_eq!(device.credit_seconds, 60 + 3600 + 2 * 86_400);

    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NX-F", "protocol": "nexus_full", "secretKey": KEY}),
    )
    .await;
    let mut device = SimulatedDevice::new(secrets(DeviceProtocol::NexusFull, None), 0);
    issue_and_enter(
        api,
        &token,
        &mut device,
        "NX-F",
        &[
            ("add_time", 2),
            ("1_hour", 0),
            ("set_time", 1),
            ("add_time", 1),
            ("history_reset", 0),
            ("full_reset", 0),
            ("unlock", 0),
        ],
    )
    .await;
    assert!(device.unlocked);

    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NX-S", "protocol": "nexus_small", "secretKey": KEY}),
    )
    .await;
    let mut device = SimulatedDevice::new(secrets(DeviceProtocol::NexusSmall, None), 0);
    issue_and_enter(
        api,
        &token,
        &mut device,
        "NX-S",
        &[("add_time", 1), ("set_time", 3), ("unlock", 0)],
    )
    .await;
    assert!(device.unlocked);

    // The deprecated `data` payload is the days of an add_time code.
    let (status, legacy) = api
        .post("/codes", &token, json!({"serialNum": "NX-S", "data": 2}))
        .await;
    assert_eq!(
        (status, legacy["codeType"].as_str(), legacy["arg"].as_u64()),
        (StatusCode::CREATED, Some("add_time"), Some(2))
    );
}

async fn bad_code_requests_are_refused_without_advancing_the_device(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let other_token = api.login(&other).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "OP-1", "protocol": "openpaygo"}),
    )
    .await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NX-F", "protocol": "nexus_full"}),
    )
    .await;

    let cases = [
        (
            json!({"serialNum": "OP-1", "codeType": "1_hour"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_code_type",
        ),
        (
            json!({"serialNum": "OP-1", "codeType": "credit_reset"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_code_type",
        ),
        (
            json!({"serialNum": "NX-F", "codeType": "1_minute"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_code_type",
        ),
        (
            json!({"serialNum": "NOPE", "codeType": "unlock"}),
            StatusCode::NOT_FOUND,
            "device_not_found",
        ),
        (
            json!({"serialNum": "OP-1", "codeType": "add_time", "arg": 1000}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"serialNum": "OP-1", "codeType": "add_time"}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"serialNum": "OP-1", "codeType": "teleport"}),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            json!({"serialNum": "OP-1", "codeType": "add_time", "arg": "ten"}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
        ),
        (
            json!({"codeType": "unlock"}),
            StatusCode::BAD_REQUEST,
            "malformed_body",
        ),
    ];
    for (body, status, error) in cases {
        let (got, answer) = api.post("/codes", &token, body.clone()).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(error)),
            "{body}: {answer}"
        );
    }
    // Another client's device does not exist for this client.
    let (status, _) = api
        .post(
            "/codes",
            &other_token,
            json!({"serialNum": "OP-1", "codeType": "unlock"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, device) = api.get("/devices/OP-1", &token).await;
    assert_eq!(device["count"], 1, "refused requests leave the count alone");
    let (_, listing) = api.get("/codes", &token).await;
    assert_eq!(listing["codes"], json!([]));
}

async fn racing_code_requests_each_get_their_own_count(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NX-F", "protocol": "nexus_full", "secretKey": KEY}),
    )
    .await;
    let requests = (0..20).map(|_| {
        api.post(
            "/codes",
            &token,
            json!({"serialNum": "NX-F", "codeType": "add_time", "arg": 1}),
        )
    });
    let mut codes: Vec<Value> = join_all(requests)
        .await
        .into_iter()
        .map(|(status, code)| {
            assert_eq!(status, StatusCode::CREATED, "{code}");
            code
        })
        .collect();
    let counts: BTreeSet<u64> = codes.iter().map(|c| c["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, (0..20).collect(), "distinct counts, none skipped");
    codes.sort_by_key(|c| c["count"].as_u64());
    let mut device = SimulatedDevice::new(secrets(DeviceProtocol::NexusFull, None), 0);
    for code in &codes {
        assert_eq!(
            device.enter(code["code"].as_str().unwrap()),
            Entry::Accepted
        );
    }
    assert_eq!(device.credit_seconds, 20 * 86_400);
    // The platform's credit moved with every one of them: no lost update.
    let (_, shown) = api.get("/devices/NX-F", &token).await;
    let until = domain::clock::Timestamp::parse_rfc3339(&api.clock.now_rfc3339())
        .unwrap()
        .plus_secs(20 * 86_400);
    assert_eq!(shown["credit"]["until"], json!(until.to_rfc3339()));
}

async fn codes_are_listed_filtered_sorted_and_paged(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let other_token = api.login(&other).await;
    for serial in ["A", "B"] {
        api.post(
            "/devices",
            &token,
            json!({"serialNum": serial, "protocol": "nexus_full"}),
        )
        .await;
    }
    let start = api.clock.now_rfc3339();
    let mut issued = Vec::new();
    for i in 0..7 {
        let serial = if i % 2 == 0 { "A" } else { "B" };
        let code_type = if i == 3 { "unlock" } else { "add_time" };
        let (_, code) = api
            .post(
                "/codes",
                &token,
                json!({"serialNum": serial, "codeType": code_type, "arg": i}),
            )
            .await;
        issued.push(code);
        api.clock.advance_millis(1000);
    }
    let mut newest_first = ids(&issued);
    newest_first.reverse();

    assert_eq!(
        pages(api, &token, "limit=2").await,
        newest_first,
        "newest first by default"
    );
    assert_eq!(pages(api, &token, "limit=3&order=asc").await, ids(&issued));
    let on_b: Vec<_> = ids(&issued)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(
        pages(api, &token, "serialNum=B&order=asc&limit=1").await,
        on_b
    );
    assert_eq!(
        pages(api, &token, "codeType=unlock").await,
        vec![ids(&issued)[3].clone()]
    );
    let from = issued[2]["createdAt"].as_str().unwrap();
    let to = issued[4]["createdAt"].as_str().unwrap();
    assert_eq!(
        pages(
            api,
            &token,
            &format!("createdFrom={from}&createdTo={to}&order=asc&limit=1")
        )
        .await,
        ids(&issued[2..=4])
    );
    assert_eq!(
        pages(api, &token, &format!("createdFrom={start}&order=asc")).await,
        ids(&issued)
    );

    let (_, theirs) = api.get("/codes", &other_token).await;
    assert_eq!(theirs["codes"], json!([]), "no other client's codes");

    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "order=up",
        "codeType=zap",
        "createdFrom=yesterday",
        "cursor=AAAA",
        "serialNum=a%23b",
        "createdFrom=2026-02-01T00:00:00Z&createdTo=2026-01-01T00:00:00Z",
    ] {
        let (status, answer) = api.get(&format!("/codes?{bad}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }
}

fn ids(codes: &[Value]) -> Vec<String> {
    codes
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `nextCursor` from the first page of `GET /codes?{query}`.
async fn pages(api: &TestApi, token: &str, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = format!("/codes?{query}");
    for _ in 0..20 {
        let (status, page) = api.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(page["codes"].as_array().unwrap()));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/codes?{query}&cursor={cursor}"),
            None => return seen,
        }
    }
    panic!("paging did not end");
}

on_both_backends!(
    devices_are_registered_shown_without_secrets_and_scoped,
    codes_are_real_keycodes_that_devices_accept,
    bad_code_requests_are_refused_without_advancing_the_device,
    racing_code_requests_each_get_their_own_count,
    codes_are_listed_filtered_sorted_and_paged,
);
