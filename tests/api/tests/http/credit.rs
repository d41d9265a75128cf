//! A device's credit through the local API on both backends: every code
//! path moves it, devices show it, and the devices whose credit ends soon
//! are listed for reminders.

use std::time::Duration;

use api_tests::{on_both_backends, ClockText, TestApi};
use domain::clock::Timestamp;
use futures_util::future::join_all;
use http::StatusCode;
use keycode::simulator::{Entry, SimulatedDevice};
use keycode::{DeviceProtocol, DeviceSecrets, SecretKey};
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

async fn put_credit(api: &TestApi, token: &str, serial: &str, body: Value) -> (StatusCode, Value) {
    let raw = body.to_string();
    api.call_raw(
        http::Method::PUT,
        &format!("/devices/{serial}/credit"),
        Some(&format!("Bearer {token}")),
        Some(&raw),
    )
    .await
}

/// A device of `protocol` with the tests' key, as it leaves the factory.
fn simulated(protocol: DeviceProtocol, starting_count: u32) -> SimulatedDevice {
    let secrets = DeviceSecrets {
        protocol,
        key: SecretKey::from_hex(KEY).unwrap(),
        starting_code: None,
    };
    SimulatedDevice::new(secrets, starting_count)
}

/// `PUT .../credit` to `until`, which must issue a code of `code_type`
/// carrying `days`; the code is typed into `device`, which must take it.
#[allow(clippy::too_many_arguments)]
async fn bring_to(
    api: &TestApi,
    token: &str,
    serial: &str,
    device: &mut SimulatedDevice,
    target: Value,
    code_type: &str,
    days: Option<u32>,
) -> Value {
    let (status, answer) = put_credit(api, token, serial, target.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{serial} {target}: {answer}");
    assert_eq!(
        answer["code"]["codeType"], code_type,
        "{serial} {target}: {answer}"
    );
    assert_eq!(answer["days"], json!(days), "{serial} {target}: {answer}");
    assert_eq!(
        device.enter(answer["code"]["code"].as_str().unwrap()),
        Entry::Accepted,
        "{serial} {target}: {answer}"
    );
    assert_eq!(credit(api, token, serial).await, answer["credit"]);
    answer
}

async fn desired_state_issues_the_one_code_that_gets_there_on_each_protocol(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    for (serial, protocol) in [
        (
            "OP",
            DeviceProtocol::OpenPaygo {
                extended: false,
                restricted_digit_set: false,
                time_divider: 1,
            },
        ),
        ("NF", DeviceProtocol::NexusFull),
        ("NS", DeviceProtocol::NexusSmall),
    ] {
        let name = match protocol {
            DeviceProtocol::OpenPaygo { .. } => "openpaygo",
            DeviceProtocol::NexusFull => "nexus_full",
            DeviceProtocol::NexusSmall => "nexus_small",
        };
        let (status, registered) = api
            .post(
                "/devices",
                &token,
                json!({"serialNum": serial, "protocol": name, "secretKey": KEY}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{registered}");
        let starting_count = u32::try_from(registered["count"].as_u64().unwrap()).unwrap();
        let mut device = simulated(protocol, starting_count);

        // Each step: the target, the code it takes and the days it carries.
        let steps = [
            // Locked: the days start now, as an add.
            (
                json!({"until": at(api, 10 * DAY)}),
                Some(("add_time", Some(10))),
            ),
            // Further out: an add of the difference.
            (
                json!({"until": at(api, 12 * DAY)}),
                Some(("add_time", Some(2))),
            ),
            // Nearer: a set from now.
            (
                json!({"until": at(api, 4 * DAY)}),
                Some(("set_time", Some(4))),
            ),
            // There already: nothing issued.
            (json!({"until": at(api, 4 * DAY)}), None),
            (json!({"unlocked": true}), Some(("unlock", None))),
            // Unlocked: time has to be set, since added time would be ignored.
            (
                json!({"until": at(api, 3 * DAY)}),
                Some(("set_time", Some(3))),
            ),
            // A time already past locks.
            (json!({"until": at(api, -DAY)}), Some(("set_time", Some(0)))),
        ];
        for (target, code) in steps {
            match code {
                Some((code_type, days)) => {
                    bring_to(api, &token, serial, &mut device, target, code_type, days).await;
                }
                None => {
                    let (status, same) = put_credit(api, &token, serial, target).await;
                    assert_eq!(
                        (status, &same["code"]),
                        (StatusCode::OK, &Value::Null),
                        "{same}"
                    );
                    assert!(same["note"].as_str().unwrap().contains("there already"));
                }
            }
        }
        assert_eq!(credit(api, &token, serial).await["state"], "locked");
        assert_eq!(
            credit(api, &token, serial).await["until"],
            json!(at(api, 0))
        );
    }
}

async fn the_small_keypad_gets_the_nearest_days_it_carries_and_says_so(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let token = api.login(&acme).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NS", "protocol": "nexus_small", "secretKey": KEY}),
    )
    .await;
    let mut device = simulated(DeviceProtocol::NexusSmall, 0);
    // ADD_CREDIT carries 183-405 days in steps of 3: 200 becomes 201.
    let added = bring_to(
        api,
        &token,
        "NS",
        &mut device,
        json!({"until": at(api, 200 * DAY)}),
        "add_time",
        Some(201),
    )
    .await;
    assert_eq!(added["requestedDays"], 200);
    assert!(added["note"].as_str().unwrap().contains("201"), "{added}");
    assert_eq!(added["credit"]["until"], json!(at(api, 201 * DAY)));
    // SET_CREDIT carries 92-180 days in steps of 2: 95 becomes 96.
    let set = bring_to(
        api,
        &token,
        "NS",
        &mut device,
        json!({"until": at(api, 95 * DAY)}),
        "set_time",
        Some(96),
    )
    .await;
    assert_eq!(set["requestedDays"], 95);
    // Exact counts say nothing more.
    let exact = bring_to(
        api,
        &token,
        "NS",
        &mut device,
        json!({"until": at(api, 100 * DAY)}),
        "add_time",
        Some(4),
    )
    .await;
    assert_eq!(exact.get("note"), None, "{exact}");
    // Past 405 days no add reaches: 422, and the device is untouched.
    let before = credit(api, &token, "NS").await;
    let (status, answer) =
        put_credit(api, &token, "NS", json!({"until": at(api, 600 * DAY)})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("credit_unreachable")),
        "{answer}"
    );
    assert_eq!(credit(api, &token, "NS").await, before);
}

async fn desired_state_is_refused_clearly_scoped_and_issued_once(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let other_token = api.login(&other).await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "NF", "protocol": "nexus_full", "secretKey": KEY}),
    )
    .await;
    api.post(
        "/devices",
        &token,
        json!({"serialNum": "OPX", "protocol": "openpaygo", "extended": true, "secretKey": KEY}),
    )
    .await;
    for (body, field) in [
        (json!({}), "until"),
        (json!({"until": "tomorrow"}), "until"),
        (json!({"unlocked": false}), "unlocked"),
        (json!({"until": at(api, DAY), "unlocked": true}), "unlocked"),
    ] {
        let (status, answer) = put_credit(api, &token, "NF", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}");
    }
    for body in [json!({"until": 5}), json!({"days": 5}), json!([])] {
        let (status, answer) = put_credit(api, &token, "NF", body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_body")),
            "{body}: {answer}"
        );
    }
    // Extended OpenPAYGO tokens have no unlock: 422 naming why.
    let (status, answer) = put_credit(api, &token, "OPX", json!({"unlocked": true})).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("credit_unreachable")),
        "{answer}"
    );
    // Nothing was issued for any of them.
    let (_, codes) = api.get("/codes", &token).await;
    assert_eq!(codes["codes"], json!([]));

    // Another tenant's device is not there for them.
    let target = json!({"until": at(api, 5 * DAY)});
    assert_eq!(
        put_credit(api, &other_token, "NF", target.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put_credit(api, &token, "GHOST", target.clone()).await.0,
        StatusCode::NOT_FOUND
    );

    // Eight callers asking for the same credit at once: one code; the
    // rest find the device there already.
    let racers = (0..8).map(|_| put_credit(api, &token, "NF", target.clone()));
    let answers = join_all(racers).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert!(
        answers.iter().all(
            |(status, a)| matches!(*status, StatusCode::CREATED | StatusCode::OK)
                && a["credit"]["until"] == json!(at(api, 5 * DAY))
        ),
        "{answers:?}"
    );
    assert_eq!(created, 1, "{answers:?}");
    let (_, codes) = api.get("/codes?serialNum=NF", &token).await;
    assert_eq!(codes["codes"].as_array().unwrap().len(), 1);
}

on_both_backends!(
    desired_state_issues_the_one_code_that_gets_there_on_each_protocol,
    the_small_keypad_gets_the_nearest_days_it_carries_and_says_so,
    desired_state_is_refused_clearly_scoped_and_issued_once,
    every_code_path_moves_the_credit_and_devices_show_it,
    devices_whose_credit_ends_soon_are_listed_for_reminders,
    a_stated_credit_is_checked_and_nothing_is_stored_when_refused,
);
