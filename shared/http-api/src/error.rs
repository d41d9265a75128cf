//! The one place where errors become HTTP answers.

use domain::batches::ItemError;
use domain::idempotency::IdempotencyError;
use domain::rate_limits::RateLimitError;
use domain::{
    AuthError, BatchError, ChallengeError, CodesError, LicenseError, MpesaError, PaymentsError,
    StoreError, WebhookError,
};
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
    #[error(transparent)]
    License(#[from] LicenseError),
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    #[error(transparent)]
    Mpesa(#[from] MpesaError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    RateLimited(#[from] RateLimitError),
    /// A value the client controls is longer or larger than allowed.
    #[error("{field}: {reason}")]
    OutOfBounds { field: &'static str, reason: String },
    #[error("the body must be {0}")]
    UnsupportedMediaType(&'static str),
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
            | ApiError::Batch(BatchError::Store(e))
            | ApiError::License(LicenseError::Store(e))
            | ApiError::Challenge(ChallengeError::Store(e))
            | ApiError::Payments(PaymentsError::Store(e))
            | ApiError::Mpesa(MpesaError::Store(e))
            | ApiError::Webhook(WebhookError::Store(e))
            | ApiError::Idempotency(IdempotencyError::Store(e))
            | ApiError::RateLimited(RateLimitError::Store(e)) => store_status(e),
            ApiError::Auth(AuthError::RateLimited { .. }) => {
                (S::TOO_MANY_REQUESTS, "rate_limited", None)
            }
            ApiError::Auth(_) => (S::UNAUTHORIZED, "unauthorized", None),
            ApiError::Codes(CodesError::InvalidField { field, .. }) => {
                (S::BAD_REQUEST, "invalid_field", Some(field.as_str()))
            }
            ApiError::Codes(CodesError::DeviceNotFound) => (S::NOT_FOUND, "device_not_found", None),
            ApiError::Codes(CodesError::DeviceExists) => (S::CONFLICT, "device_exists", None),
            ApiError::Codes(CodesError::CannotExpress(_)) => {
                (S::UNPROCESSABLE_ENTITY, "unsupported_code_type", None)
            }
            ApiError::Codes(CodesError::CreditUnreachable(_)) => {
                (S::UNPROCESSABLE_ENTITY, "credit_unreachable", None)
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
            ApiError::License(e) => license_status(e),
            ApiError::Challenge(e) => challenge_status(e),
            ApiError::Payments(e) | ApiError::Mpesa(MpesaError::Payments(e)) => payments_status(e),
            ApiError::Mpesa(MpesaError::UnknownCallback) => (S::NOT_FOUND, "not_found", None),
            ApiError::Mpesa(MpesaError::InvalidField { field, .. }) => {
                (S::BAD_REQUEST, "invalid_field", Some(field.as_str()))
            }
            ApiError::Mpesa(MpesaError::OtherShortCode { .. }) => {
                (S::UNPROCESSABLE_ENTITY, "short_code_mismatch", None)
            }
            ApiError::Webhook(e) => webhook_status(e),
            ApiError::Idempotency(IdempotencyError::InvalidKey) => {
                (S::BAD_REQUEST, "invalid_field", Some("Idempotency-Key"))
            }
            ApiError::Idempotency(IdempotencyError::KeyReused) => {
                (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused", None)
            }
            ApiError::Idempotency(IdempotencyError::InProgress { .. }) => {
                (S::CONFLICT, "idempotency_key_in_use", None)
            }
            ApiError::RateLimited(RateLimitError::Limited { .. }) => {
                (S::TOO_MANY_REQUESTS, "rate_limited", None)
            }
            ApiError::OutOfBounds { field, .. } => (S::BAD_REQUEST, "too_large", Some(*field)),
            ApiError::UnsupportedMediaType(_) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None)
            }
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

    /// The machine-readable code, e.g. `license_not_found`.
    pub fn code(&self) -> &'static str {
        self.classify().1
    }

    /// The message a caller sees: the error's own, except for server
    /// errors, whose details stay in the log.
    pub fn public_message(&self) -> String {
        if self.status().is_server_error() {
            "the service could not complete the request; retry later".to_owned()
        } else {
            self.to_string()
        }
    }

    /// When a refusal is about timing, how long the caller should wait.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::Challenge(ChallengeError::TooManyAttempts { retry_after_secs }) => {
                Some(u64::try_from(*retry_after_secs).unwrap_or(1))
            }
            ApiError::Auth(AuthError::RateLimited { retry_after_secs })
            | ApiError::Idempotency(IdempotencyError::InProgress { retry_after_secs })
            | ApiError::RateLimited(RateLimitError::Limited { retry_after_secs }) => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        self.into_styled_response(ErrorStyle::Platform)
    }

    /// The response in the error shape of the API family that was called.
    pub fn into_styled_response(self, style: ErrorStyle) -> Response<Body> {
        let (status, code, field) = self.classify();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let message = self.public_message();
        let items = match &self {
            ApiError::Batch(BatchError::InvalidItems(items)) => Some(items.as_slice()),
            _ => None,
        };
        let mut response = match style {
            ErrorStyle::Platform => crate::json_response(
                status,
                &ErrorBody {
                    error: code,
                    message,
                    field,
                    items,
                },
            ),
            ErrorStyle::Vendor => crate::json_response(
                status,
                &serde_json::json!({ "errors": [message], "response": null }),
            ),
            ErrorStyle::Subscription => {
                crate::json_response(status, &serde_json::json!({ "error": message }))
            }
        };
        if let Some(secs) = self.retry_after_secs() {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(secs.max(1)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            runtime_support::metrics::record(runtime_support::metrics::Metric::AuthFailures, 1);
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The error bodies of the API families: the platform's own (also
/// AminoTV's, whose document shows none), the vendor API's envelope and the
/// subscription API's `{"error": msg}`. Status codes are the same in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    Platform,
    Vendor,
    Subscription,
}

fn webhook_status(error: &WebhookError) -> (StatusCode, &'static str, Option<&str>) {
    use StatusCode as S;
    use WebhookError as W;
    match error {
        W::InvalidField { field, .. } => (S::BAD_REQUEST, "invalid_field", Some(field.as_str())),
        W::EndpointNotFound => (S::NOT_FOUND, "webhook_not_found", None),
        W::DeliveryNotFound => (S::NOT_FOUND, "delivery_not_found", None),
        W::TooManyEndpoints => (S::UNPROCESSABLE_ENTITY, "too_many_webhooks", None),
        W::EndpointDisabled => (S::CONFLICT, "webhook_disabled", None),
        W::EndpointBusy => (S::CONFLICT, "webhook_busy", None),
        W::Store(e) => store_status(e),
    }
}

fn payments_status(error: &PaymentsError) -> (StatusCode, &'static str, Option<&str>) {
    use PaymentsError as P;
    use StatusCode as S;
    match error {
        P::InvalidField { field, .. } => (S::BAD_REQUEST, "invalid_field", Some(field.as_str())),
        P::DeviceNotFound => (S::NOT_FOUND, "device_not_found", None),
        P::PlanNotFound => (S::NOT_FOUND, "plan_not_found", None),
        P::NoPlan => (S::UNPROCESSABLE_ENTITY, "no_payment_plan", None),
        P::WrongCurrency { .. } => (S::UNPROCESSABLE_ENTITY, "currency_mismatch", None),
        P::CurrencyLocked(_) => (S::UNPROCESSABLE_ENTITY, "plan_currency_locked", None),
        P::ReferenceConflict => (S::CONFLICT, "payment_reference_conflict", None),
        P::DeviceBusy => (S::CONFLICT, "device_busy", None),
        P::Store(e) => store_status(e),
    }
}

fn license_status(error: &LicenseError) -> (StatusCode, &'static str, Option<&str>) {
    use LicenseError as L;
    use StatusCode as S;
    match error {
        L::InvalidField { field, .. } => (S::BAD_REQUEST, "invalid_field", Some(field.as_str())),
        L::ProductNotFound => (S::NOT_FOUND, "product_not_found", None),
        L::LicenseNotFound => (S::NOT_FOUND, "license_not_found", None),
        L::LicenseKeyNotFound => (S::NOT_FOUND, "license_key_not_found", None),
        L::ContractNotFound => (S::NOT_FOUND, "contract_not_found", None),
        L::LoginTokenInvalid => (S::NOT_FOUND, "token_invalid", None),
        L::ProductExists => (S::CONFLICT, "product_exists", None),
        L::ProductInUse(_) => (S::CONFLICT, "product_in_use", None),
        L::ProductRetired => (S::CONFLICT, "product_retired", None),
        L::LicenseExists => (S::CONFLICT, "license_exists", None),
        L::DiscountExists => (S::CONFLICT, "discount_exists", None),
        L::AlreadyDeployed => (S::CONFLICT, "already_deployed", None),
        L::OwnerMismatch => (S::CONFLICT, "owner_mismatch", None),
        L::NonceNotFound => (S::CONFLICT, "nonce_used_or_unknown", None),
        L::OwnerRequired => (S::UNPROCESSABLE_ENTITY, "owner_required", Some("owner")),
        L::LicenseNotActive => (S::UNPROCESSABLE_ENTITY, "license_not_active", None),
        L::NonceExpired => (S::UNPROCESSABLE_ENTITY, "nonce_expired", None),
        L::NonceAddressMismatch => (S::FORBIDDEN, "nonce_address_mismatch", None),
        L::BadSignature => (S::FORBIDDEN, "bad_signature", None),
        L::NotOwner => (S::FORBIDDEN, "not_owner", None),
        L::Store(e) => store_status(e),
    }
}

fn challenge_status(error: &ChallengeError) -> (StatusCode, &'static str, Option<&str>) {
    use ChallengeError as C;
    use StatusCode as S;
    match error {
        C::InvalidField { field, .. } => (S::BAD_REQUEST, "invalid_field", Some(field.as_str())),
        C::NotFound => (S::NOT_FOUND, "challenge_not_found", None),
        C::EventNotFound => (S::NOT_FOUND, "delivery_event_not_found", None),
        C::LiveChallengeExists => (S::CONFLICT, "challenge_exists", None),
        C::TooManyEvents(_) => (S::CONFLICT, "too_many_events", None),
        C::Busy => (S::CONFLICT, "challenge_busy", None),
        C::Expired => (S::UNPROCESSABLE_ENTITY, "challenge_expired", None),
        C::Deleted => (S::UNPROCESSABLE_ENTITY, "challenge_deleted", None),
        C::Invalidated => (S::UNPROCESSABLE_ENTITY, "challenge_invalidated", None),
        C::Exhausted => (S::UNPROCESSABLE_ENTITY, "challenge_exhausted", None),
        C::WrongCode => (S::UNPROCESSABLE_ENTITY, "wrong_code", Some("code")),
        C::TooManyAttempts { .. } => (S::TOO_MANY_REQUESTS, "too_many_attempts", None),
        C::Store(e) => store_status(e),
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
