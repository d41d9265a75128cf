//! `POST /batch`, `GET /batch`, `GET /batch/{id}` (also `?format=csv`).

use std::sync::Arc;

use api_types::biolite::batch::{
    batch_csv, BatchDetail, BatchDetailParams, BatchListing, BatchRequest, BatchView,
};
use api_types::PageParams;
use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::batches::{decode_batch_cursor, BatchError};
use domain::idempotency::IdempotencyKey;
use domain::ids::BatchId;
use domain::paging::page_limit;
use domain::rate_limits::RateLimiter;
use domain::{BatchService, ChunkQueue};
use http::StatusCode;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, BatchRoute, RouteHandler, RouteId,
    Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct BatchFunction {
    batches: BatchService,
    auth: Authenticator,
    submit_limit: RateLimiter,
}

impl BatchFunction {
    /// The function as its `main.rs` and the local API build it: it queues
    /// chunks on `queue` (SQS on AWS, the local worker's channel locally).
    pub fn build(
        platform: &Platform,
        verifier: AccessTokenVerifier,
        queue: Arc<dyn ChunkQueue>,
    ) -> Self {
        let clock = platform.clock.clone();
        let batches = platform.stores.batches();
        BatchFunction {
            batches: BatchService::new(batches, queue, platform.codes_service(), clock.clone()),
            auth: Authenticator::new(verifier, clock),
            submit_limit: platform.limiter("batch", platform.rate_limits.batch),
        }
    }
}

/// Where each batch's status is read: the route of `GET /batch/{id}`.
fn status_path() -> &'static str {
    http_api::routes::path_of(RouteId::Batch(BatchRoute::Get))
}

#[async_trait]
impl RouteHandler for BatchFunction {
    type Route = BatchRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: BatchRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let account = self.auth.token_account(request)?;
        match route {
            BatchRoute::Submit => {
                self.submit_limit.check(&account).await?;
                let body: BatchRequest = json_body(request)?;
                let key = request
                    .headers()
                    .get(http_api::idempotency::IDEMPOTENCY_KEY)
                    .map(|v| IdempotencyKey::parse(v.to_str().unwrap_or("\u{0}")))
                    .transpose()
                    .map_err(BatchError::from)?;
                let orders = body.into_orders()?;
                let batch = self
                    .batches
                    .create(&account, request.body().as_ref(), orders, key.as_ref())
                    .await?;
                let view = BatchView::new(&batch, status_path());
                let mut response = json_response(StatusCode::ACCEPTED, &view);
                if let Ok(location) = http::HeaderValue::from_str(&view.status_url) {
                    response
                        .headers_mut()
                        .insert(http::header::LOCATION, location);
                }
                Ok(response)
            }
            BatchRoute::List => {
                let page: PageParams = query(request)?;
                let limit = page_limit("limit", page.limit.as_deref()).map_err(BatchError::from)?;
                let after = page
                    .cursor
                    .as_deref()
                    .map(decode_batch_cursor)
                    .transpose()?;
                let found = self.batches.list(&account, limit, after.as_ref()).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &BatchListing::new(&found, status_path()),
                ))
            }
            BatchRoute::Get => {
                let params: BatchDetailParams = query(request)?;
                // An id of the wrong form names no batch: the same 404.
                let id = || BatchId::parse(routed.param("id")).ok_or(BatchError::NotFound);
                match params.format.as_deref() {
                    Some("csv") => {
                        let csv = batch_csv(&self.batches.all_items(&account, &id()?).await?);
                        Ok(Response::builder()
                            .status(StatusCode::OK)
                            .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
                            .body(Body::Text(csv))
                            .expect("status and header are valid"))
                    }
                    None | Some("json") => {
                        let page = self
                            .batches
                            .detail(
                                &account,
                                &id()?,
                                params.limit.as_deref(),
                                params.cursor.as_deref(),
                            )
                            .await?;
                        Ok(json_response(
                            StatusCode::OK,
                            &BatchDetail::new(&page, status_path()),
                        ))
                    }
                    Some(_) => Err(ApiError::MalformedQuery(
                        "format must be json or csv".into(),
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_batch_events_status_url_is_the_batch_route() {
        assert_eq!(super::status_path(), api_types::webhooks::BATCH_STATUS_PATH);
    }
}
