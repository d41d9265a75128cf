//! The one place where errors become HTTP answers.

use domain::batches::ItemError;
use domain::{AuthError, BatchError, CodesError, StoreError};
use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Codes(#[from] CodesError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    MalformedBody(String),
    #[error("the query string is not valid for this endpoint: {0}")]
    MalformedQuery(String),
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("no such route")]
    RouteNotFound,
    #[error("the route does not accept this method")]
    MethodNotAllowed,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// For a refused batch: every invalid item, by index.
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<&'a [ItemError]>,
}

impl ApiError {
    /// Status, machine-readable code and (for field errors) the field.
    fn classify(&self) -> (StatusCode, &'static str, Option<&str>) {
        use StatusCode as S;
        match self {
            ApiError::Auth(AuthError::BadRequest) => (S::BAD_REQUEST, "bad_request", None),
            ApiError::Auth(AuthError::Store(e))
            | ApiError::Codes(CodesError::Store(e))
            | ApiError::Batch(BatchError::Store(e)) => store_status(e),
            ApiError::Auth(_) => (S::UNAUTHORIZED, "unauthorized", None),
            ApiError::Codes(CodesError::InvalidField { field, .. }) => {
                (S::BAD_REQUEST, "invalid_field", Some(field.as_str()))
            }
            ApiError::Codes(CodesError::DeviceNotFound) => (S::NOT_FOUND, "device_not_found", None),
            ApiError::Codes(CodesError::DeviceExists) => (S::CONFLICT, "device_exists", None),
            ApiError::Codes(CodesError::CannotExpress(_)) => {
                (S::UNPROCESSABLE_ENTITY, "unsupported_code_type", None)
            }
            ApiError::Codes(CodesError::DeviceBusy) => (S::CONFLICT, "device_busy", None),
            ApiError::Codes(CodesError::AlreadyIssued) => (S::CONFLICT, "already_issued", None),
            ApiError::Batch(BatchError::WrongSize) => (S::BAD_REQUEST, "invalid_batch", None),
            ApiError::Batch(BatchError::InvalidItems(_)) => (S::BAD_REQUEST, "invalid_items", None),
            ApiError::Batch(BatchError::InvalidField { field, .. }) => {
                (S::BAD_REQUEST, "invalid_field", Some(field.as_str()))
            }
            ApiError::Batch(BatchError::IdempotencyKeyReused) => {
                (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused", None)
            }
            ApiError::Batch(BatchError::NotFound) => (S::NOT_FOUND, "batch_not_found", None),
            ApiError::MalformedBody(_) => (S::BAD_REQUEST, "malformed_body", None),
            ApiError::MalformedQuery(_) => (S::BAD_REQUEST, "malformed_query", None),
            ApiError::BodyTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "body_too_large", None),
            ApiError::RouteNotFound => (S::NOT_FOUND, "route_not_found", None),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed", None),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.classify().0
    }

    pub fn into_response(self) -> Response<Body> {
        let (status, code, field) = self.classify();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let message = if status.is_server_error() {
            // The store's own message stays in the log.
            "the service could not complete the request; retry later".to_owned()
        } else {
            self.to_string()
        };
        let items = match &self {
            ApiError::Batch(BatchError::InvalidItems(items)) => Some(items.as_slice()),
            _ => None,
        };
        let body = ErrorBody {
            error: code,
            message,
            field,
            items,
        };
        let mut response = crate::json_response(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

fn store_status(error: &StoreError) -> (StatusCode, &'static str, Option<&'static str>) {
    match error {
        StoreError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None),
        StoreError::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", None),
        StoreError::AlreadyExists | StoreError::Conflict => {
            (StatusCode::CONFLICT, "conflict", None)
        }
        StoreError::NotFound => (StatusCode::NOT_FOUND, "not_found", None),
    }
}
