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
}

async fn call(
    api: &TestApi,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    api.call(method, path, Some(auth), body.as_ref()).await
}

async fn build_tenant(api: &TestApi, auth: &str) -> Owned {
    let device = json!({"serialNum": "SHARED-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY});
    assert_eq!(
        call(api, Method::POST, "/devices", auth, Some(device))
            .await
            .0,
        StatusCode::CREATED
    );
    let code = json!({"serialNum": "SHARED-1", "codeType": "add_time", "arg": 1});
    assert_eq!(
        call(api, Method::POST, "/codes", auth, Some(code)).await.0,
        StatusCode::CREATED
    );
    let (_, batch) = call(
        api,
        Method::POST,
        "/batch",
        auth,
        Some(json!({"items": [{"serialNum": "SHARED-1", "codeType": "add_time", "arg": 2}]})),
    )
    .await;
    let (_, product) = call(
        api,
        Method::POST,
        &format!("{V4}/products"),
        auth,
        Some(json!({"name": "Suite", "sku": "suite"})),
    )
    .await;
    let product = product["id"].as_str().unwrap().to_owned();
    let (_, license) = call(
        api,
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
    let (_, subscription) = call(
        api,
        Method::POST,
        "/create",
        auth,
        Some(json!({"type": "CONTRACT_PERPETUAL", "name": "Seat", "status": "ACTIVE"})),
    )
    .await;
    let subscription = subscription["payload"]["id"].as_str().unwrap().to_owned();
    let (status, deployed) = call(
        api,
        Method::POST,
        &format!("/deploy/{subscription}"),
        auth,
        Some(json!({"owner": owner, "contract": {"blockchain": "ETHEREUM"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let (_, nonce) = call(
        api,
        Method::POST,
        "/activation/nonce",
        auth,
        Some(json!({"address": owner})),
    )
    .await;
    let (_, challenge) = call(
        api,
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
        login_token: token["response"]["token"].as_str().unwrap().to_owned(),
    }
}

/// Every route, called by tenant B with tenant A's ids: B gets 404 or sees
/// nothing of A's, and afterwards A's data is as it was.
async fn no_tenant_reaches_another(api: &TestApi) {
    let a = api.new_client("A").await;
    let b = api.new_client("B").await;
    let a_auth = format!("Bearer {}", api.login(&a).await);
    let b_auth = api.api_key(&b).await;
    let b_bearer = format!("Bearer {}", api.login(&b).await);
    let owned = build_tenant(api, &a_auth).await;
    let reached = std::cell::RefCell::new(BTreeSet::new());
    let expect =
        |route: (&'static str, &'static str), answer: (StatusCode, Value), wanted: StatusCode| {
            assert_eq!(answer.0, wanted, "{route:?}: {}", answer.1);
            reached.borrow_mut().insert(route);
            answer.1
        };
    let not_found = StatusCode::NOT_FOUND;
    let o = &owned;
    let bb = b_bearer.as_str();
    let bk = b_auth.as_str();

    // Auth: A's client key with B's signature.
    let mut claims = claims_of(api, &a);
    claims["sub"] = json!(b.signing_key.public_key().to_spki_base64());
    expect(
        ("POST", "/auth"),
        exchange(api, &b.signing_key.sign(&claims)).await,
        StatusCode::UNAUTHORIZED,
    );

    // Devices and codes.
    expect(
        ("GET", "/devices/{serialNum}"),
        call(
            api,
            Method::GET,
            &format!("/devices/{}", o.serial),
            bb,
            None,
        )
        .await,
        not_found,
    );
    let listing = expect(
        ("GET", "/devices"),
        call(api, Method::GET, "/devices", bb, None).await,
        StatusCode::OK,
    );
    assert_eq!(listing["devices"], json!([]));
    expect(
        ("POST", "/codes"),
        call(
            api,
            Method::POST,
            "/codes",
            bb,
            Some(json!({"serialNum": o.serial, "codeType": "unlock"})),
        )
        .await,
        not_found,
    );
    for query in [
        format!("serialNum={}", o.serial),
        format!("batchId={}", o.batch),
    ] {
        let codes = expect(
            ("GET", "/codes"),
            call(api, Method::GET, &format!("/codes?{query}"), bb, None).await,
            StatusCode::OK,
        );
        assert_eq!(codes["codes"], json!([]), "{query}");
    }
    let batch = expect(
        ("POST", "/batch"),
        call(
            api,
            Method::POST,
            "/batch",
            bb,
            Some(json!({"items": [{"serialNum": o.serial, "codeType": "unlock"}]})),
        )
        .await,
        StatusCode::ACCEPTED,
    );
    expect(
        ("GET", "/batch/{id}"),
        call(api, Method::GET, &format!("/batch/{}", o.batch), bb, None).await,
        not_found,
    );
    let batches = expect(
        ("GET", "/batch"),
        call(api, Method::GET, "/batch", bb, None).await,
        StatusCode::OK,
    );
    assert_eq!(
        batches["batches"].as_array().unwrap().len(),
        1,
        "only B's own batch"
    );
    assert_eq!(batches["batches"][0]["id"], batch["id"]);
    // B's namespace is its own: the same serial registers for B.
    expect(
        ("POST", "/devices"),
        call(
            api,
            Method::POST,
            "/devices",
            bb,
            Some(json!({"serialNum": o.serial, "protocol": "nexus_full"})),
        )
        .await,
        StatusCode::CREATED,
    );

    // AminoTV v4.
    let license_path = format!("{V4}/licenses/{}", o.license);
    let product_path = format!("{V4}/products/{}", o.product);
    expect(
        ("GET", "/api/license/management/v4/licenses/{license_id}"),
        call(api, Method::GET, &license_path, bk, None).await,
        not_found,
    );
    expect(
        ("DELETE", "/api/license/management/v4/licenses/{license_id}"),
        call(api, Method::DELETE, &license_path, bk, None).await,
        not_found,
    );
    expect(
        ("GET", "/api/license/management/v4/products/{product_id}"),
        call(api, Method::GET, &product_path, bk, None).await,
        not_found,
    );
    expect(
        ("PATCH", "/api/license/management/v4/products/{product_id}"),
        call(
            api,
            Method::PATCH,
            &product_path,
            bk,
            Some(json!({"name": "Taken"})),
        )
        .await,
        not_found,
    );
    expect(
        ("DELETE", "/api/license/management/v4/products/{product_id}"),
        call(
            api,
            Method::DELETE,
            &format!("{product_path}?force=true"),
            bk,
            None,
        )
        .await,
        not_found,
    );
    let filtered = call(
        api,
        Method::GET,
        &format!("{V4}/licenses?product_id={}", o.product),
        bk,
        None,
    )
    .await;
    assert!(
        filtered.0 == not_found || filtered.1["items"] == json!([]),
        "{}",
        filtered.1
    );
    reached
        .borrow_mut()
        .insert(("GET", "/api/license/management/v4/licenses"));
    let by_user = expect(
        ("GET", "/api/license/management/v4/users/{user_id}/licenses"),
        call(
            api,
            Method::GET,
            &format!("{V4}/users/{}/licenses", o.holder),
            bk,
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(by_user["items"], json!([]));
    expect(
        ("POST", "/api/license/management/v4/licenses"),
        call(
            api,
            Method::POST,
            &format!("{V4}/licenses"),
            bk,
            Some(json!({"product_id": o.product, "user_id": "intruder"})),
        )
        .await,
        not_found,
    );
    let created = expect(
        ("POST", "/api/license/management/v4/licenses/batch_create"),
        call(
            api,
            Method::POST,
            &format!("{V4}/licenses/batch_create"),
            bk,
            Some(json!({"licenses": [{"product_id": o.product, "user_id": "intruder"}]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(created["failed"], 1, "{created}");
    let deleted = expect(
        ("POST", "/api/license/management/v4/licenses/batch_delete"),
        call(
            api,
            Method::POST,
            &format!("{V4}/licenses/batch_delete"),
            bk,
            Some(json!({"license_ids": [o.license]})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(deleted["failed"], 1, "{deleted}");
    let products = expect(
        ("GET", "/api/license/management/v4/products"),
        call(api, Method::GET, &format!("{V4}/products"), bk, None).await,
        StatusCode::OK,
    );
    assert_eq!(products["items"], json!([]));
    // SKUs are per account: B may use A's, and gets its own product.
    expect(
        ("POST", "/api/license/management/v4/products"),
        call(
            api,
            Method::POST,
            &format!("{V4}/products"),
            bk,
            Some(json!({"name": "Mine", "sku": "suite"})),
        )
        .await,
        StatusCode::CREATED,
    );

    // The vendor API.
    expect(
        ("GET", "/API/Public/v1/Accounts/r1/GetProductLicenses"),
        call(
            api,
            Method::GET,
            &format!(
                "{VENDOR}/Accounts/r1/GetProductLicenses?productId={}",
                o.product
            ),
            bk,
            None,
        )
        .await,
        not_found,
    );
    expect(
        ("GET", "/API/Public/v1/Licenses/r1/Get"),
        call(
            api,
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/Get?key={}", o.license_key),
            bk,
            None,
        )
        .await,
        not_found,
    );
    expect(
        ("GET", "/API/Public/v1/Authentication/r1/GetTokenValidity"),
        call(
            api,
            Method::GET,
            &format!(
                "{VENDOR}/Authentication/r1/GetTokenValidity?token={}",
                o.login_token
            ),
            bk,
            None,
        )
        .await,
        not_found,
    );
    expect(
        ("POST", "/API/Public/v1/Discounts/r1/Create"),
        api.post_form(
            &format!("{VENDOR}/Discounts/r1/Create"),
            Some(bk),
            &format!("productId={}&percentage=10", o.product),
        )
        .await,
        not_found,
    );
    // Public by design, and holding nothing of the account or the holder.
    let public = expect(
        ("GET", "/API/Public/v1/Licenses/r1/GetPublic"),
        call(
            api,
            Method::GET,
            &format!("{VENDOR}/Licenses/r1/GetPublic?key={}", o.license_key),
            bk,
            None,
        )
        .await,
        StatusCode::OK,
    );
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
    // A holder's token request speaks for the license's own account only.
    let (status, token) = api
        .post_form(
            &format!("{VENDOR}/Authentication/r1/CreateToken"),
            Some(bk),
            &format!("licenseKey={}", o.license_key),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    reached
        .borrow_mut()
        .insert(("POST", "/API/Public/v1/Authentication/r1/CreateToken"));
    expect(
        ("GET", "/API/Public/v1/Authentication/r1/GetTokenValidity"),
        call(
            api,
            Method::GET,
            &format!(
                "{VENDOR}/Authentication/r1/GetTokenValidity?token={}",
                token["response"]["token"].as_str().unwrap()
            ),
            bk,
            None,
        )
        .await,
        not_found,
    );

    // The subscription API.
    let queried = expect(
        ("POST", "/query/license"),
        call(
            api,
            Method::POST,
            "/query/license",
            bk,
            Some(json!({"filter": {"id": o.subscription}})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        (queried["count"].clone(), queried["records"].clone()),
        (json!(0), json!([]))
    );
    expect(
        ("POST", "/create"),
        call(
            api,
            Method::POST,
            "/create",
            bk,
            Some(json!({"software": o.product, "type": "CONTRACT_PERPETUAL", "name": "Steal"})),
        )
        .await,
        not_found,
    );
    expect(
        ("POST", "/deploy/{id}"),
        call(
            api,
            Method::POST,
            &format!("/deploy/{}", o.subscription),
            bk,
            Some(json!({"owner": o.owner, "contract": {"blockchain": "POLYGON"}})),
        )
        .await,
        not_found,
    );
    let own_nonce = expect(
        ("POST", "/activation/nonce"),
        call(
            api,
            Method::POST,
            "/activation/nonce",
            bk,
            Some(json!({"address": o.owner})),
        )
        .await,
        StatusCode::OK,
    );
    assert_ne!(own_nonce["payload"]["nonce"], json!(o.nonce));
    let key = api_tests::example_ethereum_key();
    expect(
        ("POST", "/activation/activate"),
        call(
            api,
            Method::POST,
            "/activation/activate",
            bk,
            Some(
                json!({"address": o.owner, "contract": o.contract, "tokenId": "1", "nonce": o.nonce,
            "sign": api_tests::personal_sign(&key, &o.nonce)}),
            ),
        )
        .await,
        StatusCode::CONFLICT,
    );

    // Activation challenges.
    let challenge = format!("{CHALLENGES}/{}", o.challenge);
    expect(
        ("GET", "/v1/mfa/challenges/activation/{id}"),
        call(api, Method::GET, &challenge, bb, None).await,
        not_found,
    );
    expect(
        ("DELETE", "/v1/mfa/challenges/activation/{id}"),
        call(api, Method::DELETE, &challenge, bb, None).await,
        not_found,
    );
    expect(
        ("POST", "/v1/mfa/challenges/activation/{id}/verify"),
        call(
            api,
            Method::POST,
            &format!("{challenge}/verify"),
            bb,
            Some(json!({"person_id": o.person, "code": o.code})),
        )
        .await,
        not_found,
    );
    expect(
        ("POST", "/v1/mfa/challenges/activation/{id}/delivery_events"),
        call(
            api,
            Method::POST,
            &format!("{challenge}/delivery_events"),
            bb,
            Some(json!({"type": "DELIVERED", "timestamp": "2026-11-21T09:00:00Z"})),
        )
        .await,
        not_found,
    );
    expect(
        ("GET", "/v1/mfa/challenges/activation/{id}/delivery_events"),
        call(
            api,
            Method::GET,
            &format!("{challenge}/delivery_events"),
            bb,
            None,
        )
        .await,
        not_found,
    );
    expect(
        (
            "GET",
            "/v1/mfa/challenges/activation/{id}/delivery_events/{event_id}",
        ),
        call(
            api,
            Method::GET,
            &format!("{challenge}/delivery_events/{}", o.event),
            bb,
            None,
        )
        .await,
        not_found,
    );
    let listed = expect(
        ("GET", "/v1/mfa/challenges/activation"),
        call(
            api,
            Method::GET,
            &format!(
                "{CHALLENGES}?filter[person_id]={}&filter[include_expired]=true",
                o.person
            ),
            bb,
            None,
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(listed, json!([]));
    // B's people are its own: B's override for A's person ends nothing of A's.
    expect(("POST", "/v1/mfa/challenges/activation"), call(api, Method::POST, &format!("{CHALLENGES}?invalidate_existing_code=true"), bb,
        Some(json!({"person_id": o.person, "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"}))).await, StatusCode::CREATED);

    let every: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
    let reached = reached.into_inner();
    let missed: Vec<_> = every.difference(&reached).collect();
    assert!(
        missed.is_empty(),
        "routes the tenant test never called: {missed:?}"
    );

    // So are product ids: B's product with A's id is B's own.
    let mine = call(
        api,
        Method::POST,
        &format!("{V4}/products"),
        bk,
        Some(json!({"name": "Also mine", "id": o.product})),
    )
    .await;
    assert_eq!(mine.0, StatusCode::CREATED, "{}", mine.1);

    // A's data is as it was.
    let device = call(
        api,
        Method::GET,
        &format!("/devices/{}", o.serial),
        &a_auth,
        None,
    )
    .await;
    assert_eq!(device.1["protocol"], "openpaygo");
    assert_eq!(
        call(
            api,
            Method::GET,
            &format!("{V4}/licenses/{}", o.license),
            &a_auth,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let product = call(
        api,
        Method::GET,
        &format!("{V4}/products/{}", o.product),
        &a_auth,
        None,
    )
    .await
    .1;
    assert_eq!(
        (product["name"].clone(), product["license_count"].clone()),
        (json!("Suite"), json!(1))
    );
    let challenge_now = call(api, Method::GET, &challenge, &a_auth, None).await;
    assert_eq!(challenge_now.0, StatusCode::OK);
    assert_eq!(challenge_now.1["usage_count"], 0);
    let events = call(
        api,
        Method::GET,
        &format!("{challenge}/delivery_events"),
        &a_auth,
        None,
    )
    .await
    .1;
    assert_eq!(events.as_array().unwrap().len(), 1);
    let verified = call(
        api,
        Method::POST,
        &format!("{challenge}/verify"),
        &a_auth,
        Some(json!({"person_id": o.person, "code": o.code})),
    )
    .await;
    assert_eq!(
        verified.0,
        StatusCode::OK,
        "A's challenge is still live: {}",
        verified.1
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
        call(
            api,
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY})),
        )
        .await,
    );
    record(
        call(
            api,
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-2", "protocol": "nexus_full"})),
        )
        .await,
    );
    for serial in ["S-1", "S-2"] {
        record(
            call(
                api,
                Method::POST,
                "/codes",
                &bearer,
                Some(json!({"serialNum": serial, "codeType": "unlock"})),
            )
            .await,
        );
        record(
            call(
                api,
                Method::GET,
                &format!("/devices/{serial}"),
                &bearer,
                None,
            )
            .await,
        );
    }
    record(call(api, Method::GET, "/devices", &bearer, None).await);
    record(call(api, Method::GET, "/codes", &bearer, None).await);
    let batch = record(
        call(
            api,
            Method::POST,
            "/batch",
            &bearer,
            Some(json!({"items": [{"serialNum": "S-1", "codeType": "add_time", "arg": 1}]})),
        )
        .await,
    )
    .1;
    record(
        call(
            api,
            Method::GET,
            &format!("/batch/{}", batch["id"].as_str().unwrap()),
            &bearer,
            None,
        )
        .await,
    );
    // Refusals that involve a secret: a bad key, a duplicate, a wrong API key.
    record(
        call(
            api,
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
        call(
            api,
            Method::POST,
            "/devices",
            &bearer,
            Some(json!({"serialNum": "S-1", "protocol": "openpaygo", "secretKey": DEVICE_KEY})),
        )
        .await,
    );
    let wrong_key = format!("{}x", &api_key[..api_key.len() - 1]);
    record(
        call(
            api,
            Method::GET,
            &format!("{V4}/products"),
            &wrong_key,
            None,
        )
        .await,
    );
    record(exchange(api, &auth_token).await);

    // Licensing with the API key, through a deployment's certificate.
    let product = record(
        call(
            api,
            Method::POST,
            &format!("{V4}/products"),
            &api_key,
            Some(json!({"name": "P"})),
        )
        .await,
    )
    .1;
    record(
        call(
            api,
            Method::POST,
            &format!("{V4}/licenses"),
            &api_key,
            Some(json!({"product_id": product["id"], "user_id": "u"})),
        )
        .await,
    );
    let seat = record(
        call(
            api,
            Method::POST,
            "/create",
            &api_key,
            Some(json!({"type": "CONTRACT_PERPETUAL", "name": "Seat"})),
        )
        .await,
    )
    .1;
    record(call(api, Method::POST, &format!("/deploy/{}", seat["payload"]["id"].as_str().unwrap()), &api_key,
        Some(json!({"owner": "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", "contract": {"blockchain": "ETHEREUM"}}))).await);
    record(
        call(
            api,
            Method::POST,
            CHALLENGES,
            &bearer,
            Some(json!({"person_id": "p",
        "origin": "WEB", "purpose": "DEVICE_BINDING", "delivery_method": "SNAILMAIL"})),
        )
        .await,
    );

    // Every secret of the run: device keys (given and generated), the API
    // key and its secret half, every private key, and the bearer tokens
    // (which belong in a response, never in a log).
    let client = domain::clients::ClientKey::parse(acme.key.as_str()).unwrap();
    let generated = api
        .stores
        .devices
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
    secrets.push(api_key_text.rsplit('_').next().unwrap().to_owned());
    secrets.push(api_key_text.clone());
    for pem in api
        .private_key_pems
        .iter()
        .chain([&acme.signing_key.to_pkcs8_pem()])
    {
        secrets.push(pem_body(pem));
        secrets.extend(
            pem_body(pem)
                .as_bytes()
                .chunks(40)
                .map(|c| String::from_utf8(c.to_vec()).unwrap()),
        );
    }
    for response in &responses {
        for secret in &secrets {
            assert!(
                !response.contains(secret.as_str()),
                "a response holds a secret: {response}"
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
