//! The security suite `docs/security.md` lists: auth and access tokens that
//! must not pass, every route called by one tenant with another tenant's
//! ids, and secrets that must never appear in a response or a log line.
//! The auth-token cases `auth.rs` already covers (forged, expired,
//! future-dated, replayed, `alg: none`, wrong `iss`, wrong `sub`) are named
//! in the document, not repeated here.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use api_tests::serde_json::{json, Value};
use api_tests::{on_both_backends, TestApi, TestClient};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use domain::auth::ClientAuthClaims;
use domain::clock::Clock;
use http::{Method, StatusCode};
use http_api::ROUTES;
use sha2::{Digest, Sha256};

const DEVICE_KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const V4: &str = "/api/license/management/v4";
const VENDOR: &str = "/API/Public/v1";
const CHALLENGES: &str = "/v1/mfa/challenges/activation";

// ---------------------------------------------------------------- helpers

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn exchange(api: &TestApi, token: &str) -> (StatusCode, Value) {
    let body = json!({"token": token, "tokenType": "auth"});
    api.call(Method::POST, "/auth", None, Some(&body)).await
}

fn claims_of(api: &TestApi, client: &TestClient) -> Value {
    serde_json::to_value(ClientAuthClaims::new(
        &client.key,
        &client.signing_key,
        api.clock.now(),
    ))
    .unwrap()
}

