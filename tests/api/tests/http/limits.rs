//! The limits on what a client controls (`docs/security.md`): each one
//! refused with a clear 4xx that names what was too large, and nothing
//! stored.

use api_tests::serde_json::{json, Value};
use api_tests::{on_both_backends, TestApi};
use http::{Method, StatusCode};

fn refused(answer: (StatusCode, Value), status: StatusCode, field: Option<&str>, case: &str) {
    assert_eq!(answer.0, status, "{case}: {}", answer.1);
    if let Some(field) = field {
        assert_eq!(answer.1["field"], field, "{case}: {}", answer.1);
    }
}

async fn everything_a_client_sends_is_bounded(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let bearer = format!("Bearer {}", api.login(&acme).await);
    let auth = Some(bearer.as_str());
    let bad = StatusCode::BAD_REQUEST;

    // What every route shares.
    let long_query = format!("/codes?serialNum={}", "a".repeat(2100));
    refused(
        api.call(Method::GET, &long_query, auth, None).await,
        bad,
        Some("query"),
        "query string",
    );
    let long_id = format!("/devices/{}", "a".repeat(300));
    refused(
        api.call(Method::GET, &long_id, auth, None).await,
        bad,
        Some("serialNum"),
        "path parameter",
    );
    let long_credentials = format!("Bearer {}", "a".repeat(5000));
    refused(
        api.call(Method::GET, "/devices", Some(&long_credentials), None)
            .await,
        bad,
        Some("Authorization"),
        "Authorization",
    );
    let big = json!({"serialNum": "x", "codeType": "unlock", "padding": "a".repeat(70 * 1024)});
    refused(
        api.call(Method::POST, "/codes", auth, Some(&big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        "body",
    );
    let big_batch = json!({"items": [], "padding": "a".repeat(1024 * 1024 + 10)});
    refused(
        api.call(Method::POST, "/batch", auth, Some(&big_batch))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        "batch body",
    );
    // The same body is fine on `/batch` up to its own, larger limit.
    let items: Vec<Value> = (0..2000)
        .map(|_| json!({"serialNum": "NONE-OF-MINE", "codeType": "unlock"}))
        .collect();
    let (status, answer) = api
        .call(Method::POST, "/batch", auth, Some(&json!({"items": items})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "a 100 KB batch: {answer}");

    // Field limits.
    refused(
        api.call(Method::GET, "/codes?limit=101", auth, None).await,
        bad,
        Some("limit"),
        "page size",
    );
    refused(
        api.call(
            Method::GET,
            "/v1/mfa/challenges/activation?page[size]=101",
            auth,
            None,
        )
        .await,
        bad,
        Some("page[size]"),
        "challenge page size",
    );
    let too_many: Vec<Value> = (0..10_001)
        .map(|_| json!({"serialNum": "S", "codeType": "unlock"}))
        .collect();
    refused(
        api.call(
            Method::POST,
            "/batch",
            auth,
            Some(&json!({"items": too_many})),
        )
        .await,
        bad,
        None,
        "batch items",
    );
    let licenses: Vec<Value> = (0..101)
        .map(|_| json!({"product_id": "00000000-0000-4000-8000-000000000000", "user_id": "u"}))
        .collect();
    let path = "/api/license/management/v4/licenses/batch_create";
    refused(
        api.call(
            Method::POST,
            path,
            auth,
            Some(&json!({"licenses": licenses})),
        )
        .await,
        bad,
        None,
        "license batch",
    );
    let serial = json!({"serialNum": "s".repeat(65), "protocol": "nexus_full"});
    refused(
        api.call(Method::POST, "/devices", auth, Some(&serial))
            .await,
        bad,
        Some("serialNum"),
        "serial number",
    );
    let name = json!({"name": "n".repeat(201)});
    refused(
        api.call(
            Method::POST,
            "/api/license/management/v4/products",
            auth,
            Some(&name),
        )
        .await,
        bad,
        Some("name"),
        "product name",
    );
    let person = json!({"person_id": "p".repeat(65), "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"});
    refused(
        api.call(
            Method::POST,
            "/v1/mfa/challenges/activation",
            auth,
            Some(&person),
        )
        .await,
        bad,
        Some("person_id"),
        "person id",
    );
    let token = json!({"token": "a".repeat(5000), "tokenType": "auth"});
    refused(
        api.call(Method::POST, "/auth", None, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        None,
        "auth token",
    );

    // Nothing of the refused requests was stored.
    let (_, devices) = api.call(Method::GET, "/devices", auth, None).await;
    assert_eq!(devices["devices"], json!([]));
    let (_, products) = api
        .call(
            Method::GET,
            "/api/license/management/v4/products",
            auth,
            None,
        )
        .await;
    assert_eq!(products["items"], json!([]));
}

on_both_backends!(everything_a_client_sends_is_bounded);
