//! `template.yaml` and `events/` against the route table the functions and
//! the local API use: the same routes everywhere, and every event replays.

use std::collections::BTreeSet;
use std::path::PathBuf;

use api_tests::{Backend, TestApi};
use http_api::ROUTES;
use std::sync::Arc;

use domain::clock::SystemClock;
use domain::{BatchService, CodesService};
use serde_json::Value;
use storage::MemoryQueue;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// (method, path, function) of every HttpApi event in the template, read
/// line by line: resources sit at two spaces of indent, and each event's
/// `Path:` comes before its `Method:`.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    let mut routes = BTreeSet::new();
    let (mut resource, mut path) = (String::new(), None::<String>);
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                resource = name.to_owned();
            }
        }
        let trimmed = line.trim();
        if let Some(value) = trimmed.strip_prefix("Path: ") {
            path = Some(value.to_owned());
        } else if let Some(method) = trimmed.strip_prefix("Method: ") {
            let path = path.take().expect("Path: before Method:");
            let function = resource
                .strip_suffix("Function")
                .expect("events sit on functions");
            routes.insert((method.to_owned(), path, function.to_lowercase()));
        }
    }
    routes
}

#[test]
fn the_template_declares_exactly_the_routes_the_functions_serve() {
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function().name().replace('-', ""),
            )
        })
        .collect();
    assert_eq!(template_routes(), served);
}

fn event(name: &str) -> String {
    std::fs::read_to_string(repo_file(&format!("events/{name}"))).unwrap()
}

#[test]
fn there_is_one_event_per_route() {
    let mut keys = BTreeSet::new();
    for entry in std::fs::read_dir(repo_file("events")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        if json["version"] == "2.0" {
            assert!(
                keys.insert(json["routeKey"].as_str().unwrap().to_owned()),
                "{path:?}"
            );
        }
    }
    let routes: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(keys, routes);
}

/// What a replayed event answered: its `Location` header and JSON body
/// (`Null` when empty).
struct Replayed {
    location: Option<String>,
    body: Value,
}

/// Replays `events/<name>` through the in-process handlers with each
/// placeholder replaced, as `cargo lambda invoke --data-file` would, and
/// insists on a 2xx answer.
async fn replay(api: &TestApi, name: &str, replacements: &[(&str, String)]) -> Replayed {
    let mut text = event(name);
    for (placeholder, value) in replacements {
        text = text.replace(placeholder, value);
    }
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let response = api.api.handle(request).await;
    assert!(
        response.status().is_success(),
        "{name}: {} {:?}",
        response.status(),
        response.body()
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = if response.body().as_ref().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    };
    Replayed { location, body }
}

/// Replays every batch and code event through the in-process handlers, as
/// `cargo lambda invoke --data-file` would, with real tokens in place of
/// the placeholders; each must succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_replays_successfully() {
    let api = TestApi::start(Backend::Memory).await;
    let client = api.new_client("Events").await;
    let access = api.login(&client).await;
    let callback_token = api.mpesa_callback(&client, "600638").await;
    let order = [
        "post-auth.json",
        "post-devices.json",
        "get-devices.json",
        "get-device.json",
        "put-device-credit.json",
        "put-device-plan.json",
        "get-device-plan.json",
        "post-payments.json",
        "get-payments.json",
        "get-device-ledger.json",
        "post-mpesa-validation.json",
        "post-mpesa-confirmation.json",
        "post-codes.json",
        "get-codes.json",
        "post-batch.json",
        "get-batches.json",
        "get-batch.json",
    ];
    let mut batch_id = String::new();
    for name in order {
        let replacements = [
            ("REPLACE_WITH_ACCESS_TOKEN", access.clone()),
            ("REPLACE_WITH_AUTH_TOKEN", api.auth_token(&client)),
            ("REPLACE_WITH_BATCH_ID", batch_id.clone()),
            ("REPLACE_WITH_CALLBACK_TOKEN", callback_token.clone()),
        ];
        let answer = replay(&api, name, &replacements).await;
        if name.starts_with("post-mpesa-") {
            assert_eq!(answer.body["ResultCode"], 0, "{name}: {}", answer.body);
        }
        if name == "post-batch.json" {
            batch_id = answer.body["id"].as_str().unwrap().to_owned();
        }
    }

    // The worker's SQS event, for the batch just created: the local worker
    // may have done its chunk already; either way the handler reports no
    // failure and the items are done once.
    let text = event("sqs-batch-chunk.json")
        .replace("REPLACE_WITH_CLIENT_KEY", client.key.as_str())
        .replace("REPLACE_WITH_BATCH_ID", &batch_id);
    let sqs_event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
    let codes = Arc::new(CodesService::new(
        api.stores.devices(),
        api.stores.codes(),
        Arc::new(SystemClock),
    ));
    let batches = BatchService::new(
        api.stores.batches(),
        Arc::new(MemoryQueue::closed()),
        codes,
        Arc::new(SystemClock),
    );
    let response = batch_worker_function::handle(&batches, sqs_event, 5).await;
    assert!(response.batch_item_failures.is_empty());
    let batch = batches
        .get(
            &client.key,
            &domain::ids::BatchId::parse(&batch_id).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((batch.done, batch.failed), (2, 0));
}

