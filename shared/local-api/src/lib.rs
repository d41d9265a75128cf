//! The local API: one HTTP server on loopback that hands each request to the
//! same handler the function behind that route runs on Lambda.
#![forbid(unsafe_code)]

mod webhooks;
mod worker;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use activation_challenges_function::ActivationChallengesFunction;
use auth_function::AuthFunction;
use batch_function::BatchFunction;
use bytes::Bytes;
use cleanup_function::{Cleanup, CleanupError, CleanupRun};
use codes_function::CodesFunction;
use domain::auth::{AccessTokenVerifier, P256SigningKey};
use domain::webhooks::url::UrlPolicy;
use domain::HostResolver;
use http_api::routes::error_style;
use http_api::{match_route, ApiError, Function, RouteHandler, RouteMatch, MAX_BATCH_BODY_BYTES};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, Request, Response};
use licenses_function::LicensesFunction;
use mpesa_function::MpesaFunction;
use runtime_support::Platform;
use storage::{MemoryDeliveryQueue, MemoryQueue};
use tokio::net::TcpListener;
use webhook_sender::HttpWebhookSender;
use webhooks::{LocalWebhooks, OutboxFeed};
use webhooks_function::WebhooksFunction;

/// The API's OpenAPI 3.1 document (`openapi/openapi.json`); a test holds it
/// to the route table and `template.yaml`.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../openapi/openapi.json");

/// What the local API runs on: what every function is built from, and the
/// keys that on AWS only one function each holds.
pub struct LocalConfig {
    pub platform: Platform,
    pub signing_key: P256SigningKey,
    /// Signs the license certificates `POST /deploy/{id}` issues.
    pub certificate_key: P256SigningKey,
    /// Runs the challenge cleanup this often in the background, as the
    /// schedule does on AWS; `None` leaves it to `LocalApi::cleanup`.
    pub cleanup_every: Option<std::time::Duration>,
    /// How many chunks the in-process batch worker runs at once, as
    /// `BatchWorkerConcurrency` does on AWS.
    pub worker_concurrency: usize,
    /// Resolves webhook hosts; the tests give one that resolves nothing.
    pub resolver: Arc<dyn HostResolver>,
    /// Which webhook URLs are allowed; the development flag allows loopback.
    pub webhook_policy: UrlPolicy,
    /// Runs the webhook dispatcher and courier this often in the
    /// background; `None` leaves it to `LocalApi::settle_webhooks`.
    pub webhooks_every: Option<std::time::Duration>,
    /// The DynamoDB endpoint the stores use, when they are DynamoDB's:
    /// the local dispatcher reads the table's stream there.
    pub dynamodb_endpoint: Option<String>,
}

/// Every function of the platform, in one process.
pub struct LocalApi {
    auth: AuthFunction,
    codes: CodesFunction,
    batch: BatchFunction,
    licenses: LicensesFunction,
    challenges: ActivationChallengesFunction,
    mpesa: MpesaFunction,
    webhooks: WebhooksFunction,
    cleanup: Arc<Cleanup>,
    outbox: Arc<LocalWebhooks>,
}

