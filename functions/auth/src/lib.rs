//! `POST /auth`: exchanges a client's signed auth token for an access token.

use std::time::Instant;

use domain::auth::AuthRequest;
use domain::AuthService;
use http::StatusCode;
use http_api::{finish, json_body, json_response, request_span, route_for, ApiError, Function};
use lambda_http::{Body, Request, Response};
use tracing::Instrument;

pub struct AuthFunction {
    auth: AuthService,
}

impl AuthFunction {
    pub fn new(auth: AuthService) -> Self {
        AuthFunction { auth }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let span = request_span(&request);
        async {
            let outcome = match route_for(&request, Function::Auth) {
                Ok(_) => self.exchange(&request).await,
                Err(err) => Err(err),
            };
            finish(outcome, started)
        }
        .instrument(span)
        .await
    }

    async fn exchange(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let body: AuthRequest =
            json_body(request).map_err(|_| ApiError::Auth(domain::AuthError::BadRequest))?;
        let token = self.auth.exchange(&body).await?;
        http_api::record_client(&token.client);
        Ok(json_response(StatusCode::OK, &token))
    }
}