/// The licensing events, replayed in an order where each finds what the
/// earlier ones made: products, licenses, the vendor API, then the
/// subscription API's create, deploy, nonce and signed activation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_licensing_event_replays_successfully() {
    let api = TestApi::start(Backend::Memory).await;
    let client = api.new_client("Licensing events").await;
    let access = api.login(&client).await;
    let api_key = api.api_key(&client).await;
    let wallet = api_tests::example_ethereum_key();
    let order = [
        "post-product.json",
        "get-products.json",
        "get-product.json",
        "patch-product.json",
        "post-license.json",
        "get-licenses.json",
        "get-license.json",
        "get-user-licenses.json",
        "post-licenses-batch-create.json",
        "post-licenses-batch-delete.json",
        "vendor-get-product-licenses.json",
        "vendor-get-public.json",
        "vendor-get-license.json",
        "vendor-create-token.json",
        "vendor-get-token-validity.json",
        "vendor-create-discount.json",
        "subscription-create.json",
        "subscription-query-license.json",
        "subscription-deploy.json",
        "subscription-activation-nonce.json",
        "subscription-activation-activate.json",
        "delete-license.json",
        "delete-product.json",
    ];
    let mut captured: Vec<(&str, String)> = vec![
        ("REPLACE_WITH_ACCESS_TOKEN", access),
        ("Apikey REPLACE_WITH_API_KEY", api_key),
    ];
    for name in order {
        let body = replay(&api, name, &captured).await.body;
        assert_eq!(body["failed"].as_u64().unwrap_or(0), 0, "{name}: {body}");
        match name {
            "post-license.json" => captured.push((
                "REPLACE_WITH_LICENSE_KEY",
                body["key"].as_str().unwrap().to_owned(),
            )),
            "vendor-create-token.json" => captured.push((
                "REPLACE_WITH_LOGIN_TOKEN",
                body["response"]["token"].as_str().unwrap().to_owned(),
            )),
            "subscription-deploy.json" => captured.push((
                "REPLACE_WITH_CONTRACT",
                body["payload"]["contract"]["address"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )),
            "subscription-activation-nonce.json" => {
                let nonce = body["payload"]["nonce"].as_str().unwrap().to_owned();
                captured.push((
                    "REPLACE_WITH_SIGNATURE",
                    api_tests::personal_sign(&wallet, &nonce),
                ));
                captured.push(("REPLACE_WITH_NONCE", nonce));
            }
            "subscription-activation-activate.json" => {
                assert_eq!(body["activate"], "true", "{body}");
            }
            _ => {}
        }
    }
}

