//! `Idempotency-Key` around the creating routes (`Route::creates`): the
//! handler's work runs once per key, and retries get its first answer.

use std::future::Future;

use domain::clients::AccountId;
use domain::idempotency::{
    fingerprint, Begin, Idempotency, IdempotencyError, IdempotencyKey, StoredResponse,
};
use lambda_http::{Body, Request, Response};

use crate::{ApiError, Routed};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on an answer that repeats a stored one.
pub const REPLAYED: &str = "idempotent-replayed";

/// Runs `work` under the request's `Idempotency-Key` when the route creates
/// something and the caller sent a key; otherwise just runs it.
pub async fn guarded<F>(
    idempotency: &Idempotency,
    account: &AccountId,
    request: &Request,
    routed: &Routed,
    work: F,
) -> Result<Response<Body>, ApiError>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let Some(key) = request
        .headers()
        .get(IDEMPOTENCY_KEY)
        .filter(|_| routed.route.creates)
    else {
        return work.await;
    };
    let key = IdempotencyKey::parse(key.to_str().map_err(|_| IdempotencyError::InvalidKey)?)?;
    let print = fingerprint(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query().unwrap_or(""),
        request.body().as_ref(),
    );
    let claim = match idempotency.begin(account, &key, &print).await? {
        Begin::Replay(stored) => return Ok(replay(stored)),
        Begin::Proceed(claim) => claim,
    };
    let outcome = work.await;
    // Refusals and failures are not kept: the retry should try again.
    let keep = match &outcome {
        Ok(response) if response.status().is_success() => stored(response),
        _ => None,
    };
    if let Err(err) = idempotency.finish(claim, keep).await {
        // The work is done; the key stays claimed until its lease lapses.
        tracing::warn!(error = %err, "could not record the Idempotency-Key outcome");
    }
    outcome
}

fn stored(response: &Response<Body>) -> Option<StoredResponse> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = match response.body() {
        Body::Empty => String::new(),
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8(bytes.clone()).ok()?,
    };
    Some(StoredResponse {
        status: response.status().as_u16(),
        content_type: header(http::header::CONTENT_TYPE),
        location: header(http::header::LOCATION),
        body,
    })
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut builder = Response::builder()
        .status(stored.status)
        .header(REPLAYED, "true");
    if let Some(content_type) = stored.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    if let Some(location) = stored.location {
        builder = builder.header(http::header::LOCATION, location);
    }
    let body = if stored.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(stored.body)
    };
    builder.body(body).unwrap_or_else(|_| {
        // Only stored headers that no longer parse can get here.
        ApiError::Idempotency(IdempotencyError::Store(domain::StoreError::Corrupt(
            "a stored response does not rebuild".into(),
        )))
        .into_response()
    })
}
