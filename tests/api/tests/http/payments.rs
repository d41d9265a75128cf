//! Payment plans and payments through the local API on both backends:
//! money becomes days, and each code the device receives is typed into a
//! simulated device of its protocol, which must take it.

use api_tests::{on_both_backends, ClockText, TestApi};
use domain::clock::Timestamp;
use futures_util::future::join_all;
use http::{Method, StatusCode};
use keycode::simulator::{Entry, SimulatedDevice};
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const DAY: i64 = 86_400;

fn simulated(protocol: DeviceProtocol) -> SimulatedDevice {
    let secrets = DeviceSecrets {
        protocol,
        key: SecretKey::from_hex(KEY).unwrap(),
        starting_code: None,
    };
    SimulatedDevice::new(secrets, 0)
}

async fn put(api: &TestApi, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    api.call_raw(
        Method::PUT,
        path,
        Some(&format!("Bearer {token}")),
        Some(&body.to_string()),
    )
    .await
}

/// Registers `serial` of `protocol` with a plan.
async fn device_with_plan(api: &TestApi, token: &str, serial: &str, protocol: &str, plan: Value) {
    let (status, device) = api
        .post(
            "/devices",
            token,
            json!({"serialNum": serial, "protocol": protocol, "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    let (status, shown) = put(api, token, &format!("/devices/{serial}/plan"), plan).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
}

/// A client "Acme", logged in, with one device of `protocol` on `plan`.
async fn acme_with(
    serial: &str,
    protocol: &str,
    plan: Value,
    api: &TestApi,
) -> (api_tests::TestClient, String) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    device_with_plan(api, &token, serial, protocol, plan).await;
    (acme, token)
}

fn payment(serial: &str, amount: &str, reference: &str, paid_at: &str) -> Value {
    json!({"serialNum": serial, "amount": amount, "currency": "KES", "reference": reference,
        "paidAt": paid_at, "payer": {"phone": "254708374149", "name": "John Doe"}})
}

fn now(api: &TestApi) -> Timestamp {
    Timestamp::parse_rfc3339(&api.clock.now_rfc3339()).unwrap()
}

async fn a_month_of_payments_ends_with_the_credit_the_plan_implies(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let mut token = api.login(&acme).await;
    let plan = json!({"currency": "KES", "dailyRate": "50", "totalPrice": "3000",
        "downPayment": "500", "minimumPayment": "20"});
    device_with_plan(api, &token, "NX-1", "nexus_full", plan).await;
    let mut device = simulated(DeviceProtocol::NexusFull);

    // The operator's own arithmetic, kept beside the platform's: the
    // balance in hundredths and when the credit ends.
    let (mut balance, mut total, mut until) = (0i64, 50_000i64, None::<Timestamp>);
    // 986 a cycle: the 28th payment (day 27) passes the price of 3,000.
    let amounts = [
        "100", "10", "75", "75", "200", "15.5", "34.5", "50", "125.25", "300.75",
    ];
    let mut unlocked = false;
    for day in 0..30i64 {
        let amount = amounts[usize::try_from(day).unwrap() % amounts.len()];
        let (status, outcome) = api
            .post(
                "/payments",
                &token,
                payment(
                    "NX-1",
                    amount,
                    &format!("MONTH-{day}"),
                    &api.clock.now_rfc3339(),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "day {day}: {outcome}");
        let hundredths: i64 = {
            let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
            whole.parse::<i64>().unwrap() * 100 + format!("{fraction:0<2}").parse::<i64>().unwrap()
        };
        total += hundredths;
        balance += hundredths;
        let at = now(api);
        if hundredths < 2_000 {
            assert_eq!(outcome["code"], Value::Null, "day {day}: {outcome}");
        } else if total >= 300_000 && !unlocked {
            assert_eq!(
                outcome["code"]["codeType"], "unlock",
                "day {day}: {outcome}"
            );
            assert_eq!(day, 27);
            unlocked = true;
        } else if unlocked || balance < 5_000 {
            assert_eq!(outcome["code"], Value::Null, "day {day}: {outcome}");
            assert!(outcome["reason"].is_string(), "day {day}: {outcome}");
        } else {
            let days = balance / 5_000;
            balance -= days * 5_000;
            assert_eq!(
                outcome["code"]["codeType"], "add_time",
                "day {day}: {outcome}"
            );
            assert_eq!(outcome["code"]["arg"], days, "day {day}: {outcome}");
            let from = until.filter(|u| *u > at).unwrap_or(at);
            until = Some(from.plus_secs(days * DAY));
        }
        if let Some(code) = outcome["code"]["code"].as_str() {
            assert_eq!(device.enter(code), Entry::Accepted, "day {day}: {outcome}");
        }
        let shown_balance = format!("{}.{:02}", balance / 100, balance % 100);
        let shown_balance = shown_balance.trim_end_matches('0').trim_end_matches('.');
        assert_eq!(outcome["balance"], shown_balance, "day {day}: {outcome}");
        if !unlocked {
            assert_eq!(
                outcome["credit"]["until"],
                json!(until.map(|u| u.to_rfc3339())),
                "day {day}: {outcome}"
            );
        }
        api.clock.advance_secs(DAY);
        token = api.login(&acme).await;
    }
    assert!(unlocked && device.unlocked, "the plan was paid off");
    let (status, plan) = api.get("/devices/NX-1/plan", &token).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["totalPaid"], format!("{}", total / 100));
    assert_eq!(plan["remaining"], "0");
    let (_, shown) = api.get("/devices/NX-1", &token).await;
    assert_eq!(shown["credit"]["state"], "unlocked");

    // Every payment is listed, in paidAt order, page by page.
    let mut references = Vec::new();
    let mut path = "/payments?serialNum=NX-1&limit=7".to_owned();
    for _ in 0..10 {
        let (status, page) = api.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        references.extend(
            page["payments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["payment"]["reference"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/payments?serialNum=NX-1&limit=7&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..30).map(|day| format!("MONTH-{day}")).collect();
    assert_eq!(references, expected);
}

async fn sixteen_copies_of_one_payment_give_one_payment_and_one_code(api: &TestApi) {
    let (_, token) = acme_with(
        "NX-1",
        "nexus_full",
        json!({"currency": "KES", "dailyRate": "50"}),
        api,
    )
    .await;
    let body = payment("NX-1", "175", "RKL51ZZ2XX", "2026-11-22T10:00:00Z");
    let answers = join_all((0..16).map(|_| api.post("/payments", &token, body.clone()))).await;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer, &answers[0].1, "every copy answers the first result");
    }
    assert_eq!(answers[0].1["code"]["arg"], 3);
    assert_eq!(answers[0].1["balance"], "25");
    let (_, codes) = api.get("/codes?serialNum=NX-1", &token).await;
    assert_eq!(codes["codes"].as_array().unwrap().len(), 1, "{codes}");
    let (_, listed) = api.get("/payments?serialNum=NX-1", &token).await;
    assert_eq!(listed["payments"].as_array().unwrap().len(), 1);

    // The same reference for another amount or device is refused.
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NX-2", "protocol": "nexus_full"}),
    )
    .await;
    for other in [
        payment("NX-1", "176", "RKL51ZZ2XX", "2026-11-22T10:00:00Z"),
        payment("NX-2", "175", "RKL51ZZ2XX", "2026-11-22T10:00:00Z"),
    ] {
        let (status, answer) = api.post("/payments", &token, other).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::CONFLICT, Some("payment_reference_conflict")),
            "{answer}"
        );
    }
    // Another tenant may use the same reference for its own device.
    let other = api.new_client("Other").await;
    let other_token = api.login(&other).await;
    device_with_plan(
        api,
        &other_token,
        "NX-1",
        "nexus_full",
        json!({"currency": "KES", "dailyRate": "50"}),
    )
    .await;
    let (status, theirs) = api.post("/payments", &other_token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_ne!(theirs["payment"]["id"], answers[0].1["payment"]["id"]);

    // The tenant's listing holds its own payment only, not the other's.
    let (status, mine) = api.get("/payments", &token).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let ids: Vec<&Value> = mine["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["payment"]["id"])
        .collect();
    assert_eq!(ids, [&answers[0].1["payment"]["id"]]);
    assert_eq!(
        api.get("/payments?serialNum=GHOST", &token).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn the_small_keypad_buys_the_most_days_it_carries_and_keeps_the_rest(api: &TestApi) {
    let (_, token) = acme_with(
        "NS-1",
        "nexus_small",
        json!({"currency": "KES", "dailyRate": "10"}),
        api,
    )
    .await;
    let mut device = simulated(DeviceProtocol::NexusSmall);
    // 2,000 pays for 200 days; ADD_CREDIT carries 183-405 in steps of 3,
    // so the code carries 198 and 20 stays in the balance.
    let (status, outcome) = api
        .post(
            "/payments",
            &token,
            payment("NS-1", "2000", "SMALL-1", "2026-11-22T10:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
    assert_eq!(outcome["code"]["arg"], 198, "{outcome}");
    assert_eq!(outcome["balance"], "20");
    assert_eq!(
        device.enter(outcome["code"]["code"].as_str().unwrap()),
        Entry::Accepted
    );
    assert_eq!(device.credit_seconds, 198 * 86_400);
    let until = now(api).plus_secs(198 * DAY);
    assert_eq!(outcome["credit"]["until"], json!(until.to_rfc3339()));
}

async fn bad_plans_and_payments_are_refused_and_store_nothing(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "BARE", "protocol": "nexus_full"}),
    )
    .await;
    let (status, answer) = api.get("/devices/BARE/plan", &token).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("plan_not_found"))
    );
    let (status, answer) = api
        .post(
            "/payments",
            &token,
            payment("BARE", "50", "NOPLAN-1", "2026-11-22T10:00:00Z"),
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_payment_plan")),
        "{answer}"
    );
    for (plan, field) in [
        (json!({"currency": "KES", "dailyRate": "0"}), "dailyRate"),
        (json!({"currency": "kes", "dailyRate": "5"}), "currency"),
        (
            json!({"currency": "KES", "dailyRate": "5.5.5"}),
            "dailyRate",
        ),
        (
            json!({"currency": "KES", "dailyRate": "5", "totalPrice": "10", "downPayment": "11"}),
            "downPayment",
        ),
        (
            json!({"currency": "KES", "dailyRate": "5", "minimumPayment": "-1"}),
            "minimumPayment",
        ),
    ] {
        let (status, answer) = put(api, &token, "/devices/BARE/plan", plan.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{plan}: {answer}");
        assert_eq!(answer["field"], field, "{plan}");
    }
    let (status, answer) = put(
        api,
        &token,
        "/devices/BARE/plan",
        json!({"currency": "KES", "dailyRate": 5}),
    )
    .await;
    assert_eq!(
        (status, &answer["field"]),
        (StatusCode::BAD_REQUEST, &json!("dailyRate")),
        "{answer}"
    );
    for plan in [
        json!({"currency": "KES"}),
        json!({"currency": "KES", "dailyRate": "5", "extra": 1}),
    ] {
        let (status, answer) = put(api, &token, "/devices/BARE/plan", plan.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_body")),
            "{plan}: {answer}"
        );
    }
    assert_eq!(
        api.get("/devices/BARE/plan", &token).await.0,
        StatusCode::NOT_FOUND
    );

    device_with_plan(
        api,
        &token,
        "NX-1",
        "nexus_full",
        json!({"currency": "KES", "dailyRate": "50", "minimumPayment": "20"}),
    )
    .await;
    let good = payment("NX-1", "50", "GOOD-1", "2026-11-22T10:00:00Z");
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("amount", json!("0")), "amount"),
        (with("amount", json!("-5")), "amount"),
        (with("amount", json!("1e3")), "amount"),
        (with("amount", json!("12.34567")), "amount"),
        (with("amount", json!("")), "amount"),
        (with("amount", json!(50)), "amount"),
        (with("amount", json!(50.5)), "amount"),
        (with("amount", json!(null)), "amount"),
        (with("currency", json!("Kes")), "currency"),
        (with("reference", json!("has space")), "reference"),
        (with("reference", json!("")), "reference"),
        (with("paidAt", json!("yesterday")), "paidAt"),
        (with("serialNum", json!("a#b")), "serialNum"),
        (with("payer", json!({"phone": "call me"})), "payer.phone"),
        (with("payer", json!({"name": ""})), "payer.name"),
    ] {
        let (status, answer) = api.post("/payments", &token, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}");
    }
    for body in [
        with("payer", json!({"email": "x@example.com"})),
        with("extra", json!(true)),
        json!([]),
    ] {
        let (status, answer) = api.post("/payments", &token, body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_body")),
            "{body}: {answer}"
        );
    }
    let (status, answer) = api
        .post("/payments", &token, with("currency", json!("UGX")))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency_mismatch")),
        "{answer}"
    );
    let (status, _) = api
        .post("/payments", &token, with("serialNum", json!("GHOST")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing of any of them was kept.
    let (_, listed) = api.get("/payments?serialNum=NX-1", &token).await;
    assert_eq!(listed["payments"], json!([]));
    let (_, codes) = api.get("/codes", &token).await;
    assert_eq!(codes["codes"], json!([]));

    // Below the minimum: recorded, kept in the balance, no code.
    let (status, small) = api
        .post(
            "/payments",
            &token,
            payment("NX-1", "15", "SMALL-1", "2026-11-22T10:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(
        (&small["code"], &small["balance"]),
        (&Value::Null, &json!("15"))
    );
    // Once money was taken in KES, the plan's currency stays.
    let (status, answer) = put(
        api,
        &token,
        "/devices/NX-1/plan",
        json!({"currency": "UGX", "dailyRate": "1000"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("plan_currency_locked")
        ),
        "{answer}"
    );
    // A new rate keeps what was paid.
    let (status, plan) = put(
        api,
        &token,
        "/devices/NX-1/plan",
        json!({"currency": "KES", "dailyRate": "10"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        (&plan["balance"], &plan["totalPaid"]),
        (&json!("15"), &json!("15"))
    );

    for (query, field) in [
        ("serialNum=a%23b", "serialNum"),
        ("serialNum=NX-1&from=soon", "from"),
        (
            "serialNum=NX-1&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
            "from",
        ),
        ("serialNum=NX-1&cursor=%25%25", "cursor"),
        ("serialNum=NX-1&limit=0", "limit"),
    ] {
        let (status, answer) = api.get(&format!("/payments?{query}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(answer["field"], field, "{query}");
    }
}

/// Every entry of `serial`'s ledger, read in pages of `limit`.
async fn ledger(api: &TestApi, token: &str, serial: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut path = format!("/devices/{serial}/ledger?limit={limit}");
    for _ in 0..50 {
        let (status, page) = api.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                path = format!("/devices/{serial}/ledger?limit={limit}&cursor={cursor}")
            }
            None => return entries,
        }
    }
    panic!("the ledger did not end");
}

async fn the_ledger_runs_the_balance_and_credit_through_payments_and_codes(api: &TestApi) {
    let (_, token) = acme_with(
        "NX-1",
        "nexus_full",
        json!({"currency": "KES", "dailyRate": "50", "minimumPayment": "20"}),
        api,
    )
    .await;
    let start = now(api);
    let step = |api: &TestApi| api.clock.advance_secs(1);
    // A code of the operator's own, then a payment that buys 3 days and
    // leaves 25, one below the minimum, a desired-state code, and one
    // that buys 2 days with what was carried.
    let (status, _) = api
        .post(
            "/codes",
            &token,
            json!({"serialNum": "NX-1", "codeType": "add_time", "arg": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    step(api);
    for (amount, reference) in [("175", "L-1"), ("10", "L-2")] {
        let (status, answer) = api
            .post(
                "/payments",
                &token,
                payment("NX-1", amount, reference, &api.clock.now_rfc3339()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        step(api);
    }
    let target = start.plus_secs(9 * DAY).to_rfc3339();
    let (status, answer) = put(
        api,
        &token,
        "/devices/NX-1/credit",
        json!({"until": target}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    step(api);
    let (status, answer) = api
        .post(
            "/payments",
            &token,
            payment("NX-1", "65", "L-3", &api.clock.now_rfc3339()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let entries = ledger(api, &token, "NX-1", 100).await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["code", "payment", "payment", "code", "payment"],
        "{entries:?}"
    );
    let balances: Vec<&str> = entries
        .iter()
        .map(|e| e["balance"].as_str().unwrap())
        .collect();
    assert_eq!(balances, ["0", "25", "35", "35", "0"]);
    let codes: Vec<&Value> = entries.iter().map(|e| &e["code"]["arg"]).collect();
    assert_eq!(
        codes,
        [&json!(2), &json!(3), &Value::Null, &json!(4), &json!(2)]
    );
    let untils: Vec<String> = entries
        .iter()
        .map(|e| e["credit"]["until"].as_str().unwrap().to_owned())
        .collect();
    let after = |secs: i64| start.plus_secs(secs).to_rfc3339();
    assert_eq!(
        untils,
        [
            after(2 * DAY),
            after(5 * DAY),
            after(5 * DAY),
            after(9 * DAY),
            after(11 * DAY),
        ]
    );
    // Pages of any size read the same ledger, the balance carried across.
    for limit in [1, 2, 3] {
        assert_eq!(
            ledger(api, &token, "NX-1", limit).await,
            entries,
            "pages of {limit}"
        );
    }
    let (status, answer) = api.get("/devices/NX-1/ledger?cursor=%25%25", &token).await;
    assert_eq!(
        (status, &answer["field"]),
        (StatusCode::BAD_REQUEST, &json!("cursor"))
    );
    assert_eq!(
        api.get("/devices/GHOST/ledger", &token).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(
    the_ledger_runs_the_balance_and_credit_through_payments_and_codes,
    a_month_of_payments_ends_with_the_credit_the_plan_implies,
    sixteen_copies_of_one_payment_give_one_payment_and_one_code,
    the_small_keypad_buys_the_most_days_it_carries_and_keeps_the_rest,
    bad_plans_and_payments_are_refused_and_store_nothing,
);
