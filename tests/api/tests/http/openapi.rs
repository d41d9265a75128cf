//! `openapi/openapi.json` against the route table (which `deployment.rs`
//! holds to `template.yaml`): every route is documented and every
//! documented operation is a route, with the parameters, credentials and
//! `Idempotency-Key` the handlers really take. Whether the schemas match
//! what the handlers return is Schemathesis's part (`scripts/contract.sh`).

use std::collections::BTreeSet;

use api_tests::{Backend, TestApi};
use http::{Method, StatusCode};
use http_api::ROUTES;
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(local_api::OPENAPI_DOCUMENT).expect("the document is JSON")
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    all
}

#[test]
fn the_document_has_exactly_the_routes_the_functions_serve() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes without documentation: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
}

#[test]
fn operations_declare_what_the_handlers_take() {
    let doc = document();
    let open: BTreeSet<&str> = [
        "/auth",
        "/API/Public/v1/Licenses/r1/GetPublic",
        "/API/Public/v1/Authentication/r1/CreateToken",
        "/payments/mpesa/{callbackToken}/validation",
        "/payments/mpesa/{callbackToken}/confirmation",
    ]
    .into();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        assert!(
            ids.insert(operation["operationId"].as_str().unwrap().to_owned()),
            "{name}: operationId is unique"
        );
        let route = ROUTES
            .iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap();
        let parameters: Vec<&Value> = operation["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        let takes_key = parameters
            .iter()
            .any(|p| p["$ref"] == "#/components/parameters/IdempotencyKey");
        assert_eq!(takes_key, route.creates, "{name}: Idempotency-Key");
        let path_parameters: BTreeSet<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let in_template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(path_parameters, in_template, "{name}: path parameters");
        let security = operation["security"].as_array().unwrap();
        assert_eq!(
            security.is_empty(),
            open.contains(path.as_str()),
            "{name}: credentials"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.contains_key("400"), "{name}: 400");
        if !security.is_empty() {
            assert!(responses.contains_key("401"), "{name}: 401");
        }
        if !path_parameters.is_empty() {
            assert!(responses.contains_key("404"), "{name}: 404");
        }
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{name}: a success"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_api_serves_the_document() {
    let api = TestApi::start(Backend::Memory).await;
    let (status, headers, body) = api.send(Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, document());
}
