//! Devices and codes: `POST/GET /devices`, `GET /devices/{serialNum}`,
//! `POST/GET /codes`.

use std::sync::Arc;

use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::clients::ClientKey;
use domain::codes::{CodeRequest, ListCodesParams};
use domain::devices::{DeviceView, NewDevice};
use domain::idempotency::Idempotency;
use domain::CodesService;
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, CodesRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;
use serde::Deserialize;

pub struct CodesFunction {
    codes: Arc<CodesService>,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
}

#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
}

impl CodesFunction {
    /// The function as its `main.rs` and the local API build it.
    pub fn build(platform: &Platform, verifier: AccessTokenVerifier) -> Self {
        CodesFunction {
            codes: platform.codes_service(),
            auth: Authenticator::new(verifier, platform.clock.clone()),
            idempotency: platform.idempotency(),
        }
    }

    async fn serve(
        &self,
        request: &Request,
        route: CodesRoute,
        routed: &Routed,
        client: &ClientKey,
    ) -> Result<Response<Body>, ApiError> {
        let codes = &self.codes;
        match route {
            CodesRoute::RegisterDevice => {
                let body: NewDevice = json_body(request)?;
                let device = codes.register_device(client, body).await?;
                Ok(json_response(
                    StatusCode::CREATED,
                    &DeviceView::from(&device),
                ))
            }
            CodesRoute::ListDevices => {
                let page: PageParams = query(request)?;
                let listing = codes
                    .list_devices(client, page.limit.as_deref(), page.cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &listing))
            }
            CodesRoute::GetDevice => {
                let device = codes.device(client, routed.param("serialNum")).await?;
                Ok(json_response(StatusCode::OK, &DeviceView::from(&device)))
            }
            CodesRoute::IssueCode => {
                let body: CodeRequest = json_body(request)?;
                let code = codes.issue_code(client, &body).await?;
                runtime_support::metrics::record(runtime_support::metrics::Metric::CodesIssued, 1);
                Ok(json_response(StatusCode::CREATED, &code))
            }
            CodesRoute::ListCodes => {
                let params: ListCodesParams = query(request)?;
                let listing = codes.list_codes(client, params).await?;
                Ok(json_response(StatusCode::OK, &listing))
            }
        }
    }
}

#[async_trait]
impl RouteHandler for CodesFunction {
    type Route = CodesRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: CodesRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let client = self.auth.client(request)?;
        let work = self.serve(request, route, routed, &client);
        guarded(&self.idempotency, &client, request, routed, work).await
    }
}
