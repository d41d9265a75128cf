//! One rule for body fields a route does not know, in every API family: the
//! request is refused with 400, the answer names the field, and nothing is
//! stored (`docs/api.md`).

use api_tests::serde_json::{json, Value};
use api_tests::{on_both_backends, TestApi};
use http::{Method, StatusCode};

const V4: &str = "/api/license/management/v4";
const CHALLENGES: &str = "/v1/mfa/challenges/activation";

/// Sends `body` and expects a 400 whose answer names `field`.
async fn refused(api: &TestApi, method: Method, path: &str, auth: &str, body: Value, field: &str) {
    let (status, answer) = api.call_as(method, path, auth, Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    assert!(
        answer.to_string().contains(field),
        "{path}: the answer does not name `{field}`: {answer}"
    );
}

async fn every_family_refuses_unknown_body_fields(api: &TestApi) {
    let client = api.new_client("Strict").await;
    let bearer = format!("Bearer {}", api.login(&client).await);
    let api_key = api.api_key(&client).await;

    // BioLite: a device, a code, a batch (and its items).
    refused(
        api,
        Method::POST,
        "/devices",
        &bearer,
        json!({"serialNum": "S1", "protocol": "openpaygo", "colour": "red"}),
        "colour",
    )
    .await;
    let (status, listing) = api.call_as(Method::GET, "/devices", &bearer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["devices"], json!([]), "a refused device was stored");
    let (status, device) = api
        .call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S1", "protocol": "nexus_full"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    refused(
        api,
        Method::POST,
        "/codes",
        &bearer,
        json!({"serialNum": "S1", "codeType": "add_time", "arg": 1, "days": 1}),
        "days",
    )
    .await;
    refused(
        api,
        Method::POST,
        "/batch",
        &bearer,
        json!({"items": [{"serialNum": "S1", "codeType": "unlock", "note": "x"}]}),
        "note",
    )
    .await;
    let (_, codes) = api.call_as(Method::GET, "/codes", &bearer, None).await;
    assert_eq!(codes["codes"], json!([]), "a refused code was issued");
    let (status, answer) = api
        .call(
            Method::POST,
            "/auth",
            None,
            Some(&json!({"token": "x", "tokenType": "auth", "scope": "all"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // AminoTV v4, with a nested object.
    let products = format!("{V4}/products");
    refused(
        api,
        Method::POST,
        &products,
        &api_key,
        json!({"name": "Office", "colour": "red"}),
        "colour",
    )
    .await;
    let (_, listed) = api.call_as(Method::GET, &products, &api_key, None).await;
    assert_eq!(listed["items"], json!([]), "a refused product was stored");
    let (status, product) = api
        .call_as(
            Method::POST,
            &products,
            &api_key,
            Some(json!({"name": "Office"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    refused(
        api,
        Method::POST,
        &format!("{V4}/licenses"),
        &api_key,
        json!({"product_id": product["id"], "user_id": "u1", "user": {"email": "a@b.c", "age": 3}}),
        "age",
    )
    .await;

    // The vendor API, as a form.
    let (status, answer) = api
        .post_form(
            "/API/Public/v1/Discounts/r1/Create",
            Some(&api_key),
            &format!(
                "productId={}&percentage=10&colour=red",
                product["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("colour"), "{answer}");

    // The subscription API: the issue's own example, and a nested filter.
    refused(
        api,
        Method::POST,
        "/query/license",
        &api_key,
        json!({"items": "x"}),
        "items",
    )
    .await;
    refused(
        api,
        Method::POST,
        "/query/license",
        &api_key,
        json!({"filter": {"name": "x"}}),
        "name",
    )
    .await;
    let (status, answer) = api
        .call_as(Method::POST, "/query/license", &api_key, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["count"], 0, "a refused license was stored: {answer}");

    // Solaris.
    refused(
        api,
        Method::POST,
        CHALLENGES,
        &bearer,
        json!({"person_id": "p1", "origin": "WEB", "channel": "sms"}),
        "channel",
    )
    .await;
    let (status, listed) = api.call_as(Method::GET, CHALLENGES, &bearer, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed, json!([]), "a refused challenge was stored");
}

on_both_backends!(every_family_refuses_unknown_body_fields);