/// A compact JWS with any header, signed by `sign` over its signing input.
fn jws(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// The SPKI of a secp256k1 public key, base64: a well-formed key on the
/// wrong curve.
fn secp256k1_spki(key: &k256::ecdsa::SigningKey) -> String {
    let point = key.verifying_key().to_encoded_point(false);
    let mut der = hex_bytes("3056301006072a8648ce3d020106052b8104000a034200");
    der.extend_from_slice(point.as_bytes());
    STANDARD.encode(der)
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn assert_refused((status, answer): (StatusCode, Value), case: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
    assert_eq!(answer["error"], "unauthorized", "{case}");
}

// ------------------------------------------------------------ auth tokens

async fn auth_tokens_that_must_not_pass(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let claims = claims_of(api, &acme);
    let public = acme.signing_key.public_key();

    // HS256 keyed with the client's public key, in both forms a verifier
    // might mistake for a shared secret.
    for secret in [public.to_spki_base64(), public.to_pem()] {
        let token = jws(json!({"alg": "HS256", "typ": "JWT"}), &claims, |input| {
            hmac_sha256(secret.as_bytes(), input)
        });
        assert_refused(exchange(api, &token).await, "HS256 with the public key");
    }

    // The wrong curve: a secp256k1 key as `sub`, and a secp256k1 signature
    // under the registered P-256 `sub`.
    let k1 = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let sign_k1 = |input: &[u8]| {
        let signature: k256::ecdsa::Signature = k256::ecdsa::signature::Signer::sign(&k1, input);
        signature.to_bytes().to_vec()
    };
    let mut k1_claims = claims.clone();
    k1_claims["sub"] = json!(secp256k1_spki(&k1));
    for (header, body) in [
        (json!({"alg": "ES256"}), &k1_claims),
        (json!({"alg": "ES256K"}), &k1_claims),
        (json!({"alg": "ES256"}), &claims),
    ] {
        let token = jws(header, body, sign_k1);
        assert_refused(exchange(api, &token).await, "wrong curve");
    }

    // Truncated anywhere: in the signature, at a dot, in the payload.
    let good = api.auth_token(&acme);
    let dots: Vec<usize> = good.match_indices('.').map(|(i, _)| i).collect();
    for cut in [
        good.len() - 1,
        good.len() - 20,
        dots[1] + 1,
        dots[1],
        dots[0] + 5,
    ] {
        assert_refused(exchange(api, &good[..cut]).await, "truncated");
    }
    // None of the refusals spent the token.
    assert_eq!(exchange(api, &good).await.0, StatusCode::OK);
}

async fn access_tokens_that_must_not_pass(api: &TestApi) {
    let acme = api.new_client("Acme").await;
    let other = api.new_client("Other").await;
    let token = api.login(&acme).await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // Tampered: another client's key in `sub`, a later `exp`, a changed
    // signature byte, and a truncated token.
    let mut as_other = claims.clone();
    as_other["sub"] = json!(other.key.as_str());
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let mut flipped_signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    flipped_signature[10] ^= 1;
    let tampered = [
        format!(
            "{}.{}.{}",
            parts[0],
            b64(as_other.to_string().as_bytes()),
            parts[2]
        ),
        format!(
            "{}.{}.{}",
            parts[0],
            b64(longer.to_string().as_bytes()),
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], parts[1], b64(&flipped_signature)),
        token[..token.len() - 2].to_owned(),
        format!("{}.{}.", parts[0], parts[1]),
    ];
    for forged in &tampered {
        assert_refused(api.get("/devices", forged).await, "tampered access token");
    }
    // A client's auth token is not an access token, nor the other way round.
    assert_refused(
        api.get("/devices", &api.auth_token(&acme)).await,
        "auth token as access token",
    );
    assert_refused(exchange(api, &token).await, "access token at /auth");
    // An access token with `alg: none` and the real claims.
    claims["jti"] = json!("none");
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    assert_refused(api.get("/devices", &none).await, "alg none access token");

    assert_eq!(api.get("/devices", &token).await.0, StatusCode::OK);
    api.clock.advance_secs(900);
    assert_refused(api.get("/devices", &token).await, "expired access token");
}

// --------------------------------------------------------------- tenants

/// What tenant A owns, for tenant B to reach for.
struct Owned {
    serial: String,
    batch: String,
    product: String,
    license: String,
    license_key: String,
    holder: String,
    subscription: String,
    contract: String,
    nonce: String,
    owner: String,
    challenge: String,
    person: String,
    code: String,
    event: String,
    login_token: String,
    webhook: String,
    delivery: String,
}

async fn build_tenant(api: &TestApi, auth: &str) -> Owned {
    let device = json!({"serialNum": "SHARED-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY});
    assert_eq!(
        api.call_as(Method::POST, "/devices", auth, Some(device))
            .await
            .0,
        StatusCode::CREATED
    );
    let code = json!({"serialNum": "SHARED-1", "codeType": "add_time", "arg": 1});
    assert_eq!(
        api.call_as(Method::POST, "/codes", auth, Some(code))
            .await
            .0,
        StatusCode::CREATED
    );
    let plan = json!({"currency": "KES", "dailyRate": "50"});
    let path = "/devices/SHARED-1/plan";
    assert_eq!(
        api.call_as(Method::PUT, path, auth, Some(plan)).await.0,
        StatusCode::OK
    );
    let payment = json!({"serialNum": "SHARED-1", "amount": "100", "currency": "KES",
        "reference": "A-PAY-1", "paidAt": "2026-11-22T10:00:00Z"});
    assert_eq!(
        api.call_as(Method::POST, "/payments", auth, Some(payment))
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, batch) = api
        .call_as(
            Method::POST,
            "/batch",
            auth,
            Some(json!({"items": [{"serialNum": "SHARED-1", "codeType": "add_time", "arg": 2}]})),
        )
        .await;
    // The worker issues the batch's code in the background; wait, so A's
    // device stands still while B probes it.
    for _ in 0..100 {
        let path = format!("/batch/{}", batch["id"].as_str().unwrap());
        let status = api.call_as(Method::GET, &path, auth, None).await.1["status"].clone();
        if status != "pending" && status != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, product) = api
        .call_as(
            Method::POST,
            &format!("{V4}/products"),
            auth,
            Some(json!({"name": "Suite", "sku": "suite"})),
        )
        .await;
    let product = product["id"].as_str().unwrap().to_owned();
    let (_, license) = api
        .call_as(
            Method::POST,
            &format!("{V4}/licenses"),
            auth,
            Some(json!({"product_id": product, "user_id": "holder-a"})),
        )
        .await;
    let (_, token) = api
        .post_form(
            &format!("{VENDOR}/Authentication/r1/CreateToken"),
            None,
            &format!("licenseKey={}", license["key"].as_str().unwrap()),
        )
        .await;
    let owner = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23";
    let (_, subscription) = api
        .call_as(
            Method::POST,
            "/create",
            auth,
            Some(json!({"type": "CONTRACT_PERPETUAL", "name": "Seat", "status": "ACTIVE"})),
        )
        .await;
    let subscription = subscription["payload"]["id"].as_str().unwrap().to_owned();
    let (status, deployed) = api
        .call_as(
            Method::POST,
            &format!("/deploy/{subscription}"),
            auth,
            Some(json!({"owner": owner, "contract": {"blockchain": "ETHEREUM"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let (_, nonce) = api
        .call_as(
            Method::POST,
            "/activation/nonce",
            auth,
            Some(json!({"address": owner})),
        )
        .await;
    let (_, challenge) = api
        .call_as(
            Method::POST,
            CHALLENGES,
            auth,
            Some(json!({"person_id": "person-a",
        "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"})),
        )
        .await;
    let challenge_id = challenge["id"].as_str().unwrap().to_owned();
    let (status, headers, _) = api
        .send(
            Method::POST,
            &format!("{CHALLENGES}/{challenge_id}/delivery_events"),
            &[
                ("authorization", auth),
                ("content-type", "application/json"),
            ],
            Some(r#"{"type": "DISPATCHED", "timestamp": "2026-11-20T09:00:00Z"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A webhook endpoint on loopback with one delivery, of a test event
    // (its attempt finds nothing listening).
    let (_, hook) = api
        .call_as(
            Method::POST,
            "/webhooks",
            auth,
            Some(json!({"url": "https://127.0.0.1:9/hook", "events": ["payment.received"]})),
        )
        .await;
    let webhook = hook["id"].as_str().unwrap().to_owned();
    let test = format!("/webhooks/{webhook}/test");
    api.call_as(Method::POST, &test, auth, Some(json!({})))
        .await;
    api.api.settle_webhooks().await;
    let (_, found) = api
        .call_as(
            Method::GET,
            &format!("/webhooks/{webhook}/deliveries"),
            auth,
            None,
        )
        .await;
    let delivery = found["deliveries"][0]["id"].as_str().unwrap().to_owned();
    Owned {
        serial: "SHARED-1".into(),
        batch: batch["id"].as_str().unwrap().to_owned(),
        product,
        license: license["id"].as_str().unwrap().to_owned(),
        license_key: license["key"].as_str().unwrap().to_owned(),
        holder: "holder-a".into(),
        subscription,
        contract: deployed["payload"]["contract"]["address"]
            .as_str()
            .unwrap()
            .to_owned(),
        nonce: nonce["payload"]["nonce"].as_str().unwrap().to_owned(),
        owner: owner.into(),
        challenge: challenge_id,
        person: "person-a".into(),
        code: challenge["code"].as_str().unwrap().to_owned(),
        event: headers["location"]
            .to_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned(),
        webhook,
        delivery,
        login_token: token["response"]["token"].as_str().unwrap().to_owned(),
    }
}

/// One request tenant B makes with tenant A's ids, and the route it tests.
struct Probe {
    route: (&'static str, &'static str),
    path: String,
    auth: String,
    body: Option<Value>,
}

fn probe(
    route: (&'static str, &'static str),
    path: String,
    auth: &str,
    body: Option<Value>,
) -> Probe {
    Probe {
        route,
        path,
        auth: auth.to_owned(),
        body,
    }
}

/// Every route, called by tenant B with tenant A's ids: B gets 404 or sees
/// nothing of A's, and afterwards A's data is as it was.
async fn no_tenant_reaches_another(api: &TestApi) {
    let a = api.new_client("A").await;
    let b = api.new_client("B").await;
    let a_auth = format!("Bearer {}", api.login(&a).await);
    let bk = api.api_key(&b).await;
    let bb = format!("Bearer {}", api.login(&b).await);
    let o = build_tenant(api, &a_auth).await;
    let mut reached = BTreeSet::new();
    let device_path = format!("/devices/{}", o.serial);
    let (_, device_before) = api.call_as(Method::GET, &device_path, &a_auth, None).await;

    // Requests naming something of A's: each is 404 for B.
    let license = format!("{V4}/licenses/{}", o.license);
    let product = format!("{V4}/products/{}", o.product);
    let challenge = format!("{CHALLENGES}/{}", o.challenge);
    let not_found = [
        probe(
            ("GET", "/devices/{serialNum}"),
            format!("/devices/{}", o.serial),
            &bb,
            None,
        ),
        probe(
            ("PUT", "/devices/{serialNum}/plan"),
            format!("/devices/{}/plan", o.serial),
            &bb,
            Some(json!({"currency": "KES", "dailyRate": "1"})),
        ),
        probe(
            ("GET", "/devices/{serialNum}/plan"),
            format!("/devices/{}/plan", o.serial),
            &bb,
            None,
        ),
        probe(
            ("GET", "/devices/{serialNum}/ledger"),
            format!("/devices/{}/ledger", o.serial),
            &bb,
            None,
        ),
        probe(
            ("POST", "/payments"),
            "/payments".into(),
            &bb,
            Some(
                json!({"serialNum": o.serial, "amount": "1", "currency": "KES",
                "reference": "B-PAYS-A", "paidAt": "2026-11-22T10:00:00Z"}),
            ),
        ),
        probe(
            ("GET", "/payments"),
            format!("/payments?serialNum={}", o.serial),
            &bb,
            None,
        ),
        probe(
            ("PUT", "/devices/{serialNum}/credit"),
            format!("/devices/{}/credit", o.serial),
            &bb,
            Some(json!({"unlocked": true})),
        ),
        probe(
            ("POST", "/codes"),
            "/codes".into(),
            &bb,
            Some(json!({"serialNum": o.serial, "codeType": "unlock"})),
        ),
        probe(
            ("GET", "/batch/{id}"),
            format!("/batch/{}", o.batch),
            &bb,
            None,
        ),
        probe(
            ("GET", "/api/license/management/v4/licenses/{license_id}"),
            license.clone(),
            &bk,
            None,
        ),
        probe(
            ("DELETE", "/api/license/management/v4/licenses/{license_id}"),
            license,
            &bk,
            None,
        ),
        probe(
            ("POST", "/api/license/management/v4/licenses"),
            format!("{V4}/licenses"),
            &bk,
            Some(json!({"product_id": o.product, "user_id": "intruder"})),
        ),
        probe(
            ("GET", "/api/license/management/v4/products/{product_id}"),
            product.clone(),
            &bk,
            None,
        ),
        probe(
            ("PATCH", "/api/license/management/v4/products/{product_id}"),
            product.clone(),
            &bk,
            Some(json!({"name": "Taken"})),
        ),
        probe(
            ("DELETE", "/api/license/management/v4/products/{product_id}"),
            format!("{product}?force=true"),
            &bk,
            None,
        ),
        probe(
            ("GET", "/API/Public/v1/Accounts/r1/GetProductLicenses"),
            format!(
                "{VENDOR}/Accounts/r1/GetProductLicenses?productId={}",
                o.product
            ),
            &bk,
            None,
        ),
        probe(
            ("GET", "/API/Public/v1/Licenses/r1/Get"),
            format!("{VENDOR}/Licenses/r1/Get?key={}", o.license_key),
            &bk,
            None,
        ),
        probe(
            ("GET", "/API/Public/v1/Authentication/r1/GetTokenValidity"),
            format!(
                "{VENDOR}/Authentication/r1/GetTokenValidity?token={}",
                o.login_token
            ),
            &bk,
            None,
        ),
        probe(
            ("POST", "/create"),
            "/create".into(),
            &bk,
            Some(json!({"software": o.product, "type": "CONTRACT_PERPETUAL", "name": "Steal"})),
        ),
        probe(
            ("POST", "/deploy/{id}"),
            format!("/deploy/{}", o.subscription),
            &bk,
            Some(json!({"owner": o.owner, "contract": {"blockchain": "POLYGON"}})),
        ),
        probe(
            ("GET", "/v1/mfa/challenges/activation/{id}"),
            challenge.clone(),
            &bb,
            None,
        ),
        probe(
            ("DELETE", "/v1/mfa/challenges/activation/{id}"),
            challenge.clone(),
            &bb,
            None,
        ),
        probe(
            ("POST", "/v1/mfa/challenges/activation/{id}/verify"),
            format!("{challenge}/verify"),
            &bb,
            Some(json!({"person_id": o.person, "code": o.code})),
        ),
        probe(
            ("POST", "/v1/mfa/challenges/activation/{id}/delivery_events"),
            format!("{challenge}/delivery_events"),
            &bb,
            Some(json!({"type": "DELIVERED", "timestamp": "2026-11-21T09:00:00Z"})),
        ),
        probe(
            ("GET", "/v1/mfa/challenges/activation/{id}/delivery_events"),
            format!("{challenge}/delivery_events"),
            &bb,
            None,
        ),
        probe(
            (
                "GET",
                "/v1/mfa/challenges/activation/{id}/delivery_events/{event_id}",
            ),
            format!("{challenge}/delivery_events/{}", o.event),
            &bb,
            None,
        ),
    ];
    let hook = format!("/webhooks/{}", o.webhook);
    let webhook_probes = [
        probe(("GET", "/webhooks/{id}"), hook.clone(), &bb, None),
        probe(
            ("PATCH", "/webhooks/{id}"),
            hook.clone(),
            &bb,
            Some(json!({"enabled": false, "rotateSecret": true})),
        ),
        probe(("DELETE", "/webhooks/{id}"), hook.clone(), &bb, None),
        probe(
            ("POST", "/webhooks/{id}/test"),
            format!("{hook}/test"),
            &bb,
            None,
        ),
        probe(
            ("GET", "/webhooks/{id}/deliveries"),
            format!("{hook}/deliveries"),
            &bb,
            None,
        ),
        probe(
            ("POST", "/webhooks/{id}/deliveries/{deliveryId}/retry"),
            format!("{hook}/deliveries/{}/retry", o.delivery),
            &bb,
            None,
        ),
    ];
    for p in not_found.into_iter().chain(webhook_probes) {
        let method = Method::from_bytes(p.route.0.as_bytes()).unwrap();
        let (status, answer) = api.call_as(method, &p.path, &p.auth, p.body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{:?}: {answer}", p.route);
        reached.insert(p.route);
    }
    let (status, answer) = api
        .post_form(
            &format!("{VENDOR}/Discounts/r1/Create"),
            Some(&bk),
            &format!("productId={}&percentage=10", o.product),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    reached.insert(("POST", "/API/Public/v1/Discounts/r1/Create"));

    // Listings and searches: B sees none of A's things.
    let empty = [
        (("GET", "/devices"), "/devices".to_owned(), &bb, "/devices"),
        (
            ("GET", "/codes"),
            format!("/codes?serialNum={}", o.serial),
            &bb,
            "/codes",
        ),
        (
            ("GET", "/codes"),
            format!("/codes?batchId={}", o.batch),
            &bb,
            "/codes",
        ),
        (("GET", "/batch"), "/batch".to_owned(), &bb, "/batches"),
        (
            ("GET", "/webhooks"),
            "/webhooks".to_owned(),
            &bb,
            "/endpoints",
        ),
        (
            ("GET", "/api/license/management/v4/users/{user_id}/licenses"),
            format!("{V4}/users/{}/licenses", o.holder),
            &bk,
            "/items",
        ),
        (
            ("GET", "/api/license/management/v4/licenses"),
            format!("{V4}/licenses?user_id={}", o.holder),
            &bk,
            "/items",
        ),
        (
            ("GET", "/api/license/management/v4/products"),
            format!("{V4}/products"),
            &bk,
            "/items",
        ),
        (
            ("GET", "/v1/mfa/challenges/activation"),
            format!(
                "{CHALLENGES}?filter[person_id]={}&filter[include_expired]=true",
                o.person
            ),
            &bb,
            "",
        ),
    ];
    for (route, path, auth, list) in empty {
        let (status, answer) = api.call_as(Method::GET, &path, auth, None).await;
        assert_eq!(status, StatusCode::OK, "{route:?}: {answer}");
        assert_eq!(
            answer.pointer(list),
            Some(&json!([])),
            "{route:?}: {answer}"
        );
        reached.insert(route);
    }
    let (_, queried) = api
        .call_as(
            Method::POST,
            "/query/license",
            &bk,
            Some(json!({"filter": {"id": o.subscription}})),
        )
        .await;
    assert_eq!(
        (&queried["count"], &queried["records"]),
        (&json!(0), &json!([]))
    );
    reached.insert(("POST", "/query/license"));

    // Per-item refusals inside a 200.
    for (route, body) in [
        (
            ("POST", "/api/license/management/v4/licenses/batch_create"),
            json!({"licenses": [{"product_id": o.product, "user_id": "intruder"}]}),
        ),
        (
            ("POST", "/api/license/management/v4/licenses/batch_delete"),
            json!({"license_ids": [o.license]}),
        ),
    ] {
        let (status, outcome) = api.call_as(Method::POST, route.1, &bk, Some(body)).await;
        assert_eq!(
            (status, &outcome["failed"]),
            (StatusCode::OK, &json!(1)),
            "{route:?}: {outcome}"
        );
        reached.insert(route);
    }

    // Auth: A's client key with B's signature.
    let mut claims = claims_of(api, &a);
    claims["sub"] = json!(b.signing_key.public_key().to_spki_base64());
    assert_refused(
        exchange(api, &b.signing_key.sign(&claims)).await,
        "A's iss, B's key",
    );
    reached.insert(("POST", "/auth"));
    // A's nonce is not B's: 409 as for an unknown nonce.
    let key = api_tests::example_ethereum_key();
    let (status, _) = api.call_as(Method::POST, "/activation/activate", &bk, Some(json!({"address": o.owner,
        "contract": o.contract, "tokenId": "1", "nonce": o.nonce, "sign": api_tests::personal_sign(&key, &o.nonce)}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    reached.insert(("POST", "/activation/activate"));
    let (_, own) = api
        .call_as(
            Method::POST,
            "/activation/nonce",
            &bk,
            Some(json!({"address": o.owner})),
        )
        .await;
    assert_ne!(own["payload"]["nonce"], json!(o.nonce));
    reached.insert(("POST", "/activation/nonce"));

    // Public by design, and holding nothing of the account or the holder.
    let (_, public) = api
        .call_as(
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/GetPublic?key={}", o.license_key),
            &bk,
            None,
        )
        .await;
    let shown: BTreeSet<&str> = public["response"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        shown,
        [
            "exists",
            "isValid",
            "key",
            "latestPublicVersionName",
            "productSku"
        ]
        .into()
    );
    reached.insert(("GET", "/API/Public/v1/Licenses/r1/GetPublic"));
    // A holder's login token is bound to the license's account, not B's.
    let (_, token) = api
        .post_form(
            &format!("{VENDOR}/Authentication/r1/CreateToken"),
            Some(&bk),
            &format!("licenseKey={}", o.license_key),
        )
        .await;
    let redeem = format!(
        "{VENDOR}/Authentication/r1/GetTokenValidity?token={}",
        token["response"]["token"].as_str().unwrap()
    );
    assert_eq!(
        api.call_as(Method::GET, &redeem, &bk, None).await.0,
        StatusCode::NOT_FOUND
    );
    reached.insert(("POST", "/API/Public/v1/Authentication/r1/CreateToken"));

    // B's M-Pesa callback names A's device: no device of B's, so
    // validation rejects it and a confirmation is 404; A's device is left
    // as it was (checked below).
    let b_callback = api.mpesa_callback(&b, "600638").await;
    let daraja = json!({"TransID": "B-MPESA-1", "TransTime": "20261122133045",
        "TransAmount": "100.00", "BusinessShortCode": "600638", "BillRefNumber": o.serial});
    let path = format!("/payments/mpesa/{b_callback}/validation");
    let (status, verdict) = api.call(Method::POST, &path, None, Some(&daraja)).await;
    assert_eq!(
        (status, &verdict["ResultCode"]),
        (StatusCode::OK, &json!("C2B00012"))
    );
    reached.insert(("POST", "/payments/mpesa/{callbackToken}/validation"));
    let path = format!("/payments/mpesa/{b_callback}/confirmation");
    let (status, answer) = api.call(Method::POST, &path, None, Some(&daraja)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    reached.insert(("POST", "/payments/mpesa/{callbackToken}/confirmation"));

    // Names are per account: B registers A's serial, reuses A's SKU and
    // product id, submits a batch for A's serial (its item fails), and
    // overrides a challenge of A's person, all without touching A's.
    for (route, path, auth, body, wanted) in [
        (
            ("POST", "/devices"),
            "/devices".to_owned(),
            &bb,
            json!({"serialNum": o.serial, "protocol": "nexus_full"}),
            StatusCode::CREATED,
        ),
        (
            ("POST", "/api/license/management/v4/products"),
            format!("{V4}/products"),
            &bk,
            json!({"name": "Mine", "sku": "suite", "id": o.product}),
            StatusCode::CREATED,
        ),
        (
            ("POST", "/batch"),
            "/batch".to_owned(),
            &bb,
            json!({"items": [{"serialNum": "SHARED-1", "codeType": "unlock"}]}),
            StatusCode::ACCEPTED,
        ),
        (
            ("POST", "/webhooks"),
            "/webhooks".to_owned(),
            &bb,
            json!({"url": "https://127.0.0.1:9/b", "events": ["payment.received"]}),
            StatusCode::CREATED,
        ),
        (
            ("POST", "/v1/mfa/challenges/activation"),
            format!("{CHALLENGES}?invalidate_existing_code=true"),
            &bb,
            json!({"person_id": o.person, "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"}),
            StatusCode::CREATED,
        ),
    ] {
        let (status, answer) = api.call_as(Method::POST, &path, auth, Some(body)).await;
        assert_eq!(status, wanted, "{route:?}: {answer}");
        reached.insert(route);
    }

    let every: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    let missed: Vec<_> = every.difference(&reached).collect();
    assert!(
        missed.is_empty(),
        "routes the tenant test never called: {missed:?}"
    );

    // A's endpoint is as it was, with its one delivery.
    let (status, shown) = api.call_as(Method::GET, &hook, &a_auth, None).await;
    assert_eq!(
        (status, &shown["enabled"]),
        (StatusCode::OK, &json!(true)),
        "{shown}"
    );
    assert!(shown.get("previousSecretValidUntil").is_none(), "{shown}");

    // A's data is as it was, and A's challenge still verifies.
    let (_, device) = api.call_as(Method::GET, &device_path, &a_auth, None).await;
    assert_eq!(device, device_before);
    let (status, _) = api
        .call_as(
            Method::GET,
            &format!("{V4}/licenses/{}", o.license),
            &a_auth,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, kept) = api.call_as(Method::GET, &product, &a_auth, None).await;
    assert_eq!(
        (&kept["name"], &kept["license_count"]),
        (&json!("Suite"), &json!(1))
    );
    let (_, events) = api
        .call_as(
            Method::GET,
            &format!("{challenge}/delivery_events"),
            &a_auth,
            None,
        )
        .await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    let (status, verified) = api
        .call_as(
            Method::POST,
            &format!("{challenge}/verify"),
            &a_auth,
            Some(json!({"person_id": o.person, "code": o.code})),
        )
        .await;
    assert_eq!(
        (status, &verified["usage_count"]),
        (StatusCode::OK, &json!(1)),
        "{verified}"
    );
}

// --------------------------------------------------------------- secrets

/// Every log line of this test binary, as JSON lines at debug level.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter("debug")
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        logs
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The text forms a secret could leak in.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
    ]
}

/// The base64 body of a PEM: what a leaked key would look like.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

async fn secrets_never_leave(api: &TestApi) {
    let logs = captured_logs();
    let acme = api.new_client("Acme").await;
    let mut responses = Vec::new();
    let mut record = |answer: (StatusCode, Value)| {
        responses.push(answer.1.to_string());
        answer
    };
    let auth_token = api.auth_token(&acme);
    let access = record(exchange(api, &auth_token).await).1["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {access}");
    let api_key = api.api_key(&acme).await;

    // Devices with a given key and a generated one; codes; a batch.
    record(
        api.call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY})),
        )
        .await,
    );
    record(
        api.call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-2", "protocol": "nexus_full"})),
        )
        .await,
    );
    for serial in ["S-1", "S-2"] {
        record(
            api.call_as(
                Method::POST,
                "/codes",
                &bearer,
                Some(json!({"serialNum": serial, "codeType": "unlock"})),
            )
            .await,
        );
        record(
            api.call_as(Method::GET, &format!("/devices/{serial}"), &bearer, None)
                .await,
        );
    }
    record(api.call_as(Method::GET, "/devices", &bearer, None).await);
    record(api.call_as(Method::GET, "/codes", &bearer, None).await);
    let batch = record(
        api.call_as(
            Method::POST,
            "/batch",
            &bearer,
            Some(json!({"items": [{"serialNum": "S-1", "codeType": "add_time", "arg": 1}]})),
        )
        .await,
    )
    .1;
    record(
        api.call_as(
            Method::GET,
            &format!("/batch/{}", batch["id"].as_str().unwrap()),
            &bearer,
            None,
        )
        .await,
    );
    // Refusals that involve a secret: a bad key, a duplicate, a wrong API key.
    record(
        api.call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(
                json!({"serialNum": "S-3", "protocol": "openpaygo", "secretKey": &DEVICE_KEY[1..]}),
            ),
        )
        .await,
    );
    record(
        api.call_as(
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY})),
        )
        .await,
    );
    let wrong_key = format!("{}x", &api_key[..api_key.len() - 1]);
    record(
        api.call_as(Method::GET, &format!("{V4}/products"), &wrong_key, None)
            .await,
    );
    record(exchange(api, &auth_token).await);

    // Licensing with the API key, through a deployment's certificate.
    let product = record(
        api.call_as(
            Method::POST,
            &format!("{V4}/products"),
            &api_key,
            Some(json!({"name": "P"})),
        )
        .await,
    )
    .1;
    record(
        api.call_as(
            Method::POST,
            &format!("{V4}/licenses"),
            &api_key,
            Some(json!({"product_id": product["id"], "user_id": "u"})),
        )
        .await,
    );
    let seat = record(
        api.call_as(
            Method::POST,
            "/create",
            &api_key,
            Some(json!({"type": "CONTRACT_PERPETUAL", "name": "Seat"})),
        )
        .await,
    )
    .1;
    record(api.call_as(Method::POST, &format!("/deploy/{}", seat["payload"]["id"].as_str().unwrap()), &api_key,
        Some(json!({"owner": "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", "contract": {"blockchain": "ETHEREUM"}}))).await);
    record(
        api.call_as(
            Method::POST,
            CHALLENGES,
            &bearer,
            Some(json!({"person_id": "p",
        "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"})),
        )
        .await,
    );

    // A webhook endpoint: its secret is in the create answer and the
    // rotating one only; nothing after shows either, nor any log line,
    // the delivery attempts included.
    let created = api
        .call_as(
            Method::POST,
            "/webhooks",
            &bearer,
            Some(json!({"url": "https://127.0.0.1:9/hook", "events": ["payment.received"]})),
        )
        .await
        .1;
    let hook = format!("/webhooks/{}", created["id"].as_str().unwrap());
    let rotated = api
        .call_as(
            Method::PATCH,
            &hook,
            &bearer,
            Some(json!({"rotateSecret": true})),
        )
        .await
        .1;
    let webhook_secrets = [
        created["secret"].as_str().unwrap().to_owned(),
        rotated["secret"].as_str().unwrap().to_owned(),
    ];
    record(api.call_as(Method::GET, &hook, &bearer, None).await);
    record(api.call_as(Method::GET, "/webhooks", &bearer, None).await);
    record(
        api.call_as(
            Method::PATCH,
            &hook,
            &bearer,
            Some(json!({"description": "d"})),
        )
        .await,
    );
    record(
        api.call_as(
            Method::POST,
            &format!("{hook}/test"),
            &bearer,
            Some(json!({})),
        )
        .await,
    );
    api.api.settle_webhooks().await;
    record(
        api.call_as(Method::GET, &format!("{hook}/deliveries"), &bearer, None)
            .await,
    );

    // Every secret of the run: device keys (given and generated), the API
    // key and its secret half, every private key, and the bearer tokens
    // (which belong in a response, never in a log).
    // Daraja's callbacks carry the account's callback token in their path.
    let callback_token = api.mpesa_callback(&acme, "600638").await;
    let daraja = json!({"TransID": "SECRETS01", "TransTime": "20261122133045",
        "TransAmount": "100.00", "BusinessShortCode": "600638", "BillRefNumber": "S-1"});
    for step in ["validation", "confirmation"] {
        for token in [
            callback_token.as_str(),
            &callback_token[..callback_token.len() - 1],
        ] {
            let path = format!("/payments/mpesa/{token}/{step}");
            record(api.call(Method::POST, &path, None, Some(&daraja)).await);
        }
    }
    let client = domain::clients::AccountId::parse(acme.key.as_str()).unwrap();
    let generated = api
        .stores
        .devices()
        .get_device(
            &client,
            &domain::devices::SerialNumber::parse("S-2").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .secrets
        .key
        .to_hex();
    let mut secrets: Vec<String> = forms(DEVICE_KEY);
    secrets.extend(forms(&generated));
    let api_key_text = api_key.trim_start_matches("Apikey ").to_owned();
    // The secret halves are base64url, which may itself hold '_': split on
    // the prefixes, never on the last underscore.
    secrets.push(api_key_text.splitn(3, '_').nth(2).unwrap().to_owned());
    secrets.push(api_key_text.clone());
    secrets.push(callback_token.split_once('_').unwrap().1.to_owned());
    secrets.push(callback_token.clone());
    for secret in &webhook_secrets {
        secrets.push(secret.clone());
        secrets.push(secret.trim_start_matches("whsec_").to_owned());
    }
    for pem in api
        .private_key_pems
        .iter()
        .chain([&acme.signing_key.to_pkcs8_pem()])
    {
        let body = pem_body(pem);
        // Forty-character pieces cover a partly leaked key; the last piece
        // ends at the body's end rather than being a short tail, which a
        // random token could hold by chance (a one-letter "secret").
        let starts = (0..body.len().saturating_sub(40)).step_by(40);
        secrets.extend(
            starts
                .chain([body.len().saturating_sub(40)])
                .map(|start| body[start..(start + 40).min(body.len())].to_owned()),
        );
        secrets.push(body);
    }
    assert!(
        secrets.iter().all(|s| s.len() >= 16),
        "every secret is long enough that no answer holds it by chance"
    );
    for response in &responses {
        for secret in &secrets {
            assert!(
                !response.contains(secret.as_str()),
                "a response holds the secret {secret:?}: {response}"
            );
        }
    }
    let tokens = [access.clone(), auth_token.clone()];
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("\"requestId\""),
        "the capture sees the handlers' lines"
    );
    for line in text.lines() {
        for secret in secrets.iter().chain(tokens.iter()) {
            // A token's header segment is shared by every token; look for
            // the whole token and its signature.
            let needles = [secret.as_str(), secret.rsplit('.').next().unwrap()];
            for needle in needles.iter().filter(|n| n.len() >= 16) {
                assert!(!line.contains(needle), "a log line holds a secret: {line}");
            }
        }
    }
}

on_both_backends!(
    auth_tokens_that_must_not_pass,
    access_tokens_that_must_not_pass,
    no_tenant_reaches_another,
    secrets_never_leave,
);