impl LocalApi {
    /// Builds every function through its own constructor and starts the
    /// in-process batch worker, which reads the queue `POST /batch` writes to
    /// (so this needs a Tokio runtime).
    pub fn new(config: LocalConfig) -> Self {
        let verifier = AccessTokenVerifier::new(&config.signing_key.public_key());
        let platform = config.platform;
        let (queue, deliveries) = MemoryQueue::new();
        tokio::spawn(worker::run(
            batch_worker_function::build(&platform),
            deliveries,
            config.worker_concurrency,
        ));
        let delivery_queue = Arc::new(MemoryDeliveryQueue::new(platform.clock.clone()));
        let feed = match (platform.stores.memory(), platform.stores.dynamo()) {
            (Some(store), _) => OutboxFeed::Memory {
                store,
                position: tokio::sync::Mutex::new(0),
            },
            (None, Some(store)) => OutboxFeed::Dynamo {
                store,
                endpoint: config.dynamodb_endpoint.clone(),
                stream: tokio::sync::Mutex::new(None),
            },
            (None, None) => unreachable!("the local API's stores are memory or DynamoDB"),
        };
        let sender = Arc::new(HttpWebhookSender::new(
            config.resolver.clone(),
            config.webhook_policy,
        ));
        let outbox = Arc::new(LocalWebhooks {
            feed,
            dispatcher: webhook_dispatcher_function::build(&platform, delivery_queue.clone()),
            courier: webhook_delivery_function::build(
                &platform,
                sender,
                delivery_queue.clone(),
                config.webhook_policy,
            ),
            queue: delivery_queue.clone(),
        });
        if let Some(every) = config.webhooks_every {
            tokio::spawn(webhooks::run_every(outbox.clone(), every));
        }
        let cleanup = Arc::new(cleanup_function::build(&platform));
        if let Some(every) = config.cleanup_every {
            tokio::spawn(run_cleanup_every(cleanup.clone(), every));
        }
        LocalApi {
            auth: AuthFunction::build(&platform, config.signing_key),
            codes: CodesFunction::build(&platform, verifier.clone()),
            batch: BatchFunction::build(&platform, verifier.clone(), Arc::new(queue)),
            licenses: LicensesFunction::build(&platform, verifier.clone(), config.certificate_key),
            challenges: ActivationChallengesFunction::build(&platform, verifier.clone()),
            mpesa: MpesaFunction::build(&platform),
            webhooks: WebhooksFunction::build(
                &platform,
                verifier,
                delivery_queue,
                config.resolver,
                config.webhook_policy,
            ),
            cleanup,
            outbox,
        }
    }

    /// Dispatches every event written so far and makes every webhook
    /// attempt that is due on the platform's clock, until nothing is left
    /// to do now: what the stream, the dispatcher, the queue and the
    /// delivery worker would have done by then.
    pub async fn settle_webhooks(&self) {
        self.outbox.settle().await;
    }

    /// One run of the scheduled cleanup, as the `cleanup` Lambda does it:
    /// challenges ended and credit notices sent.
    pub async fn cleanup(&self) -> Result<CleanupRun, CleanupError> {
        cleanup_function::handle(&self.cleanup).await
    }

    /// Routes the request to its function, as API Gateway would; also
    /// serves the OpenAPI document at `/openapi.json`.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        if request.uri().path() == "/openapi.json" && request.method() == http::Method::GET {
            return Response::builder()
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::Text(OPENAPI_DOCUMENT.to_owned()))
                .expect("a static answer is a valid response");
        }
        match match_route(request.method(), request.uri().path()) {
            RouteMatch::Found { route, .. } => match route.function() {
                Function::Auth => self.auth.handle(request).await,
                Function::Codes => self.codes.handle(request).await,
                Function::Batch => self.batch.handle(request).await,
                Function::Licenses => self.licenses.handle(request).await,
                Function::ActivationChallenges => self.challenges.handle(request).await,
                Function::Mpesa => self.mpesa.handle(request).await,
                Function::Webhooks => self.webhooks.handle(request).await,
            },
            RouteMatch::WrongMethod => http_api::finish_styled(
                Err(ApiError::MethodNotAllowed),
                Instant::now(),
                error_style(request.uri().path()),
            ),
            RouteMatch::NotFound => http_api::finish_styled(
                Err(ApiError::RouteNotFound),
                Instant::now(),
                error_style(request.uri().path()),
            ),
        }
    }

    async fn handle_http(&self, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let response = match Limited::new(body, MAX_BATCH_BODY_BYTES).collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                let body = if bytes.is_empty() {
                    Body::Empty
                } else {
                    Body::Binary(bytes.to_vec())
                };
                self.handle(Request::from_parts(parts, body)).await
            }
            Err(_) => ApiError::BodyTooLarge(MAX_BATCH_BODY_BYTES).into_response(),
        };
        let (parts, body) = response.into_parts();
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Text(text) => Bytes::from(text),
            Body::Binary(binary) => Bytes::from(binary),
        };
        hyper::Response::from_parts(parts, Full::new(bytes))
    }
}

async fn run_cleanup_every(service: Arc<Cleanup>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        if let Err(err) = cleanup_function::handle(&service).await {
            tracing::warn!(error = %err, "cleanup run failed; the next run retries");
        }
    }
}

/// Serves HTTP/1.1 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, api: Arc<LocalApi>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let api = api.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.handle_http(request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}