/// The activation-challenge events in order, then the scheduled event the
/// cleanup Lambda gets, through the cleanup's own handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_challenge_event_and_the_schedule_replay_successfully() {
    let api = TestApi::start(Backend::Memory).await;
    let client = api.new_client("Challenge events").await;
    let access = api.login(&client).await;
    let order = [
        "post-activation-challenge.json",
        "get-activation-challenges.json",
        "get-activation-challenge.json",
        "post-delivery-event.json",
        "get-delivery-events.json",
        "get-delivery-event.json",
        "post-activation-challenge-verify.json",
        "delete-activation-challenge.json",
    ];
    let mut captured: Vec<(&str, String)> = vec![("REPLACE_WITH_ACCESS_TOKEN", access)];
    for name in order {
        let Replayed { location, body } = replay(&api, name, &captured).await;
        match name {
            "post-activation-challenge.json" => {
                captured.push((
                    "REPLACE_WITH_CHALLENGE_ID",
                    body["id"].as_str().unwrap().to_owned(),
                ));
                captured.push((
                    "REPLACE_WITH_CODE",
                    body["code"].as_str().unwrap().to_owned(),
                ));
            }
            "get-activation-challenges.json" => assert_eq!(body.as_array().unwrap().len(), 1),
            "post-delivery-event.json" => {
                let location = location.expect("a Location header");
                let event_id = location.rsplit('/').next().unwrap().to_owned();
                captured.push(("REPLACE_WITH_EVENT_ID", event_id));
            }
            "post-activation-challenge-verify.json" => assert_eq!(body["usage_count"], 1),
            _ => {}
        }
    }
    let scheduled: Value = serde_json::from_str(&event("scheduled-cleanup.json")).unwrap();
    assert_eq!(scheduled["detail-type"], "Scheduled Event");
    let report = api.api.cleanup().await.unwrap();
    assert_eq!(
        report.challenges.marked_expired, 0,
        "the one challenge was deleted, not expired"
    );
}

/// The webhook routes, then the dispatcher's stream event and the delivery
/// worker's SQS event, replayed as Lambda would hand them; the delivery
/// goes to a loopback receiver that verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_event_and_both_workers_replay_successfully() {
    use domain::webhooks::url::UrlPolicy;
    use runtime_support::Platform;

    let api = TestApi::start(Backend::Memory).await;
    let receiver = api_tests::receiver::Receiver::start().await;
    receiver
        .now(domain::clock::Clock::now(api.clock.as_ref()).secs())
        .await;
    let client = api.new_client("Webhook events").await;
    let access = api.login(&client).await;
    let platform = Platform {
        stores: api.stores.clone(),
        clock: api.clock.clone(),
        auth: Default::default(),
        challenges: Default::default(),
        rate_limits: Default::default(),
    };
    let queue = Arc::new(storage::MemoryDeliveryQueue::new(api.clock.clone()));
    let dispatcher = webhook_dispatcher_function::build(&platform, queue.clone());
    let policy = UrlPolicy {
        allow_loopback: true,
        loopback_only: false,
    };
    let sender = Arc::new(webhook_sender::HttpWebhookSender::new(
        api.resolver.clone(),
        policy,
    ));
    let courier = webhook_delivery_function::build(&platform, sender, queue.clone(), policy);

    let mut captured: Vec<(&str, String)> = vec![
        ("REPLACE_WITH_ACCESS_TOKEN", access),
        ("REPLACE_WITH_WEBHOOK_URL", receiver.url.clone()),
        ("REPLACE_WITH_CLIENT_KEY", client.key.as_str().to_owned()),
    ];
    for name in [
        "post-webhooks.json",
        "get-webhooks.json",
        "get-webhook.json",
        "patch-webhook.json",
        "post-webhook-test.json",
        "dynamodb-stream-outbox.json",
        "get-webhook-deliveries.json",
        "post-webhook-delivery-retry.json",
        "sqs-webhook-delivery.json",
        "delete-webhook.json",
    ] {
        let mut text = event(name);
        for (placeholder, value) in &captured {
            text = text.replace(placeholder, value);
        }
        match name {
            "dynamodb-stream-outbox.json" => {
                // The sample event is dated; an endpoint hears only of what
                // happened once it existed, so the replay happens now.
                let text = text.replace(
                    "2026-11-22T10:00:00.000Z",
                    &domain::clock::Clock::now(api.clock.as_ref()).to_rfc3339(),
                );
                let batch = serde_json::from_str(&text).unwrap();
                let answer = webhook_dispatcher_function::handle(&dispatcher, batch).await;
                assert!(answer.batch_item_failures.is_empty());
                assert_eq!(queue.len(), 1, "one delivery queued");
                continue;
            }
            "sqs-webhook-delivery.json" => {
                let batch = serde_json::from_str(&text).unwrap();
                let answer = webhook_delivery_function::handle(&courier, batch).await;
                assert!(answer.batch_item_failures.is_empty());
                let seen = receiver.requests().await;
                assert_eq!(seen.len(), 1, "{seen:?}");
                assert_eq!(seen[0]["payload"]["type"], "webhook.test");
                assert_eq!(seen[0]["verifiedWith"], serde_json::json!([0]));
                continue;
            }
            _ => {}
        }
        let body = replay(&api, name, &captured).await.body;
        match name {
            "post-webhooks.json" => {
                captured.push((
                    "REPLACE_WITH_WEBHOOK_ID",
                    body["id"].as_str().unwrap().to_owned(),
                ));
            }
            "patch-webhook.json" => {
                // The rotated secret signs the delivery the worker makes.
                receiver.secrets(&[body["secret"].as_str().unwrap()]).await;
            }
            "get-webhook-deliveries.json" => {
                let id = body["deliveries"][0]["id"].as_str().unwrap().to_owned();
                captured.push(("REPLACE_WITH_DELIVERY_ID", id));
            }
            _ => {}
        }
    }
}

