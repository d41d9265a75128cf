//! Safaricom Daraja's C2B callbacks through the local API on both backends:
//! validation answers Daraja's result codes and stores nothing; a
//! confirmation is a payment exactly once per `TransID`, however often and
//! however concurrently Safaricom repeats it.

use api_tests::{on_both_backends, TestApi};
use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const SHORT_CODE: &str = "600638";

/// A Daraja C2B body, as Safaricom's documentation shows one.
fn daraja(trans_id: &str, serial: &str, amount: &str) -> Value {
    json!({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261122133045",
        "TransAmount": amount, "BusinessShortCode": SHORT_CODE, "BillRefNumber": serial,
        "InvoiceNumber": "", "OrgAccountBalance": "49197.00", "ThirdPartyTransID": "",
        "MSISDN": "254708374149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"
    })
}

/// `body` with `field` set to `value`.
fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

async fn callback(api: &TestApi, token: &str, step: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/payments/mpesa/{token}/{step}");
    api.call(Method::POST, &path, None, Some(body)).await
}

/// An account with device `SN-1` (OpenPAYGO) on a KES plan at 50 a day,
/// minimum 50, and an M-Pesa registration of `SHORT_CODE`: its client, the
/// access token and the callback token.
async fn operator(api: &TestApi, name: &str) -> (api_tests::TestClient, String, String) {
    let client = api.new_client(name).await;
    let access = api.login(&client).await;
    let (status, _) = api
        .post(
            "/devices",
            &access,
            json!({"serialNum": "SN-1", "protocol": "openpaygo", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let plan = json!({"currency": "KES", "dailyRate": "50", "minimumPayment": "50"});
    let (status, _) = api
        .call(
            Method::PUT,
            "/devices/SN-1/plan",
            Some(&format!("Bearer {access}")),
            Some(&plan),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = api.mpesa_callback(&client, SHORT_CODE).await;
    (client, access, token)
}

async fn payments(api: &TestApi, access: &str) -> Vec<Value> {
    let (status, listing) = api.get("/payments", access).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    listing["payments"].as_array().unwrap().clone()
}

async fn codes(api: &TestApi, access: &str) -> Vec<Value> {
    let (status, listing) = api.get("/codes?serialNum=SN-1", access).await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    listing["codes"].as_array().unwrap().clone()
}

async fn validation_answers_darajas_codes_and_stores_nothing(api: &TestApi) {
    let (_, access, token) = operator(api, "Paybill").await;
    let (status, answer) =
        callback(api, &token, "validation", &daraja("V1", "SN-1", "100.00")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    let (status, _) = api
        .post(
            "/devices",
            &access,
            json!({"serialNum": "NO-PLAN", "protocol": "openpaygo", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let good = daraja("V2", "SN-1", "100.00");
    let cases = [
        (daraja("V2", "GHOST", "100.00"), "C2B00012"),
        (daraja("V2", "bad serial!", "100.00"), "C2B00012"),
        (with(good.clone(), "BillRefNumber", json!(null)), "C2B00012"),
        (daraja("V2", "SN-1", "49.99"), "C2B00013"),
        (daraja("V2", "SN-1", "0.00"), "C2B00013"),
        (daraja("V2", "SN-1", "ten"), "C2B00013"),
        (with(good.clone(), "TransAmount", json!(100.0)), "C2B00013"),
        (
            with(good.clone(), "BusinessShortCode", json!("174379")),
            "C2B00015",
        ),
        (daraja("V2", "NO-PLAN", "100.00"), "C2B00016"),
        (
            with(good.clone(), "TransTime", json!("2026-11-22 13:30")),
            "C2B00016",
        ),
        (with(good.clone(), "TransID", json!("RK TQ")), "C2B00016"),
    ];
    for (body, code) in cases {
        let (status, answer) = callback(api, &token, "validation", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert_eq!(answer["ResultCode"], code, "{body}: {answer}");
        assert!(
            answer["ResultDesc"]
                .as_str()
                .unwrap()
                .starts_with("Rejected"),
            "{answer}"
        );
    }
    // Only a body that is no JSON object at all is an HTTP error.
    for raw in ["", "[1, 2]", "{\"TransID\": "] {
        let path = format!("/payments/mpesa/{token}/validation");
        let (status, answer) = api.call_raw(Method::POST, &path, None, Some(raw)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}: {answer}");
    }
    assert!(payments(api, &access).await.is_empty());
    assert!(codes(api, &access).await.is_empty());
}

async fn a_wrong_or_revoked_token_is_404(api: &TestApi) {
    let (client, access, token) = operator(api, "Revoked").await;
    let body = daraja("W1", "SN-1", "100.00");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for wrong in [
        forged.as_str(),
        "mpc_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "nothing-like-a-token",
        &"x".repeat(200),
    ] {
        for step in ["validation", "confirmation"] {
            let (status, answer) = callback(api, wrong, step, &body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{step}: {answer}");
            assert_eq!(answer["error"], "not_found");
            assert!(!answer.to_string().contains(&token));
        }
    }
    let id = api
        .stores
        .mpesa()
        .list_callbacks(&client.key)
        .await
        .unwrap()[0]
        .id
        .clone();
    api.stores
        .mpesa()
        .revoke_callback(&client.key, &id)
        .await
        .unwrap();
    let (status, _) = callback(api, &token, "confirmation", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(payments(api, &access).await.is_empty());
}

async fn sixteen_racing_confirmations_give_one_payment_and_one_code(api: &TestApi) {
    let (_, access, token) = operator(api, "Racing").await;
    let body = daraja("RKTQDM7W6S", "SN-1", "175.00");
    let answers = join_all((0..16).map(|_| callback(api, &token, "confirmation", &body))).await;
    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(*answer, json!({"ResultCode": 0, "ResultDesc": "Success"}));
    }
    let taken = payments(api, &access).await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    let payment = &taken[0];
    assert_eq!(payment["payment"]["reference"], "RKTQDM7W6S");
    assert_eq!(payment["payment"]["amount"], "175");
    assert_eq!(payment["payment"]["currency"], "KES");
    // 13:30:45 in Nairobi is 10:30:45 UTC.
    assert_eq!(payment["payment"]["paidAt"], "2026-11-22T10:30:45.000Z");
    assert_eq!(
        payment["payment"]["payer"],
        json!({"phone": "254708374149", "name": "John Doe"})
    );
    assert_eq!(payment["code"]["arg"], 3, "{payment}");
    assert_eq!(payment["balance"], "25");
    let issued = codes(api, &access).await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    // Safaricom repeating it later changes nothing either.
    let (status, _) = callback(api, &token, "confirmation", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(payments(api, &access).await.len(), 1);
    assert_eq!(codes(api, &access).await.len(), 1);
}

async fn confirmations_that_cannot_be_taken_are_refused_and_store_nothing(api: &TestApi) {
    let (_, access, token) = operator(api, "Refusals").await;
    let (status, _) = callback(
        api,
        &token,
        "confirmation",
        &daraja("FIRST", "SN-1", "100.00"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = api.get("/devices/SN-1", &access).await;
    let (status, _) = api
        .post(
            "/devices",
            &access,
            json!({"serialNum": "NO-PLAN", "protocol": "openpaygo", "secretKey": KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let good = daraja("SECOND", "SN-1", "100.00");
    let cases = [
        (daraja("SECOND", "GHOST", "100.00"), 404, "device_not_found"),
        (
            daraja("SECOND", "bad serial!", "100.00"),
            404,
            "device_not_found",
        ),
        (
            daraja("SECOND", "NO-PLAN", "100.00"),
            422,
            "no_payment_plan",
        ),
        (
            with(good.clone(), "BusinessShortCode", json!("174379")),
            422,
            "short_code_mismatch",
        ),
        (
            daraja("FIRST", "SN-1", "200.00"),
            409,
            "payment_reference_conflict",
        ),
        (
            with(good.clone(), "TransAmount", json!("1,000")),
            400,
            "invalid_field",
        ),
        (
            with(good.clone(), "TransAmount", json!(100)),
            400,
            "invalid_field",
        ),
        (
            with(good.clone(), "TransTime", json!("20261122253045")),
            400,
            "invalid_field",
        ),
        (
            with(good.clone(), "TransID", json!(null)),
            400,
            "invalid_field",
        ),
    ];
    for (body, status, error) in cases {
        let (got, answer) = callback(api, &token, "confirmation", &body).await;
        assert_eq!(got.as_u16(), status, "{body}: {answer}");
        assert_eq!(answer["error"], error, "{answer}");
    }
    assert_eq!(payments(api, &access).await.len(), 1);
    let (_, after) = api.get("/devices/SN-1", &access).await;
    assert_eq!(after, before);
}

async fn below_the_minimum_a_confirmation_is_kept_in_the_balance(api: &TestApi) {
    // With validation off (Safaricom's default), small payments still come.
    let (_, access, token) = operator(api, "Small").await;
    let masked = with(
        daraja("SMALL1", "SN-1", "30"),
        "MSISDN",
        json!("2547 ***** 149"),
    );
    let (status, _) = callback(api, &token, "confirmation", &masked).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = callback(api, &token, "confirmation", &daraja("SMALL2", "SN-1", "70")).await;
    assert_eq!(status, StatusCode::OK);
    let taken = payments(api, &access).await;
    let by_reference = |reference: &str| {
        taken
            .iter()
            .find(|p| p["payment"]["reference"] == reference)
            .unwrap()
            .clone()
    };
    let first = by_reference("SMALL1");
    assert_eq!(first["code"], Value::Null, "{first}");
    assert_eq!(first["payment"]["payer"], json!({"name": "John Doe"}));
    let second = by_reference("SMALL2");
    // 30 carried and 70 paid buy two days.
    assert_eq!(second["code"]["arg"], 2, "{second}");
    assert_eq!(second["balance"], "0");
}

on_both_backends!(
    validation_answers_darajas_codes_and_stores_nothing,
    a_wrong_or_revoked_token_is_404,
    sixteen_racing_confirmations_give_one_payment_and_one_code,
    confirmations_that_cannot_be_taken_are_refused_and_store_nothing,
    below_the_minimum_a_confirmation_is_kept_in_the_balance,
);
