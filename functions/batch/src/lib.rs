//! `POST /batch`, `GET /batch`, `GET /batch/{id}` (also `?format=csv`).

use std::sync::Arc;

use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::batches::{BatchRequest, BatchView};
use domain::rate_limits::RateLimiter;
use domain::{BatchService, ChunkQueue};
use http::StatusCode;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, BatchRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;
use serde::Deserialize;

pub struct BatchFunction {
    batches: BatchService,
    auth: Authenticator,
    submit_limit: RateLimiter,
}

#[derive(Debug, Default, Deserialize)]
struct DetailParams {
    limit: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
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
        let batches = platform.stores.batches.clone();
        BatchFunction {
            batches: BatchService::new(batches, queue, platform.codes_service(), clock.clone()),
            auth: Authenticator::new(verifier, clock),
            submit_limit: platform.limiter("batch", platform.rate_limits.batch),
        }
    }
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
        let client = self.auth.client(request)?;
        match route {
            BatchRoute::Submit => {
                self.submit_limit.check(&client).await?;
                let body: BatchRequest = json_body(request)?;
                let key = request
                    .headers()
                    .get("idempotency-key")
                    .map(|v| v.to_str().unwrap_or("\u{0}"));
                let batch = self
                    .batches
                    .create(&client, request.body().as_ref(), body, key)
                    .await?;
                let view = BatchView::from(&batch);
                let mut response = json_response(StatusCode::ACCEPTED, &view);
                if let Ok(location) = http::HeaderValue::from_str(&view.status_url) {
                    response
                        .headers_mut()
                        .insert(http::header::LOCATION, location);
                }
                Ok(response)
            }
            BatchRoute::List => {
                let page: DetailParams = query(request)?;
                let listing = self
                    .batches
                    .list(&client, page.limit.as_deref(), page.cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &listing))
            }
            BatchRoute::Get => {
                let params: DetailParams = query(request)?;
                let id = routed.param("id");
                match params.format.as_deref() {
                    Some("csv") => {
                        let csv = self.batches.csv(&client, id).await?;
                        Ok(Response::builder()
                            .status(StatusCode::OK)
                            .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
                            .body(Body::Text(csv))
                            .expect("status and header are valid"))
                    }
                    None | Some("json") => {
                        let detail = self
                            .batches
                            .detail(
                                &client,
                                id,
                                params.limit.as_deref(),
                                params.cursor.as_deref(),
                            )
                            .await?;
                        Ok(json_response(StatusCode::OK, &detail))
                    }
                    Some(_) => Err(ApiError::MalformedQuery(
                        "format must be json or csv".into(),
                    )),
                }
            }
        }
    }
}