/// What an operator relies on: traces, log retention for every function,
/// and the two alarms (`docs/operations.md`).
#[test]
fn the_template_sets_up_tracing_log_retention_and_alarms() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    assert!(text.contains("    Tracing: Active\n"), "X-Ray in Globals");
    let functions: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  ")?
                .strip_suffix("Function:")
                .map(str::to_owned)
        })
        // `Globals` has a bare `Function:` too.
        .filter(|name| !name.is_empty() && !name.starts_with(' '))
        .collect();
    assert_eq!(functions.len(), 11, "{functions:?}");
    for function in &functions {
        let group = format!(
            "  {function}LogGroup:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub \"/aws/lambda/${{{function}Function}}\"\n      RetentionInDays: !Ref LogRetentionDays\n"
        );
        assert!(
            text.contains(&group),
            "no log group with retention for {function}"
        );
    }
    for alarm in [
        "ChunkDeadLetterAlarm:",
        "DeliveryDeadLetterAlarm:",
        "DispatchFailureAlarm:",
        "Api5xxRateAlarm:",
    ] {
        assert!(
            text.contains(&format!("  {alarm}\n    Type: AWS::CloudWatch::Alarm")),
            "{alarm}"
        );
    }
    assert!(text.contains("MetricName: ApproximateNumberOfMessagesVisible"));
    assert!(text.contains("MetricName: 5xx"));
}

/// The throttling `docs/security.md` describes: an edge limit on every
/// route, tighter ones on named routes that exist, and the per-client
/// limits handed to the functions that enforce them.
#[test]
fn the_template_throttles_at_the_edge_and_per_client() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    assert!(text.contains(
        "      DefaultRouteSettings:\n        ThrottlingRateLimit: !Ref ApiThrottleRateLimit\n        ThrottlingBurstLimit: !Ref ApiThrottleBurstLimit\n"
    ));
    let section = text
        .split("      RouteSettings:\n")
        .nth(1)
        .expect("RouteSettings on the HttpApi");
    let throttled: Vec<&str> = section
        .lines()
        .take_while(|l| l.starts_with("        "))
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix("\":"))
        .collect();
    assert_eq!(throttled.len(), 5, "{throttled:?}");
    for route_key in throttled {
        let (method, path) = route_key.split_once(' ').unwrap();
        assert!(
            ROUTES.iter().any(|r| r.method == method && r.path == path),
            "{route_key} is not a route"
        );
    }
    for (variable, parameter) in [
        ("RATE_LIMIT_AUTH_PER_MINUTE", "RateLimitAuthPerMinute"),
        ("RATE_LIMIT_BATCH_PER_MINUTE", "RateLimitBatchPerMinute"),
        ("RATE_LIMIT_VERIFY_PER_MINUTE", "RateLimitVerifyPerMinute"),
    ] {
        assert!(
            text.contains(&format!("          {variable}: !Ref {parameter}\n")),
            "{variable}"
        );
        assert!(text.contains(&format!("  {parameter}:\n    Type: Number\n")));
    }
}

/// The local worker runs as the template's worker does: the same number of
/// instances at once and the same receives before the dead-letter queue.
#[test]
fn the_local_worker_follows_the_templates_worker_settings() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    let concurrency = format!(
        "  BatchWorkerConcurrency:\n    Type: Number\n    Default: {}\n",
        batch_worker_function::DEFAULT_CONCURRENCY
    );
    assert!(text.contains(&concurrency), "{concurrency}");
    assert!(text.contains("              MaximumConcurrency: !Ref BatchWorkerConcurrency\n"));
    assert!(text.contains(&format!(
        "        maxReceiveCount: {}\n",
        batch_worker_function::DEFAULT_MAX_RECEIVES
    )));
}
