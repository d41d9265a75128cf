//! `POST /auth`: exchanges a client's signed auth token for an access token.

use async_trait::async_trait;
use domain::auth::AuthRequest;
use domain::AuthService;
use http::StatusCode;
use http_api::{json_body, json_response, ApiError, AuthRoute, Function, RouteHandler, Routed};
use lambda_http::{Body, Request, Response};

pub struct AuthFunction {
    auth: AuthService,
}

impl AuthFunction {
    pub fn new(auth: AuthService) -> Self {
        AuthFunction { auth }
    }
}

#[async_trait]
impl RouteHandler for AuthFunction {
    const FUNCTION: Function = Function::Auth;
    type Route = AuthRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: AuthRoute,
        _routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let AuthRoute::Exchange = route;
        let body: AuthRequest =
            json_body(request).map_err(|_| ApiError::Auth(domain::AuthError::BadRequest))?;
        let token = self.auth.exchange(&body).await?;
        http_api::record_client(&token.client);
        Ok(json_response(StatusCode::OK, &token))
    }
}
