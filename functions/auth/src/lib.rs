//! `POST /auth`: exchanges a client's signed auth token for an access token.

use api_types::biolite::auth::{AccessTokenView, AuthRequest};
use async_trait::async_trait;
use domain::auth::P256SigningKey;
use domain::AuthService;
use http::StatusCode;
use http_api::{json_body, json_response, ApiError, AuthRoute, RouteHandler, Routed};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct AuthFunction {
    auth: AuthService,
}

impl AuthFunction {
    /// The function as its `main.rs` and the local API build it. Only this
    /// function holds the key that signs access tokens.
    pub fn build(platform: &Platform, signing_key: P256SigningKey) -> Self {
        let auth = AuthService::new(
            platform.stores.clients(),
            platform.clock.clone(),
            signing_key,
            platform.auth,
        )
        .with_rate_limit(platform.limiter("auth", platform.rate_limits.auth));
        AuthFunction { auth }
    }
}

#[async_trait]
impl RouteHandler for AuthFunction {
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
        let token = self.auth.exchange(&body.token, &body.token_type).await?;
        http_api::record_account(&token.account);
        Ok(json_response(
            StatusCode::OK,
            &AccessTokenView::from(&token),
        ))
    }
}
