//! A local API on a loopback port for tests, on either storage backend, and
//! helpers that play an API client.

use std::sync::Arc;

use bytes::Bytes;
use domain::auth::{AuthConfig, ClientAuthClaims, P256SigningKey};
use domain::clients::{AccountId, Client, RegisteredKey};
use domain::clock::{Clock, ManualClock, SystemClock};
use domain::rate_limits::RateLimits;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local_api::{LocalApi, LocalConfig};
use runtime_support::Platform;
use serde_json::{json, Value};
use storage::{dynamodb_client, DynamoStore, MemoryStore, StoreBudget, Stores};

pub use serde_json;

pub mod receiver;

/// The test clock's time as RFC 3339, for query strings.
pub trait ClockText {
    fn now_rfc3339(&self) -> String;
}

impl ClockText for ManualClock {
    fn now_rfc3339(&self) -> String {
        self.now().to_rfc3339()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    DynamoDb,
}

/// Runs `$scenario(&TestApi)` once per backend, as `$scenario::memory` and
/// `$scenario::dynamodb`.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                let api = $crate::TestApi::start($crate::Backend::Memory).await;
                super::$scenario(&api).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                let api = $crate::TestApi::start($crate::Backend::DynamoDb).await;
                super::$scenario(&api).await
            }
        }
    )*};
}

/// Runs `$case(&Stores)` once per storage adapter, as `$case::memory` and
/// `$case::dynamodb`: the conformance suite's harness.
#[macro_export]
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$case(&$crate::stores($crate::Backend::Memory).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                super::$case(&$crate::stores($crate::Backend::DynamoDb).await).await
            }
        }
    )*};
}

/// Empty stores on `backend`.
pub async fn stores(backend: Backend) -> Stores {
    match backend {
        Backend::Memory => Stores::from(Arc::new(MemoryStore::new())),
        Backend::DynamoDb => Stores::from(Arc::new(fresh_dynamo_store().await)),
    }
}

/// The DynamoDB Local the test command started.
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT")
        .expect("DYNAMODB_ENDPOINT is not set: run scripts/test.sh, which starts DynamoDB Local")
}

/// A fresh DynamoDB table on the DynamoDB Local the test command started.
/// The tests race many writers on a JVM sharing two cores, so they take the
/// background budget; `fresh_dynamo_store_at` picks another.
pub async fn fresh_dynamo_store() -> DynamoStore {
    fresh_dynamo_store_at(&dynamodb_endpoint(), StoreBudget::BACKGROUND).await
}

/// A fresh table reached through `endpoint` (DynamoDB Local, or a proxy in
/// front of it), every call within `budget`.
pub async fn fresh_dynamo_store_at(endpoint: &str, budget: StoreBudget) -> DynamoStore {
    let table = format!("test-{}", domain::random::random_hex(6));
    let store = DynamoStore::new(dynamodb_client(Some(endpoint), budget).await, table);
    store.create_table().await.expect("create the test table");
    store
}

/// A resolver that answers only the names a test gave it.
#[derive(Default)]
pub struct TestResolver {
    names: std::sync::Mutex<std::collections::HashMap<String, Vec<std::net::IpAddr>>>,
}

impl TestResolver {
    /// From now on, `name` resolves to `addresses`.
    pub fn set(&self, name: &str, addresses: &[&str]) {
        let parsed = addresses
            .iter()
            .map(|a| a.parse().expect("an IP address"))
            .collect();
        self.names.lock().unwrap().insert(name.to_owned(), parsed);
    }
}

#[async_trait::async_trait]
impl domain::HostResolver for TestResolver {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<std::net::IpAddr>, String> {
        self.names
            .lock()
            .unwrap()
            .get(host)
            .cloned()
            .ok_or_else(|| format!("{host}: unknown to the test resolver"))
    }
}

