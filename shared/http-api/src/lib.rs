//! What every HTTP function shares: routing, request parsing, the single
//! error-to-HTTP mapping (`error`), request limits, authentication and
//! idempotency.
#![forbid(unsafe_code)]

pub mod error;
pub mod idempotency;
pub mod limits;
pub mod routes;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::clients::api_keys::lookup_hash;
use domain::clients::AccountId;
use domain::clock::Clock;
use domain::ApiKeyStore;
use domain::AuthError;
use tracing::Instrument;

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::{ApiError, ErrorStyle};
pub use routes::{
    match_route, AuthRoute, BatchRoute, ChallengeRoute, CodesRoute, Function, FunctionRoute,
    HolderRoute, LicensesRoute, MpesaRoute, Route, RouteId, RouteMatch, SubscriptionRoute, V4Route,
    VendorRoute, WebhooksRoute, ROUTES,
};

/// The largest request body of most routes; larger ones are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest `POST /batch` body: 10,000 items fit with room to spare, and
/// it stays far below Lambda's 6 MB payload limit. Also the most the local
/// API reads of any body.
pub const MAX_BATCH_BODY_BYTES: usize = 1024 * 1024;

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let text = serde_json::to_string(body).expect("response bodies always serialize");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .expect("status and header are valid")
}

/// Reads the body as JSON of type `T`. Its size was already bounded by
/// `limits::check`, which `RouteHandler::handle` runs before any handler.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedBody(e.to_string()))
}

/// Reads the query string into `T` (whose fields are all optional).
pub fn query<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    serde_urlencoded::from_str(request.uri().query().unwrap_or(""))
        .map_err(|e| ApiError::MalformedQuery(e.to_string()))
}

pub fn authorization(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// A request matched to one of the function's routes.
#[derive(Debug, Clone)]
pub struct Routed {
    pub route: Route,
    pub params: Vec<(&'static str, String)>,
}

impl Routed {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// Matches the request to one of the routes of the function whose route
/// enum is `R`; another function's route is not found here.
pub fn route_for<R: FunctionRoute>(request: &Request) -> Result<(R, Routed), ApiError> {
    match match_route(request.method(), request.uri().path()) {
        RouteMatch::Found { route, params } => match R::from_id(route.id) {
            Some(own) => Ok((own, Routed { route, params })),
            None => Err(ApiError::RouteNotFound),
        },
        RouteMatch::WrongMethod => Err(ApiError::MethodNotAllowed),
        RouteMatch::NotFound => Err(ApiError::RouteNotFound),
    }
}

/// The span every log line of a request is written in: the Lambda request
/// id when there is one, else the caller's `x-request-id`, else a new id.
pub fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .or_else(|| {
            request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 128)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| domain::random::random_hex(8));
    tracing::info_span!(
        "request",
        requestId = %request_id,
        method = %request.method(),
        path = %routes::loggable_path(request.uri().path()),
        clientKey = tracing::field::Empty,
    )
}

/// Records the authenticated client on the request's span.
pub fn record_account(account: &domain::clients::AccountId) {
    tracing::Span::current().record("clientKey", account.as_str());
}

/// Turns a handler's outcome into the response and logs one line for it.
pub fn finish(outcome: Result<Response<Body>, ApiError>, started: Instant) -> Response<Body> {
    finish_styled(outcome, started, ErrorStyle::Platform)
}

/// `finish`, with errors in the shape of the API family that was called.
pub fn finish_styled(
    outcome: Result<Response<Body>, ApiError>,
    started: Instant,
    style: ErrorStyle,
) -> Response<Body> {
    let response = outcome.unwrap_or_else(|e| e.into_styled_response(style));
    tracing::info!(
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "handled"
    );
    response
}

/// One Lambda function's routes. `handle` does what every function does
/// around them: the request's log span, routing, and the final response.
#[async_trait]
pub trait RouteHandler: Send + Sync {
    /// The function's own routes, which `dispatch` matches exhaustively.
    type Route: FunctionRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: Self::Route,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError>;

    async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let span = request_span(&request);
        async {
            let outcome = match route_for::<Self::Route>(&request) {
                Ok((route, routed)) => match limits::check(&request, &routed) {
                    Ok(()) => self.dispatch(&request, route, &routed).await,
                    Err(err) => Err(err),
                },
                Err(err) => Err(err),
            };
            finish_styled(outcome, started, routes::error_style(request.uri().path()))
        }
        .instrument(span)
        .await
    }
}

/// Serves `handler` on the Lambda runtime until it shuts down: what every
/// HTTP function's `main.rs` does once its handler is built.
pub async fn run_on_lambda<H: RouteHandler + 'static>(
    handler: H,
) -> Result<(), lambda_http::Error> {
    let handler = Arc::new(handler);
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let handler = handler.clone();
        async move { Ok::<_, lambda_http::Error>(handler.handle(request).await) }
    }))
    .await
}

/// Checks access tokens against the injected clock (and, where the routes
/// take them, API keys) and puts the client on the request's span.
#[derive(Clone)]
pub struct Authenticator {
    verifier: AccessTokenVerifier,
    clock: Arc<dyn Clock>,
    api_keys: Option<Arc<dyn ApiKeyStore>>,
}

impl Authenticator {
    pub fn new(verifier: AccessTokenVerifier, clock: Arc<dyn Clock>) -> Self {
        Authenticator {
            verifier,
            clock,
            api_keys: None,
        }
    }

    /// Also accepts `Authorization: Apikey KEY`, looked up in `store`.
    pub fn with_api_keys(mut self, store: Arc<dyn ApiKeyStore>) -> Self {
        self.api_keys = Some(store);
        self
    }

    /// The account an API key or access token speaks for.
    pub async fn account(&self, request: &Request) -> Result<AccountId, ApiError> {
        let api_key = authorization(request)
            .map(str::trim)
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("apikey"))
            .map(|(_, key)| key.trim());
        let Some(store) = &self.api_keys else {
            return self.token_account(request);
        };
        if authorization(request).is_none_or(|v| v.trim().is_empty()) {
            return Err(AuthError::MissingCredentials.into());
        }
        let Some(presented) = api_key else {
            return self.token_account(request);
        };
        let hash = lookup_hash(presented).ok_or(AuthError::InvalidApiKey)?;
        let key = store
            .find_api_key(&hash)
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::InvalidApiKey)?;
        record_account(&key.account);
        Ok(key.account)
    }

    /// The account an access token speaks for (no API keys).
    pub fn token_account(&self, request: &Request) -> Result<AccountId, ApiError> {
        let account = self
            .verifier
            .verify(authorization(request), self.clock.now())?;
        record_account(&account);
        Ok(account)
    }
}
