//! Webhook endpoints: `POST/GET /webhooks`, `GET/PATCH/DELETE
//! /webhooks/{id}`, `POST /webhooks/{id}/test`, `GET
//! /webhooks/{id}/deliveries` and `POST
//! /webhooks/{id}/deliveries/{deliveryId}/retry` (`docs/delivery.md`).

use std::sync::Arc;

use api_types::webhooks::{
    DeliveryListing, DeliveryView, EndpointListing, EndpointPatchBody, EndpointView,
    EndpointWithSecret, NewEndpointBody, TestEventSent,
};
use api_types::PageParams;
use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::clients::AccountId;
use domain::idempotency::Idempotency;
use domain::paging::page_limit;
use domain::webhooks::url::UrlPolicy;
use domain::webhooks::DeliveryPosition;
use domain::{DeliveryQueue, HostResolver, WebhookError, WebhookService};
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, RouteHandler, Routed, WebhooksRoute,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct WebhooksFunction {
    webhooks: Arc<WebhookService>,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
}

impl WebhooksFunction {
    /// The function as its `main.rs` and the local API build it: `queue`
    /// takes the deliveries a retry sends again, `resolver` and `policy`
    /// vet endpoint URLs.
    pub fn build(
        platform: &Platform,
        verifier: AccessTokenVerifier,
        queue: Arc<dyn DeliveryQueue>,
        resolver: Arc<dyn HostResolver>,
        policy: UrlPolicy,
    ) -> Self {
        WebhooksFunction {
            webhooks: Arc::new(WebhookService::new(
                platform.stores.webhooks(),
                queue,
                resolver,
                policy,
                platform.clock.clone(),
            )),
            auth: Authenticator::new(verifier, platform.clock.clone()),
            idempotency: platform.idempotency(),
        }
    }

    async fn serve(
        &self,
        request: &Request,
        route: WebhooksRoute,
        routed: &Routed,
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        let webhooks = &self.webhooks;
        match route {
            WebhooksRoute::Create => {
                let body: NewEndpointBody = json_body(request)?;
                let command = body.into_command().map_err(WebhookError::from)?;
                let endpoint = webhooks.create(account, command).await?;
                tracing::info!(endpoint = %endpoint.id, "webhook endpoint created");
                Ok(json_response(
                    StatusCode::CREATED,
                    &EndpointWithSecret::of(&endpoint),
                ))
            }
            WebhooksRoute::List => {
                let endpoints = webhooks.list(account).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &EndpointListing::new(&endpoints),
                ))
            }
            WebhooksRoute::Get => {
                let endpoint = webhooks.get(account, routed.param("id")).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &EndpointView::from(&endpoint),
                ))
            }
            WebhooksRoute::Update => {
                let body: EndpointPatchBody = json_body(request)?;
                let patch = body.into_patch().map_err(WebhookError::from)?;
                let rotated = patch.rotate_secret;
                let endpoint = webhooks.update(account, routed.param("id"), patch).await?;
                Ok(if rotated {
                    json_response(StatusCode::OK, &EndpointWithSecret::of(&endpoint))
                } else {
                    json_response(StatusCode::OK, &EndpointView::from(&endpoint))
                })
            }
            WebhooksRoute::Delete => {
                webhooks.delete(account, routed.param("id")).await?;
                Ok(Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Body::Empty)
                    .expect("a static answer is a valid response"))
            }
            WebhooksRoute::SendTest => {
                let event = webhooks.test(account, routed.param("id")).await?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    &TestEventSent {
                        event_id: event.id,
                        event_type: event.event_type,
                    },
                ))
            }
            WebhooksRoute::ListDeliveries => {
                let page: PageParams = query(request)?;
                let limit =
                    page_limit("limit", page.limit.as_deref()).map_err(WebhookError::from)?;
                let after = page
                    .cursor
                    .as_deref()
                    .map(DeliveryPosition::from_cursor)
                    .transpose()
                    .map_err(WebhookError::from)?;
                let found = webhooks
                    .deliveries(account, routed.param("id"), after.as_ref(), limit)
                    .await?;
                Ok(json_response(StatusCode::OK, &DeliveryListing::from(found)))
            }
            WebhooksRoute::RetryDelivery => {
                let delivery = webhooks
                    .retry(account, routed.param("id"), routed.param("deliveryId"))
                    .await?;
                Ok(json_response(
                    StatusCode::ACCEPTED,
                    &DeliveryView::from(&delivery),
                ))
            }
        }
    }
}

#[async_trait]
impl RouteHandler for WebhooksFunction {
    type Route = WebhooksRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: WebhooksRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let account = self.auth.token_account(request)?;
        let work = self.serve(request, route, routed, &account);
        guarded(&self.idempotency, &account, request, routed, work).await
    }
}