pub struct TestApi {
    pub base: String,
    /// The in-process API, for handing it Lambda events directly.
    pub api: Arc<LocalApi>,
    pub stores: Stores,
    pub clock: Arc<ManualClock>,
    /// The platform's access-token and certificate keys, for the tests that
    /// make sure they never leave.
    pub private_key_pems: Vec<String>,
    /// The resolver webhook hosts go through: names it was told, nothing
    /// else, so no test asks a DNS server.
    pub resolver: Arc<TestResolver>,
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An API client as the tests play it: its key and its private key.
pub struct TestClient {
    pub key: AccountId,
    pub signing_key: P256SigningKey,
}

impl TestApi {
    pub async fn start(backend: Backend) -> TestApi {
        Self::start_with_limits(backend, RateLimits::default()).await
    }

    /// `start`, with other per-client rate limits.
    pub async fn start_with_limits(backend: Backend, rate_limits: RateLimits) -> TestApi {
        Self::start_on(stores(backend).await, rate_limits).await
    }

    /// The API over `stores` (a store behind a proxy, say).
    pub async fn start_on(stores: Stores, rate_limits: RateLimits) -> TestApi {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let signing_key = P256SigningKey::generate();
        let certificate_key = P256SigningKey::generate();
        let private_key_pems = vec![signing_key.to_pkcs8_pem(), certificate_key.to_pkcs8_pem()];
        let resolver = Arc::new(TestResolver::default());
        let api = Arc::new(LocalApi::new(LocalConfig {
            platform: Platform {
                stores: stores.clone(),
                clock: clock.clone(),
                auth: AuthConfig::default(),
                challenges: domain::challenges::ChallengeConfig::default(),
                rate_limits,
            },
            signing_key,
            certificate_key,
            cleanup_every: None,
            worker_concurrency: batch_worker_function::DEFAULT_CONCURRENCY,
            resolver: resolver.clone(),
            // Test receivers listen on loopback; every other refused kind
            // stays refused.
            webhook_policy: domain::webhooks::url::UrlPolicy {
                allow_loopback: true,
                loopback_only: false,
            },
            webhooks_every: None,
            dynamodb_endpoint: std::env::var("DYNAMODB_ENDPOINT").ok(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(local_api::serve(listener, api.clone()));
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        TestApi {
            base,
            api,
            stores,
            clock,
            private_key_pems,
            resolver,
            client,
            server,
        }
    }

    /// Sends a request and returns the status and the JSON body (`Null` when
    /// the body is empty). Panics on a body that is not JSON: every answer
    /// of this API is.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let raw = body.map(|b| b.to_string());
        self.call_raw(method, path, authorization, raw.as_deref())
            .await
    }

    /// `call` with an `Authorization` header, the way most tests call.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        authorization: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, Some(authorization), body.as_ref())
            .await
    }

    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call_typed(method, path, authorization, "application/json", body)
            .await
    }

    /// A POST of an `application/x-www-form-urlencoded` body.
    pub async fn post_form(
        &self,
        path: &str,
        authorization: Option<&str>,
        form: &str,
    ) -> (StatusCode, Value) {
        self.call_typed(
            Method::POST,
            path,
            authorization,
            "application/x-www-form-urlencoded",
            Some(form),
        )
        .await
    }

    pub async fn call_typed(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        content_type: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut headers = vec![("content-type", content_type)];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        let (status, _, value) = self.send(method, path, &headers, body).await;
        (status, value)
    }

    /// Sends a request with `headers`; returns the status, the response
    /// headers and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (StatusCode, hyper::HeaderMap, Value) {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let response = self
            .client
            .request(request)
            .await
            .expect("the local API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, value)
    }

    /// A GET whose answer is text (CSV): status, content type and body.
    pub async fn get_text(&self, path: &str, token: &str) -> (StatusCode, String, String) {
        let request = hyper::Request::builder()
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self
            .client
            .request(request)
            .await
            .expect("the local API answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&format!("Bearer {token}")), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            path,
            Some(&format!("Bearer {token}")),
            Some(&body),
        )
        .await
    }

    /// Registers a client with one fresh key directly in the store, as the
    /// admin CLI does.
    pub async fn new_client(&self, name: &str) -> TestClient {
        let signing_key = P256SigningKey::generate();
        let key = AccountId::generate();
        let client = Client {
            key: key.clone(),
            name: name.to_owned(),
            public_keys: vec![RegisteredKey::new(
                &signing_key.public_key(),
                self.clock.now(),
            )],
            created_at: self.clock.now(),
        };
        self.stores.clients().create_client(&client).await.unwrap();
        TestClient { key, signing_key }
    }

    /// A new API key of `client`'s account, stored as the admin CLI stores
    /// it; returns the `Authorization` header value.
    pub async fn api_key(&self, client: &TestClient) -> String {
        let issued =
            domain::clients::api_keys::ApiKey::issue(&client.key, "tests", self.clock.now());
        self.stores
            .api_keys()
            .create_api_key(&issued.record)
            .await
            .unwrap();
        format!("Apikey {}", issued.key)
    }

    /// A new M-Pesa callback registration of `client`'s account for
    /// `short_code` in KES, stored as the admin CLI stores it; returns the
    /// token the Daraja URLs carry.
    pub async fn mpesa_callback(&self, client: &TestClient, short_code: &str) -> String {
        let issued = domain::mpesa::MpesaCallback::issue(
            &client.key,
            domain::mpesa::ShortCode::parse("shortCode", short_code).unwrap(),
            domain::money::Currency::parse("currency", "KES").unwrap(),
            "tests",
            self.clock.now(),
        );
        self.stores
            .mpesa()
            .create_callback(&issued.record)
            .await
            .unwrap();
        issued.token
    }

    /// A valid auth token of `client`, issued now.
    pub fn auth_token(&self, client: &TestClient) -> String {
        let claims = ClientAuthClaims::new(&client.key, &client.signing_key, self.clock.now());
        client.signing_key.sign(&claims)
    }

    /// Logs `client` in through `POST /auth` and returns the access token.
    pub async fn login(&self, client: &TestClient) -> String {
        let body = json!({"token": self.auth_token(client), "tokenType": "auth"});
        let (status, answer) = self.call(Method::POST, "/auth", None, Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["accessToken"].as_str().unwrap().to_owned()
    }
}

/// The web3.py documentation's example key (address
/// 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23), which `events/` deploys to.
pub fn example_ethereum_key() -> k256::ecdsa::SigningKey {
    let bytes: Vec<u8> = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
                    [2 * i..2 * i + 2],
                16,
            )
            .unwrap()
        })
        .collect();
    k256::ecdsa::SigningKey::from_slice(&bytes).unwrap()
}

/// The `0x...` address of an Ethereum key.
pub fn ethereum_address(key: &k256::ecdsa::SigningKey) -> String {
    let bytes = domain::licensing::signatures::ethereum_address(key.verifying_key());
    format!("0x{}", domain::hex::encode(&bytes))
}

/// What a wallet's `personal_sign(message)` answers: `0x` r || s || v.
pub fn personal_sign(key: &k256::ecdsa::SigningKey, message: &str) -> String {
    let hash = domain::licensing::signatures::personal_sign_hash(message.as_bytes());
    let (signature, recovery) = key.sign_prehash_recoverable(&hash).unwrap();
    let mut bytes = signature.to_bytes().to_vec();
    bytes.push(27 + recovery.to_byte());
    format!("0x{}", domain::hex::encode(&bytes))
}

/// A request's status alone, sent on a connection of its own: for spawned
/// tasks that race each other.
pub async fn status_of(
    base: &str,
    method: Method,
    path: &str,
    authorization: &str,
    body: Option<&Value>,
) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(Value::to_string).unwrap_or_default(),
        )))
        .unwrap();
    let response = client
        .request(request)
        .await
        .expect("the local API answers");
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}
