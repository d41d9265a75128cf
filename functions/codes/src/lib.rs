//! Devices and codes: `POST/GET /devices`, `GET /devices/{serialNum}`,
//! `POST/GET /codes`.

use std::sync::Arc;
use std::time::Instant;

use domain::auth::AccessTokenVerifier;
use domain::clock::Clock;
use domain::codes::{CodeRequest, ListCodesParams};
use domain::devices::{DeviceView, NewDevice};
use domain::CodesService;
use http::StatusCode;
use http_api::{
    authorization, finish, json_body, json_response, query, record_client, request_span, route_for,
    ApiError, Function, Routed,
};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use tracing::Instrument;

pub struct CodesFunction {
    codes: CodesService,
    verifier: AccessTokenVerifier,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default, Deserialize)]
struct PageParams {
    limit: Option<String>,
    cursor: Option<String>,
}

impl CodesFunction {
    pub fn new(codes: CodesService, verifier: AccessTokenVerifier, clock: Arc<dyn Clock>) -> Self {
        CodesFunction {
            codes,
            verifier,
            clock,
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let span = request_span(&request);
        async {
            let outcome = match route_for(&request, Function::Codes) {
                Ok(routed) => self.dispatch(&request, &routed).await,
                Err(err) => Err(err),
            };
            finish(outcome, started)
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        request: &Request,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let client = self
            .verifier
            .verify(authorization(request), self.clock.now())?;
        record_client(&client);
        let codes = &self.codes;
        match (routed.route.method, routed.route.path) {
            ("POST", "/devices") => {
                let body: NewDevice = json_body(request)?;
                let device = codes.register_device(&client, body).await?;
                Ok(json_response(
                    StatusCode::CREATED,
                    &DeviceView::from(&device),
                ))
            }
            ("GET", "/devices") => {
                let page: PageParams = query(request)?;
                let listing = codes
                    .list_devices(&client, page.limit.as_deref(), page.cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &listing))
            }
            ("GET", "/devices/{serialNum}") => {
                let device = codes.device(&client, routed.param("serialNum")).await?;
                Ok(json_response(StatusCode::OK, &DeviceView::from(&device)))
            }
            ("POST", "/codes") => {
                let body: CodeRequest = json_body(request)?;
                let code = codes.issue_code(&client, &body).await?;
                Ok(json_response(StatusCode::CREATED, &code))
            }
            ("GET", "/codes") => {
                let params: ListCodesParams = query(request)?;
                let listing = codes.list_codes(&client, params).await?;
                Ok(json_response(StatusCode::OK, &listing))
            }
            _ => Err(ApiError::RouteNotFound),
        }
    }
}
