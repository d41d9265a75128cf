//! The licensing APIs through the local API on both backends: AminoTV
//! license management v4, the vendor API and the subscription API, with
//! their error paths and races.

use api_tests::serde_json::{json, Value};
use api_tests::{on_both_backends, TestApi, TestClient};
use domain::clock::Clock;
use http::{Method, StatusCode};

const V4: &str = "/api/license/management/v4";

/// One account as the tests play it: its API key header and a bearer header.
struct Account {
    api_key: String,
    bearer: String,
}

async fn account(api: &TestApi, name: &str) -> (TestClient, Account) {
    let client = api.new_client(name).await;
    let api_key = api.api_key(&client).await;
    let bearer = format!("Bearer {}", api.login(&client).await);
    (client, Account { api_key, bearer })
}

async fn new_product(api: &TestApi, auth: &str, body: Value) -> Value {
    let (status, product) = api
        .call_as(Method::POST, &format!("{V4}/products"), auth, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    product
}

async fn new_license(api: &TestApi, auth: &str, body: Value) -> Value {
    let (status, license) = api
        .call_as(Method::POST, &format!("{V4}/licenses"), auth, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{license}");
    license
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn products_are_managed_per_account(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let products = format!("{V4}/products");

    // Both credentials work; nothing else does.
    let (status, body) = api.call(Method::GET, &products, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    for bad in [
        "Apikey lk_00000000_nope",
        "Apikey ",
        "Apikey x y",
        "Basic abc",
    ] {
        let (status, body) = api.call_as(Method::GET, &products, bad, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {body}");
    }
    let (status, _) = api.call_as(Method::GET, &products, &a.bearer, None).await;
    assert_eq!(status, StatusCode::OK);

    let editor = new_product(
        api,
        &a.api_key,
        json!({"name": "Editor", "sku": "editor", "latest_version": "1.0"}),
    )
    .await;
    assert_eq!(editor["license_count"], 0);
    assert_eq!(editor["sku"], "editor");
    let id = editor["id"].as_str().unwrap();
    let generated = new_product(api, &a.bearer, json!({"name": "Viewer"})).await;
    assert_eq!(generated["sku"].as_str().unwrap().len(), 20);
    let (status, body) = api
        .call_as(
            Method::POST,
            &products,
            &a.api_key,
            Some(json!({"name": "Dup", "sku": "editor"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("product_exists"))
    );
    // Another account may use the same SKU.
    new_product(
        api,
        &b.api_key,
        json!({"name": "B's editor", "sku": "editor"}),
    )
    .await;
    for (bad, field) in [
        (json!({}), "name"),
        (json!({"name": " "}), "name"),
        (json!({"name": "x", "sku": "has space"}), "sku"),
        (json!({"name": "x", "id": "nope"}), "id"),
    ] {
        let (status, body) = api
            .call_as(Method::POST, &products, &a.api_key, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], field);
    }
    let (status, body) = api
        .call_raw(Method::POST, &products, Some(&a.api_key), Some("{not json"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_body"))
    );

    let one = format!("{products}/{id}");
    let (status, body) = api.call_as(Method::GET, &one, &a.api_key, None).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("Editor"))
    );
    for path in [
        format!("{products}/{}", domain::licensing::new_uuid()),
        format!("{products}/not-a-uuid"),
    ] {
        let (status, body) = api.call_as(Method::GET, &path, &a.api_key, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("product_not_found"))
        );
    }
    let (status, _) = api.call_as(Method::GET, &one, &b.api_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's product");

    // Paging.
    let (status, page) = api
        .call_as(
            Method::GET,
            &format!("{products}?limit=1"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .call_as(
            Method::GET,
            &format!("{products}?limit=1&cursor={cursor}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"]);
    for query in ["limit=0", "limit=101", "limit=x", "cursor=zzz"] {
        let (status, _) = api
            .call_as(
                Method::GET,
                &format!("{products}?{query}"),
                &a.api_key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }

    // PATCH changes only what it names; null clears.
    let (status, patched) = api
        .call_as(
            Method::PATCH,
            &one,
            &a.api_key,
            Some(json!({"description": "Edits photos", "latest_version": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["description"], "Edits photos");
    assert_eq!(patched["latest_version"], Value::Null);
    assert_eq!(patched["name"], "Editor");
    for bad in [json!({}), json!({"sku": "new"}), json!({"name": ""})] {
        let (status, _) = api
            .call_as(Method::PATCH, &one, &a.api_key, Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = api
        .call_as(
            Method::PATCH,
            &one,
            &b.api_key,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting: refused while licenses reference it, unless forced.
    let license = new_license(api, &a.api_key, json!({"product_id": id, "user_id": "K1"})).await;
    let (status, body) = api.call_as(Method::DELETE, &one, &a.api_key, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("product_in_use"))
    );
    let (status, _) = api
        .call_as(
            Method::DELETE,
            &format!("{one}?force=maybe"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .call_as(
            Method::DELETE,
            &format!("{one}?force=true"),
            &b.api_key,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another account cannot delete it"
    );
    let (status, body) = api
        .call_as(
            Method::DELETE,
            &format!("{one}?force=true"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = api
        .call_as(
            Method::GET,
            &format!("{V4}/licenses/{}", license["id"].as_str().unwrap()),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a forced delete removes the licenses"
    );
    let (status, _) = api.call_as(Method::DELETE, &one, &a.api_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The SKU is free again.
    new_product(
        api,
        &a.api_key,
        json!({"name": "Editor 2", "sku": "editor"}),
    )
    .await;
}

async fn licenses_are_granted_listed_and_deleted(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let p = new_product(api, &a.api_key, json!({"name": "Suite"})).await;
    let q = new_product(api, &a.api_key, json!({"name": "Tools"})).await;
    let (pid, qid) = (p["id"].as_str().unwrap(), q["id"].as_str().unwrap());
    let now = api.clock.now();
    let hour = |h: i64| now.plus_secs(h * 3600).to_rfc3339();

    let permanent = new_license(
        api,
        &a.api_key,
        json!({"product_id": pid, "user_id": "K1", "order_id": "B1"}),
    )
    .await;
    assert_eq!(permanent["name"], "Suite", "named after its product");
    assert_eq!(permanent["is_permanent"], true);
    assert_eq!(permanent["valid_until"], Value::Null);
    assert_eq!(permanent["status"], "active");
    new_license(
        api,
        &a.api_key,
        json!({"product_id": qid, "user_id": "K1", "name": "Tools trial", "valid_until": hour(1)}),
    )
    .await;
    new_license(
        api,
        &a.bearer,
        json!({"product_id": pid, "user_id": "K2", "name": "Future", "valid_from": hour(24)}),
    )
    .await;
    let (status, product) = api
        .call_as(
            Method::GET,
            &format!("{V4}/products/{pid}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(
        (status, product["license_count"].as_u64()),
        (StatusCode::OK, Some(2))
    );

    for (bad, field) in [
        (json!({"user_id": "K1"}), "product_id"),
        (json!({"product_id": pid}), "user_id"),
        (
            json!({"product_id": pid, "user_id": "K1", "valid_until": "tomorrow"}),
            "valid_until",
        ),
        (
            json!({"product_id": pid, "user_id": "K1", "valid_from": hour(2), "valid_until": hour(1)}),
            "valid_until",
        ),
        (
            json!({"product_id": pid, "user_id": "K1", "valid_until": hour(-1)}),
            "valid_until",
        ),
        (
            json!({"product_id": pid, "user_id": "K1", "user": {"country_code": "DE"}}),
            "user.country_code",
        ),
    ] {
        let (status, body) = api
            .call_as(
                Method::POST,
                &format!("{V4}/licenses"),
                &a.api_key,
                Some(bad),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let (status, body) = api
        .call_as(
            Method::POST,
            &format!("{V4}/licenses"),
            &b.api_key,
            Some(json!({"product_id": pid, "user_id": "K9"})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("product_not_found")),
        "another account's product"
    );
    let (status, _) = api
        .call_as(
            Method::POST,
            &format!("{V4}/licenses"),
            &a.api_key,
            Some(json!({"id": permanent["id"], "product_id": pid, "user_id": "K1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Listing and filters.
    let list = |query: &str| format!("{V4}/licenses?{query}");
    let (_, all) = api.call_as(Method::GET, &list(""), &a.api_key, None).await;
    assert_eq!(names(&all), ["Future", "Suite", "Tools trial"]);
    let (_, none) = api.call_as(Method::GET, &list(""), &b.api_key, None).await;
    assert_eq!(names(&none), Vec::<String>::new());
    let filters = [
        (format!("product_id={pid}"), vec!["Future", "Suite"]),
        ("user_id=K1".to_owned(), vec!["Suite", "Tools trial"]),
        ("status=pending".to_owned(), vec!["Future"]),
        // The trial ends in an hour.
        (
            format!("valid_from={}", hour(2).replace(':', "%3A")),
            vec!["Future", "Suite"],
        ),
    ];
    for (query, expected) in filters {
        let (_, found) = api
            .call_as(Method::GET, &list(&query), &a.api_key, None)
            .await;
        assert_eq!(names(&found), expected, "{query}");
    }
    let (_, paged) = api
        .call_as(Method::GET, &list("limit=2"), &a.api_key, None)
        .await;
    assert_eq!(names(&paged), ["Future", "Suite"]);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .call_as(
            Method::GET,
            &list(&format!("limit=2&cursor={cursor}")),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(names(&rest), ["Tools trial"]);
    assert_eq!(rest["next_cursor"], Value::Null);
    for bad in [
        "status=lapsed",
        "valid_from=yesterday",
        "product_id=x",
        "cursor=%%%",
        "limit=500",
        "valid_from=2030-01-01T00%3A00%3A00Z&valid_to=2029-01-01T00%3A00%3A00Z",
    ] {
        let (status, body) = api.call_as(Method::GET, &list(bad), &a.api_key, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // Time passes: the trial expires.
    api.clock.advance_secs(2 * 3600);
    let (_, expired) = api
        .call_as(Method::GET, &list("status=expired"), &a.api_key, None)
        .await;
    assert_eq!(names(&expired), ["Tools trial"]);
    assert_eq!(expired["items"][0]["is_active"], false);

    let (status, user) = api
        .call_as(
            Method::GET,
            &format!("{V4}/users/K1/licenses"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&user), ["Suite", "Tools trial"]);
    let (_, user_active) = api
        .call_as(
            Method::GET,
            &format!("{V4}/users/K1/licenses?status=active"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(names(&user_active), ["Suite"]);
    let (_, nobody) = api
        .call_as(
            Method::GET,
            &format!("{V4}/users/K1/licenses"),
            &b.api_key,
            None,
        )
        .await;
    assert_eq!(names(&nobody), Vec::<String>::new());
    let (status, _) = api
        .call_as(
            Method::GET,
            &format!("{V4}/users/K1/licenses?user_id=K2"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let one = format!("{V4}/licenses/{}", permanent["id"].as_str().unwrap());
    let (status, body) = api.call_as(Method::GET, &one, &a.api_key, None).await;
    assert_eq!((status, &body["key"]), (StatusCode::OK, &permanent["key"]));
    let (status, _) = api.call_as(Method::GET, &one, &b.api_key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call_as(Method::DELETE, &one, &b.api_key, None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another account cannot delete it"
    );
    let (status, _) = api.call_as(Method::DELETE, &one, &a.api_key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.call_as(Method::DELETE, &one, &a.api_key, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("license_not_found"))
    );
    let (_, product) = api
        .call_as(
            Method::GET,
            &format!("{V4}/products/{pid}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(product["license_count"], 1);
}

async fn batches_report_each_item(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let p = new_product(api, &a.api_key, json!({"name": "Suite"})).await;
    let pid = p["id"].as_str().unwrap();
    let foreign = new_product(api, &b.api_key, json!({"name": "B"})).await;
    let create = format!("{V4}/licenses/batch_create");
    let (status, outcome) = api
        .call_as(
            Method::POST,
            &create,
            &a.api_key,
            Some(json!({"licenses": [
                {"product_id": pid, "user_id": "U1"},
                {"product_id": foreign["id"], "user_id": "U2"},
                {"product_id": pid, "user_id": "U3", "name": "Third"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(
        (outcome["succeeded"].as_u64(), outcome["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(outcome["results"][0]["status"], "created");
    assert_eq!(outcome["results"][1]["status"], "failed");
    assert_eq!(outcome["results"][1]["error"], "product_not_found");
    assert_eq!(outcome["results"][2]["license"]["name"], "Third");
    let created: Vec<Value> = [0, 2]
        .iter()
        .map(|i| outcome["results"][*i]["license_id"].clone())
        .collect();

    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"product_id": pid, "user_id": "U"}))
        .collect();
    for bad in [
        json!({"licenses": []}),
        json!({"licenses": too_many}),
        json!({"licenses": [{"product_id": pid, "user_id": "U"}, {"product_id": pid}]}),
    ] {
        let (status, body) = api
            .call_as(Method::POST, &create, &a.api_key, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (_, body) = api
        .call_as(
            Method::POST,
            &create,
            &a.api_key,
            Some(json!({"licenses": [{"product_id": pid, "user_id": "U"}, {"product_id": pid}]})),
        )
        .await;
    assert_eq!(
        body["field"], "licenses[1].user_id",
        "nothing is created when one item is invalid"
    );
    let (_, product) = api
        .call_as(
            Method::GET,
            &format!("{V4}/products/{pid}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(product["license_count"], 2);

    let delete = format!("{V4}/licenses/batch_delete");
    let unknown = domain::licensing::new_uuid();
    let (status, outcome) = api
        .call_as(
            Method::POST,
            &delete,
            &b.api_key,
            Some(json!({"license_ids": [created[0]]})),
        )
        .await;
    assert_eq!(
        (status, outcome["failed"].as_u64()),
        (StatusCode::OK, Some(1)),
        "another account's license"
    );
    let (_, outcome) = api
        .call_as(
            Method::POST,
            &delete,
            &a.api_key,
            Some(json!({"license_ids": [created[0], unknown, created[1]]})),
        )
        .await;
    assert_eq!(
        (outcome["succeeded"].as_u64(), outcome["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(outcome["results"][1]["error"], "license_not_found");
    assert_eq!(outcome["results"][1]["license_id"], unknown.as_str());
    for bad in [
        json!({"license_ids": []}),
        json!({"license_ids": ["nope"]}),
        json!({"license_ids": [unknown, unknown]}),
        json!({"ids": [unknown]}),
    ] {
        let (status, body) = api
            .call_as(Method::POST, &delete, &a.api_key, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (_, product) = api
        .call_as(
            Method::GET,
            &format!("{V4}/products/{pid}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(product["license_count"], 0);
}

const VENDOR: &str = "/API/Public/v1";

async fn the_vendor_api_speaks_its_envelope(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let p = new_product(
        api,
        &a.api_key,
        json!({"name": "Suite", "sku": "arpc3ydo0qbxbufuncdh", "latest_version": "2.1"}),
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    let permanent = new_license(
        api,
        &a.api_key,
        json!({"product_id": pid, "user_id": "K109025530", "order_id": "B441542389",
               "user": {"first_name": "Erika", "last_name": "Mustermann", "email": "erika@example.com",
                        "email_verified": true, "country_code": "deu"}}),
    )
    .await;
    let until = api.clock.now().plus_secs(3600).to_rfc3339();
    let timed = new_license(
        api,
        &a.api_key,
        json!({"product_id": pid, "user_id": "K2", "name": "Timed", "valid_until": until}),
    )
    .await;
    let key = permanent["key"].as_str().unwrap();

    // GetProductLicenses, by id and by SKU.
    for query in [
        format!("productId={pid}"),
        "productSku=arpc3ydo0qbxbufuncdh".to_owned(),
    ] {
        let (status, body) = api
            .call_as(
                Method::GET,
                &format!("{VENDOR}/Accounts/r1/GetProductLicenses?{query}"),
                &a.api_key,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["errors"], json!([]));
        let licenses = body["response"]["licenses"].as_array().unwrap();
        assert_eq!(licenses.len(), 2);
        let first = &licenses[0];
        assert_eq!(first["internalUserIdentifier"], "K109025530");
        assert_eq!(first["until"], "9999-01-01T00:00:00");
        assert_eq!(first["isActive"], true);
        assert_eq!(first["orderIdentifier"], "B441542389");
        assert_eq!(first["licenseKey"], key);
        let from = first["from"].as_str().unwrap();
        assert_eq!(from.len(), 26, "microseconds and no zone: {from}");
        assert!(!from.ends_with('Z'));
        assert_eq!(licenses[1]["orderIdentifier"], Value::Null);
        assert_ne!(licenses[1]["until"], "9999-01-01T00:00:00");
    }
    for (query, status) in [
        ("", StatusCode::BAD_REQUEST),
        ("productId=x", StatusCode::BAD_REQUEST),
        (
            &format!("productId={pid}&productSku=a") as &str,
            StatusCode::BAD_REQUEST,
        ),
        ("productSku=unknown", StatusCode::NOT_FOUND),
    ] {
        let (got, body) = api
            .call_as(
                Method::GET,
                &format!("{VENDOR}/Accounts/r1/GetProductLicenses?{query}"),
                &a.api_key,
                None,
            )
            .await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["response"], Value::Null);
        assert!(body["errors"][0].as_str().is_some(), "{body}");
    }
    let (status, body) = api
        .call_as(
            Method::GET,
            &format!("{VENDOR}/Accounts/r1/GetProductLicenses?productId={pid}"),
            &b.api_key,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another account's product: {body}"
    );
    let (status, body) = api
        .call(
            Method::GET,
            &format!("{VENDOR}/Accounts/r1/GetProductLicenses?productId={pid}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errors"][0].is_string());

    // GetPublic needs no credentials and tells nothing about the holder.
    let (status, body) = api
        .call(
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/GetPublic?key={key}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["response"],
        json!({"exists": true, "key": key, "isValid": true,
               "productSku": "arpc3ydo0qbxbufuncdh", "latestPublicVersionName": "2.1"})
    );
    let unknown = domain::licensing::new_uuid();
    let (_, body) = api
        .call(
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/GetPublic?key={unknown}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        body["response"],
        json!({"exists": false, "key": unknown, "isValid": false,
               "productSku": null, "latestPublicVersionName": null})
    );
    for query in ["", "key=not-a-key"] {
        let (status, body) = api
            .call(
                Method::GET,
                &format!("{VENDOR}/Licenses/r1/GetPublic?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    // Get: the extended view, only for the owning account.
    let (status, body) = api
        .call_as(
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/Get?key={key}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let license = &body["response"]["license"];
    assert_eq!(license["productSku"], "arpc3ydo0qbxbufuncdh");
    assert_eq!(license["issuedToIdentifier"], "K109025530");
    assert_eq!(license["validUntil"], "9999-01-01T00:00:00");
    assert_eq!(license["isPermanent"], true);
    assert_eq!(license["keyIdentifier"], key);
    assert_eq!(license["isActive"], true);
    let (status, _) = api
        .call_as(
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/Get?key={key}"),
            &b.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One-time login tokens: the holder gets one with the key, the vendor
    // redeems it once.
    let token_for = |key: String| async move {
        let (status, body) = api
            .post_form(
                &format!("{VENDOR}/Authentication/r1/CreateToken"),
                None,
                &format!("licenseKey={key}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"]["token"].as_str().unwrap().to_owned()
    };
    let validity =
        |token: &str| format!("{VENDOR}/Authentication/r1/GetTokenValidity?token={token}");
    let token = token_for(key.to_owned()).await;
    let (status, _) = api
        .call_as(Method::GET, &validity(&token), &b.api_key, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another vendor cannot redeem it"
    );
    let (status, body) = api
        .call_as(Method::GET, &validity(&token), &a.api_key, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["response"]["authenticatedIdentity"],
        json!({"identifier": "K109025530", "firstName": "Erika", "lastName": "Mustermann",
               "email": "erika@example.com", "isEmailVerified": true, "countryCode3Letter": "DEU"})
    );
    let (status, body) = api
        .call_as(Method::GET, &validity(&token), &a.api_key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "single use: {body}");
    let (status, _) = api
        .call_as(Method::GET, &validity("olt_made_up"), &a.api_key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call_as(Method::GET, &validity(""), &a.api_key, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let stale = token_for(timed["key"].as_str().unwrap().to_owned()).await;
    api.clock.advance_secs(601);
    let (status, _) = api
        .call_as(Method::GET, &validity(&stale), &a.api_key, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "expired");
    // The timed license has now been expired for a while too: no token.
    api.clock.advance_secs(3600);
    let (status, body) = api
        .post_form(
            &format!("{VENDOR}/Authentication/r1/CreateToken"),
            None,
            &format!("licenseKey={}", timed["key"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (status, body["response"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, Value::Null)
    );
    let (status, _) = api
        .post_form(
            &format!("{VENDOR}/Authentication/r1/CreateToken"),
            None,
            &format!("licenseKey={unknown}"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Racing redemptions: one wins.
    let token = token_for(key.to_owned()).await;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let path = validity(&token);
            let auth = a.api_key.clone();
            let base = api.base.clone();
            tokio::spawn(async move {
                api_tests::status_of(&base, Method::GET, &path, &auth, None).await
            })
        })
        .collect();
    let mut ok = 0;
    for racer in racers {
        match racer.await.unwrap() {
            200 => ok += 1,
            404 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(ok, 1);

    // Discounts.
    let discount = format!("{VENDOR}/Discounts/r1/Create");
    let (status, body) = api
        .post_form(
            &discount,
            Some(&a.api_key),
            &format!("productId={pid}&percentage=15&usageLimit=10"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = body["response"]["code"].as_str().unwrap();
    assert!(
        code.len() == 17
            && code.split('-').all(|g| g.len() == 5
                && g.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())),
        "{code}"
    );
    let (status, body) = api
        .call(
            Method::POST,
            &discount,
            Some(&a.api_key),
            Some(
                &json!({"productSku": "arpc3ydo0qbxbufuncdh", "amount": "500", "currency": "eur"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "JSON is accepted too: {body}");
    for bad in [
        "percentage=15",
        &format!("productId={pid}&percentage=120"),
        &format!("productId={pid}"),
    ] {
        let (status, body) = api.post_form(&discount, Some(&a.api_key), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["errors"][0].is_string());
    }
    let (status, _) = api
        .post_form(
            &discount,
            Some(&b.api_key),
            &format!("productId={pid}&percentage=15"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's product");
    let (status, _) = api
        .call_typed(
            Method::POST,
            &discount,
            Some(&a.api_key),
            "multipart/form-data; boundary=x",
            Some("--x--"),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

fn subscription_license(name: &str) -> Value {
    json!({
        "type": "CONTRACT_PERPETUAL",
        "name": name,
        "description": "Premimum package",
        "image": "https://example.com/logo.jpg",
        "status": "ACTIVE",
        "company": "Google",
        "metadata": "https://ipfs.io/ipfs/QmZmX5iTJc3C98dbkwrHMJsTGATduYNHCUmqpz7t4iSQpW",
        "price": "10000000000000000"
    })
}

/// Creates a subscription license from `body` and deploys it to Ethereum;
/// answers its contract address.
async fn deployed_contract(api: &TestApi, auth: &str, body: Value) -> String {
    let (status, created) = api.call_as(Method::POST, "/create", auth, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["payload"]["id"].as_str().unwrap();
    let (status, deployed) = api
        .call_as(
            Method::POST,
            &format!("/deploy/{id}"),
            auth,
            Some(json!({"contract": {"blockchain": "ETHEREUM"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    deployed["payload"]["contract"]["address"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_subscription_api_creates_queries_and_deploys(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let (status, created) = api
        .call_as(
            Method::POST,
            "/create",
            &a.api_key,
            Some(subscription_license("Office")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "OK");
    let office = created["payload"].clone();
    assert_eq!(office["type"], "CONTRACT_PERPETUAL");
    assert_eq!(office["price"], "10000000000000000");
    assert_eq!(office["owner"], Value::Null);
    let software = office["software"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call_as(
            Method::GET,
            &format!("{V4}/products/{software}"),
            &a.api_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a product was made for it");

    let mut more = Vec::new();
    for name in ["Access", "Word", "Excel"] {
        let mut body = subscription_license(name);
        body["software"] = json!(software);
        body["owner"] = json!("0x96dc73c8b5969608c77375f085949744b5177660");
        let (status, created) = api
            .call_as(Method::POST, "/create", &a.bearer, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        more.push(created["payload"].clone());
    }
    let mut subscription = subscription_license("Teams");
    subscription["type"] = json!("CONTRACT_SUBSCRIPTION");
    subscription["expireTime"] = json!(api.clock.now().secs() + 86_400);
    let (status, teams) = api
        .call_as(Method::POST, "/create", &a.api_key, Some(subscription))
        .await;
    assert_eq!(status, StatusCode::OK, "{teams}");
    assert_eq!(teams["payload"]["type"], "CONTRACT_SUBSCRIPTION");

    for (bad, status) in [
        (
            json!({"name": "x", "type": "CONTRACT_FOREVER"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"type": "CONTRACT_PERPETUAL"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "software": domain::licensing::new_uuid()}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"name": "x", "id": office["id"]}),
            StatusCode::CONFLICT,
        ),
        (json!({"name": "x", "price": "-1"}), StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = api
            .call_as(Method::POST, "/create", &a.api_key, Some(bad.clone()))
            .await;
        assert_eq!(got, status, "{bad}: {body}");
        assert!(body["error"].is_string(), "{{\"error\": msg}}: {body}");
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }

    // Queries: sorted by name, the total count, offset paging.
    let query = |body: Value, auth: String| async move {
        let (status, answer) = api
            .call_as(Method::POST, "/query/license", &auth, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    };
    let names = |answer: &Value| -> Vec<String> {
        answer["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = query(json!({}), a.api_key.clone()).await;
    assert_eq!(names(&all), ["Access", "Excel", "Office", "Teams", "Word"]);
    assert_eq!(all["count"], 5);
    assert_eq!(all["limit"], 100);
    let first = query(json!({"offset": 0, "limit": 2}), a.api_key.clone()).await;
    assert_eq!(names(&first), ["Access", "Excel"]);
    assert_eq!(first["count"], 5, "count ignores paging");
    assert_eq!(first["offset"]["id"], first["records"][0]["id"]);
    let last = &first["records"][1];
    let second = query(
        json!({"offset": {"id": last["id"], "software": last["software"]}, "limit": 2}),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(names(&second), ["Office", "Teams"]);
    let owned = query(
        json!({"filter": {"owner": "0x96dc73c8b5969608c77375f085949744b5177660"}}),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(
        (names(&owned), owned["count"].as_u64()),
        (
            vec!["Access".to_owned(), "Excel".into(), "Word".into()],
            Some(3)
        )
    );
    let by_id = query(json!({"filter": {"id": office["id"]}}), a.api_key.clone()).await;
    assert_eq!(
        (names(&by_id), by_id["count"].as_u64()),
        (vec!["Office".to_owned()], Some(1))
    );
    let by_software = query(json!({"filter": {"software": software}}), a.api_key.clone()).await;
    assert_eq!(by_software["count"], 4);
    let empty = query(json!({}), b.api_key.clone()).await;
    assert_eq!(
        (empty["count"].as_u64(), empty["offset"].as_u64()),
        (Some(0), Some(0))
    );
    for bad in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"offset": 7}),
        json!({"offset": {"id": "x"}}),
        json!({"offset": {"id": domain::licensing::new_uuid()}}),
        json!({"filter": {"software": "not-a-uuid"}}),
        json!({"filter": "id"}),
    ] {
        let (status, body) = api
            .call_as(
                Method::POST,
                "/query/license",
                &a.api_key,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }

    // Deploying.
    let id = office["id"].as_str().unwrap();
    let deploy = format!("/deploy/{id}");
    let wallet = api_tests::example_ethereum_key();
    let owner = api_tests::ethereum_address(&wallet);
    let ethereum = json!({"blockchain": "ETHEREUM"});
    let (status, body) = api
        .call_as(
            Method::POST,
            &deploy,
            &a.api_key,
            Some(json!({"contract": ethereum})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no owner yet: {body}"
    );
    for bad in [
        json!({"owner": owner}),
        json!({"owner": owner, "contract": {"blockchain": "DOGE"}}),
        json!({"owner": "K1", "contract": ethereum}),
        json!({"id": domain::licensing::new_uuid(), "owner": owner, "contract": ethereum}),
    ] {
        let (status, body) = api
            .call_as(Method::POST, &deploy, &a.api_key, Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = api
        .call_as(
            Method::POST,
            &deploy,
            &b.api_key,
            Some(json!({"owner": owner, "contract": ethereum})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's license");
    let (status, _) = api
        .call_as(
            Method::POST,
            &format!("/deploy/{}", domain::licensing::new_uuid()),
            &a.api_key,
            Some(json!({"owner": owner, "contract": ethereum})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, deployed) = api
        .call_as(
            Method::POST,
            &deploy,
            &a.api_key,
            Some(json!({"id": id, "owner": owner, "contract": ethereum})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let contract = deployed["payload"]["contract"].clone();
    assert_eq!(contract["blockchain"], "ETHEREUM");
    assert_eq!(contract["kind"], "PLATFORM_CERTIFICATE");
    assert_eq!(contract["address"].as_str().unwrap().len(), 42);
    assert_eq!(
        contract["certificate"].as_str().unwrap().split('.').count(),
        3
    );
    assert_eq!(deployed["payload"]["owner"], owner);
    let (status, again) = api
        .call_as(
            Method::POST,
            &deploy,
            &a.api_key,
            Some(json!({"contract": ethereum})),
        )
        .await;
    assert_eq!(
        (status, &again["payload"]["contract"]),
        (StatusCode::OK, &contract),
        "a repeat answers the same"
    );
    let (status, _) = api
        .call_as(
            Method::POST,
            &deploy,
            &a.api_key,
            Some(json!({"contract": {"blockchain": "POLYGON"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already deployed elsewhere");
    let word = more[1]["id"].as_str().unwrap();
    let (status, body) = api
        .call_as(
            Method::POST,
            &format!("/deploy/{word}"),
            &a.api_key,
            Some(json!({"owner": owner, "contract": ethereum})),
        )
        .await;
    assert_eq!(
        (status, body["error"].is_string()),
        (StatusCode::CONFLICT, true),
        "owner mismatch: {body}"
    );
    let (_, listed) = api
        .call_as(
            Method::POST,
            "/query/license",
            &a.api_key,
            Some(json!({"filter": {"owner": owner}})),
        )
        .await;
    assert_eq!(
        listed["records"][0]["contract"], contract,
        "the deployment is stored"
    );
}

async fn activation_needs_a_fresh_signed_nonce(api: &TestApi) {
    let (_, a) = account(api, "Vendor A").await;
    let (_, b) = account(api, "Vendor B").await;
    let wallet = api_tests::example_ethereum_key();
    let owner = api_tests::ethereum_address(&wallet);
    let stranger = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let stranger_address = api_tests::ethereum_address(&stranger);

    let mut body = subscription_license("Office");
    body["owner"] = json!(owner.to_uppercase().replacen("0X", "0x", 1));
    let contract = deployed_contract(api, &a.api_key, body).await;

    let nonce_for = |address: String, auth: String| async move {
        let (status, body) = api
            .call_as(
                Method::POST,
                "/activation/nonce",
                &auth,
                Some(json!({"address": address})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "OK");
        body["payload"]["nonce"].as_str().unwrap().to_owned()
    };
    for bad in [
        json!({}),
        json!({"address": "0x1234"}),
        json!({"address": "someone"}),
    ] {
        let (status, body) = api
            .call_as(Method::POST, "/activation/nonce", &a.api_key, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"].is_string());
    }
    let activate = |address: &str, nonce: &str, sign: String, contract: &str| json!({"address": address, "contract": contract, "tokenId": "1", "nonce": nonce, "sign": sign});
    let call = |body: Value, auth: String| async move {
        api.call_as(Method::POST, "/activation/activate", &auth, Some(body))
            .await
    };

    let nonce = nonce_for(owner.clone(), a.api_key.clone()).await;
    let good = activate(
        &owner,
        &nonce,
        api_tests::personal_sign(&wallet, &nonce),
        &contract,
    );
    let (status, body) = call(
        activate(
            &owner,
            &nonce,
            api_tests::personal_sign(&stranger, &nonce),
            &contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].is_string()),
        (StatusCode::FORBIDDEN, true),
        "bad signature: {body}"
    );
    let (status, _) = call(
        activate(
            &owner,
            &nonce,
            api_tests::personal_sign(&wallet, "other"),
            &contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "signature over another message"
    );
    let (status, _) = call(good.clone(), b.api_key.clone()).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "another account does not know the nonce"
    );
    let mut wrong_contract = good.clone();
    wrong_contract["contract"] = json!(format!("0x{}", "0".repeat(40)));
    let (status, _) = call(wrong_contract, a.api_key.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut wrong_token = good.clone();
    wrong_token["tokenId"] = json!("2");
    let (status, _) = call(wrong_token, a.api_key.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(good.clone(), a.api_key.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activate"], "true");
    assert_eq!(body["credential"]["expireTime"], "253370764800");
    assert_eq!(body["timestamp"], api.clock.now().millis());
    let (status, body) = call(good, a.api_key.clone()).await;
    assert_eq!(
        (status, body["error"].is_string()),
        (StatusCode::CONFLICT, true),
        "replayed nonce"
    );

    // A nonce is bound to the address it was issued to.
    let theirs = nonce_for(stranger_address.clone(), a.api_key.clone()).await;
    let (status, _) = call(
        activate(
            &owner,
            &theirs,
            api_tests::personal_sign(&wallet, &theirs),
            &contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A signer that does not own the license.
    let (status, body) = call(
        activate(
            &stranger_address,
            &theirs,
            api_tests::personal_sign(&stranger, &theirs),
            &contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap().contains("own")),
        (StatusCode::FORBIDDEN, true),
        "{body}"
    );

    // Expiry.
    let stale = nonce_for(owner.clone(), a.api_key.clone()).await;
    api.clock.advance_secs(301);
    let (status, _) = call(
        activate(
            &owner,
            &stale,
            api_tests::personal_sign(&wallet, &stale),
            &contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "expired nonce");
    let (status, _) = call(json!({"address": owner}), a.api_key.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "missing fields");

    // Racing activations with one nonce: exactly one succeeds.
    let nonce = nonce_for(owner.clone(), a.api_key.clone()).await;
    let body = activate(
        &owner,
        &nonce,
        api_tests::personal_sign(&wallet, &nonce),
        &contract,
    );
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (base, auth, body) = (api.base.clone(), a.api_key.clone(), body.clone());
            tokio::spawn(async move {
                api_tests::status_of(
                    &base,
                    Method::POST,
                    "/activation/activate",
                    &auth,
                    Some(&body),
                )
                .await
            })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            200 => wins += 1,
            409 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(wins, 1);

    // A device with a P-256 key activates the same way; a suspended
    // license does not activate.
    use p256::ecdsa::signature::Signer as _;
    let device = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let device_key =
        domain::clients::PublicKey::from_p256(p256::PublicKey::from(device.verifying_key()));
    let mut body = subscription_license("Firmware");
    body["owner"] = json!(device_key.to_spki_base64());
    let device_contract = deployed_contract(api, &a.api_key, body).await;
    let pem = device_key.to_pem();
    let nonce = nonce_for(pem.clone(), a.api_key.clone()).await;
    let signature: p256::ecdsa::Signature = device.sign(nonce.as_bytes());
    let sign = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        signature.to_bytes(),
    );
    let (status, body) = call(
        activate(&pem, &nonce, sign, &device_contract),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut body = subscription_license("Suspended");
    body["owner"] = json!(owner);
    body["status"] = json!("INACTIVE");
    let suspended_contract = deployed_contract(api, &a.api_key, body).await;
    let nonce = nonce_for(owner.clone(), a.api_key.clone()).await;
    let (status, _) = call(
        activate(
            &owner,
            &nonce,
            api_tests::personal_sign(&wallet, &nonce),
            &suspended_contract,
        ),
        a.api_key.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

on_both_backends!(
    products_are_managed_per_account,
    licenses_are_granted_listed_and_deleted,
    batches_report_each_item,
    the_vendor_api_speaks_its_envelope,
    the_subscription_api_creates_queries_and_deploys,
    activation_needs_a_fresh_signed_nonce,
);
