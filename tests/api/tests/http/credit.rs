//! A device's credit through the local API on both backends: every code
//! path moves it, devices show it, and the devices whose credit ends soon
//! are listed for reminders.

use std::time::Duration;

use api_tests::{on_both_backends, ClockText, TestApi};
use domain::clock::Timestamp;
use http::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const DAY: i64 = 86_400;

fn at(api: &TestApi, secs_from_now: i64) -> String {
    Timestamp::parse_rfc3339(&api.clock.now_rfc3339())
        .unwrap()
        .plus_secs(secs_from_now)
        .to_rfc3339()
}

async fn credit(api: &TestApi, token: &str, serial: &str) -> Value {
    let (status, device) = api.get(&format!("/devices/{serial}"), token).await;
    assert_eq!(status, StatusCode::OK, "{device}");
    device["credit"].clone()
}

async fn issue(api: &TestApi, token: &str, serial: &str, code_type: &str, arg: u32) {
    let (status, code) = api
        .post(
            "/codes",
            token,
            json!({"serialNum": serial, "codeType": code_type, "arg": arg}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
}

async fn batch_finished(api: &TestApi, token: &str, items: Value) {
    let (status, batch) = api.post("/batch", token, json!({ "items": items })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
    let path = format!("/batch/{}?limit=1", batch["id"].as_str().unwrap());
    for _ in 0..2400 {
        let (_, read) = api.get(&path, token).await;
        if read["status"] == "completed" {
            return;
        }
        assert!(
            matches!(read["status"].as_str(), Some("pending" | "running")),
            "{read}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the batch did not finish");
}

async fn every_code_path_moves_the_credit_and_devices_show_it(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let mut token = api.login(&acme).await;
    let (status, device) = api
        .post(
            "/devices",
            &token,
            json!({"serialNum": "NX-1", "protocol": "nexus_full", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert_eq!(
        device["credit"],
        json!({"state": "locked", "until": null, "updatedAt": device["createdAt"]})
    );

    let now = api.clock.now_rfc3339();
    issue(api, &token, "NX-1", "add_time", 7).await;
    assert_eq!(
        credit(api, &token, "NX-1").await,
        json!({"state": "active", "until": at(api, 7 * DAY), "updatedAt": now})
    );
    // A day on, more days extend the end, not now.
    api.clock.advance_secs(DAY);
    // Access tokens last minutes; log in again after the jump.
    token = api.login(&acme).await;
    issue(api, &token, "NX-1", "add_time", 2).await;
    assert_eq!(
        credit(api, &token, "NX-1").await["until"],
        json!(at(api, 8 * DAY))
    );
    issue(api, &token, "NX-1", "set_time", 3).await;
    assert_eq!(
        credit(api, &token, "NX-1").await["until"],
        json!(at(api, 3 * DAY))
    );
    // Past its end the device shows locked, since then.
    api.clock.advance_secs(3 * DAY);
    // Access tokens last minutes; log in again after the jump.
    token = api.login(&acme).await;
    let ended = credit(api, &token, "NX-1").await;
    assert_eq!(
        (&ended["state"], &ended["until"]),
        (&json!("locked"), &json!(at(api, 0)))
    );
    // Days given now start now.
    issue(api, &token, "NX-1", "add_time", 1).await;
    assert_eq!(
        credit(api, &token, "NX-1").await["until"],
        json!(at(api, DAY))
    );

    // A batch moves it as its codes are issued, in index order.
    batch_finished(
        api,
        &token,
        json!([
            {"serialNum": "NX-1", "codeType": "add_time", "arg": 2},
            {"serialNum": "NX-1", "codeType": "add_time", "arg": 4},
        ]),
    )
    .await;
    assert_eq!(
        credit(api, &token, "NX-1").await["until"],
        json!(at(api, 7 * DAY))
    );

    issue(api, &token, "NX-1", "unlock", 0).await;
    let unlocked = credit(api, &token, "NX-1").await;
    assert_eq!(
        (&unlocked["state"], &unlocked["until"]),
        (&json!("unlocked"), &Value::Null)
    );
    // Time given to an unlocked device changes nothing, as on the device.
    issue(api, &token, "NX-1", "add_time", 5).await;
    assert_eq!(credit(api, &token, "NX-1").await["state"], "unlocked");
    // A set_time of nothing relocks it, with no time left.
    issue(api, &token, "NX-1", "set_time", 0).await;
    let reset = credit(api, &token, "NX-1").await;
    assert_eq!(
        (&reset["state"], &reset["until"]),
        (&json!("locked"), &json!(at(api, 0)))
    );

    // The listing shows the same credit as the device.
    let (status, page) = api.get("/devices", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["devices"][0]["credit"], reset);
}

/// Every serial `query` lists, page after page.
async fn listed(api: &TestApi, token: &str, query: &str) -> Vec<String> {
    let mut serials = Vec::new();
    let mut path = format!("/devices?{query}");
    for _ in 0..50 {
        let (status, page) = api.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        serials.extend(
            page["devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["serialNum"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/devices?{query}&cursor={cursor}"),
            None => return serials,
        }
    }
    panic!("paging did not end");
}

async fn devices_whose_credit_ends_soon_are_listed_for_reminders(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let mut token = api.login(&acme).await;
    let other_token = api.login(&other).await;
    // Moved in with credit left; registered locked and then paid; unlocked.
    for (serial, credit) in [
        ("D-3", json!({"state": "active", "until": at(api, 3 * DAY)})),
        ("D-1", json!({"state": "active", "until": at(api, DAY)})),
        ("D-9", json!({"state": "active", "until": at(api, 9 * DAY)})),
        ("D-LOCKED", json!({"state": "locked"})),
        ("D-FREE", json!({"state": "unlocked"})),
    ] {
        let body = json!({"serialNum": serial, "protocol": "nexus_full", "credit": credit});
        let (status, device) = api.post("/devices", &token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{device}");
    }
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "D-2", "protocol": "openpaygo", "secretKey": KEY}),
    )
    .await;
    issue(api, &token, "D-2", "add_time", 2).await;
    // Another tenant's device ending first is never listed to Acme.
    api.post(
        "/devices",
        &other_token,
        json!({"serialNum": "D-0", "protocol": "nexus_full",
            "credit": {"state": "active", "until": at(api, 60)}}),
    )
    .await;

    let soon = at(api, 4 * DAY).replace('+', "%2B");
    assert_eq!(
        listed(
            api,
            &token,
            &format!("state=active&expiringBefore={soon}&limit=2")
        )
        .await,
        ["D-1", "D-2", "D-3"]
    );
    assert_eq!(
        listed(api, &token, "state=active&limit=1").await,
        ["D-1", "D-2", "D-3", "D-9"]
    );
    assert_eq!(listed(api, &other_token, "state=active").await, ["D-0"]);
    // A day and a half on, D-1 has run out and is no longer active.
    api.clock.advance_secs(DAY + DAY / 2);
    // Access tokens last minutes; log in again after the jump.
    token = api.login(&acme).await;
    assert_eq!(
        listed(api, &token, &format!("expiringBefore={soon}")).await,
        ["D-2", "D-3"]
    );
    // Paid again, D-2 moves to its new place, once.
    issue(api, &token, "D-2", "add_time", 30).await;
    assert_eq!(
        listed(api, &token, "state=active").await,
        ["D-3", "D-9", "D-2"]
    );

    for (query, field) in [
        ("state=locked", "state"),
        ("state=active&expiringBefore=tomorrow", "expiringBefore"),
        ("state=active&cursor=%25%25", "cursor"),
        ("state=active&limit=0", "limit"),
    ] {
        let (status, answer) = api.get(&format!("/devices?{query}"), &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(answer["field"], field, "{query}");
    }
}

async fn a_stated_credit_is_checked_and_nothing_is_stored_when_refused(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    for (credit, field) in [
        (json!({"state": "active"}), "credit.until"),
        (
            json!({"state": "unlocked", "until": at(api, DAY)}),
            "credit.until",
        ),
    ] {
        let body = json!({"serialNum": "BAD", "protocol": "nexus_full", "credit": credit});
        let (status, answer) = api.post("/devices", &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field);
    }
    for credit in [
        json!({"state": "paid"}),
        json!({"state": "active", "until": "soon"}),
        json!({"state": "active", "until": at(api, DAY), "extra": 1}),
        json!("active"),
    ] {
        let body = json!({"serialNum": "BAD", "protocol": "nexus_full", "credit": credit});
        let (status, answer) = api.post("/devices", &token, body).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_body")),
            "{answer}"
        );
    }
    assert_eq!(
        api.get("/devices/BAD", &token).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(
    every_code_path_moves_the_credit_and_devices_show_it,
    devices_whose_credit_ends_soon_are_listed_for_reminders,
    a_stated_credit_is_checked_and_nothing_is_stored_when_refused,
);
