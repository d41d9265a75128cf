//! The activation-challenges function: Solaris device management's
//! activation challenges (`/v1/mfa/challenges/activation`), their
//! verification and their delivery events (`docs/challenges.md`).

use api_types::solaris::{
    ChallengeView, CreateChallengeBody, CreateChallengeParams, DeliveryEventBody,
    DeliveryEventView, ListChallengesParams, VerifyBody,
};
use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::challenges::ChallengeError;
use domain::clients::AccountId;
use domain::idempotency::Idempotency;
use domain::ids::ChallengeId;
use domain::rate_limits::RateLimiter;
use domain::ChallengeService;
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, ChallengeRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;
use std::sync::Arc;

pub struct ActivationChallengesFunction {
    challenges: ChallengeService,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
    verify_limit: RateLimiter,
}

fn with_location(mut response: Response<Body>, location: &str) -> Response<Body> {
    if let Ok(value) = http::HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

impl ActivationChallengesFunction {
    /// The function as its `main.rs` and the local API build it.
    pub fn build(platform: &Platform, verifier: AccessTokenVerifier) -> Self {
        let clock = platform.clock.clone();
        let stores = &platform.stores;
        ActivationChallengesFunction {
            challenges: ChallengeService::new(
                stores.challenges(),
                clock.clone(),
                platform.challenges,
            ),
            auth: Authenticator::new(verifier, clock.clone()),
            idempotency: platform.idempotency(),
            verify_limit: platform.limiter("verify", platform.rate_limits.verify),
        }
    }

    async fn serve(
        &self,
        request: &Request,
        route: ChallengeRoute,
        routed: &Routed,
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        // Parsed where each arm used to pass it on, so the order of refusals
        // stays: an id of the wrong form names no challenge, a 404.
        let id = || ChallengeId::parse(routed.param("id")).ok_or(ChallengeError::NotFound);
        match route {
            ChallengeRoute::Create => {
                let params: CreateChallengeParams = query(request)?;
                let body: CreateChallengeBody = json_body(request)?;
                let new = body.validate(params.invalidate_existing_code.as_deref())?;
                let challenge = self.challenges.create(account, new).await?;
                Ok(with_location(
                    json_response(StatusCode::CREATED, &ChallengeView::from(&challenge)),
                    &format!("{}/{}", routed.route.path, challenge.id),
                ))
            }
            ChallengeRoute::List => {
                let params: ListChallengesParams = query(request)?;
                let query = params.into_query(account, self.challenges.now())?;
                let page = self.challenges.list(&query).await?;
                let views: Vec<ChallengeView> = page.iter().map(ChallengeView::from).collect();
                Ok(json_response(StatusCode::OK, &views))
            }
            ChallengeRoute::Get => {
                let challenge = self.challenges.get(account, &id()?).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &ChallengeView::from(&challenge),
                ))
            }
            ChallengeRoute::Delete => {
                self.challenges.delete(account, &id()?).await?;
                Ok(Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Body::Empty)
                    .expect("a bare status is a valid response"))
            }
            ChallengeRoute::Verify => {
                self.verify_limit.check(account).await?;
                let body: VerifyBody = json_body(request)?;
                let challenge = self
                    .challenges
                    .verify(account, &id()?, &body.into())
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &ChallengeView::from(&challenge),
                ))
            }
            ChallengeRoute::CreateDeliveryEvent => {
                let body: DeliveryEventBody = json_body(request)?;
                let (challenge, event) = self
                    .challenges
                    .add_event(account, &id()?, &body.into())
                    .await?;
                // The document answers with the challenge; the new event is
                // where Location points.
                Ok(with_location(
                    json_response(StatusCode::CREATED, &ChallengeView::from(&challenge)),
                    &format!(
                        "{}/{}",
                        routed.route.path.replace("{id}", &challenge.id),
                        event.id
                    ),
                ))
            }
            ChallengeRoute::ListDeliveryEvents => {
                let events = self.challenges.events(account, &id()?).await?;
                let views: Vec<DeliveryEventView> =
                    events.iter().map(DeliveryEventView::from).collect();
                Ok(json_response(StatusCode::OK, &views))
            }
            ChallengeRoute::GetDeliveryEvent => {
                let event = self
                    .challenges
                    .event(account, &id()?, routed.param("event_id"))
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &DeliveryEventView::from(&event),
                ))
            }
        }
    }
}

#[async_trait]
impl RouteHandler for ActivationChallengesFunction {
    type Route = ChallengeRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: ChallengeRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let account = self.auth.token_account(request)?;
        let work = self.serve(request, route, routed, &account);
        guarded(&self.idempotency, &account, request, routed, work).await
    }
}
