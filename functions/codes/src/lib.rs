//! Devices and codes: `POST/GET /devices`, `GET /devices/{serialNum}`,
//! `PUT /devices/{serialNum}/credit`, `POST/GET /codes`.

use std::sync::Arc;

use api_types::biolite::codes::{CodeListing, CodeRequest, CodeView, ListCodesParams};
use api_types::biolite::devices::{
    CreditChangeView, CreditTargetBody, DeviceListing, DeviceSelection, DeviceView,
    ListDevicesParams, NewDeviceBody,
};
use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::clients::AccountId;
use domain::idempotency::Idempotency;
use domain::{CodesError, CodesService};
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, CodesRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct CodesFunction {
    codes: Arc<CodesService>,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
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
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        let codes = &self.codes;
        match route {
            CodesRoute::RegisterDevice => {
                let body: NewDeviceBody = json_body(request)?;
                let device = codes
                    .register_device(account, body.into_command().map_err(CodesError::from)?)
                    .await?;
                Ok(json_response(
                    StatusCode::CREATED,
                    &DeviceView::from(&device),
                ))
            }
            CodesRoute::ListDevices => {
                let params: ListDevicesParams = query(request)?;
                let listing = match params.selection().map_err(CodesError::from)? {
                    DeviceSelection::All { limit, after } => {
                        let found = codes.list_devices(account, limit, after.as_ref()).await?;
                        DeviceListing::new(&found.items, found.next.as_ref())
                    }
                    DeviceSelection::Expiring {
                        before,
                        limit,
                        after,
                    } => {
                        let found = codes.list_expiring(account, before, limit, after).await?;
                        DeviceListing::expiring(&found)
                    }
                };
                Ok(json_response(StatusCode::OK, &listing))
            }
            CodesRoute::GetDevice => {
                let device = codes.device(account, routed.param("serialNum")).await?;
                Ok(json_response(StatusCode::OK, &DeviceView::from(&device)))
            }
            CodesRoute::SetCredit => {
                let body: CreditTargetBody = json_body(request)?;
                let target = body.target().map_err(CodesError::from)?;
                let change = codes
                    .set_credit(account, routed.param("serialNum"), target)
                    .await?;
                let status = if change.code.is_some() {
                    runtime_support::metrics::record(
                        runtime_support::metrics::Metric::CodesIssued,
                        1,
                    );
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(json_response(status, &CreditChangeView::from(&change)))
            }
            CodesRoute::IssueCode => {
                let body: CodeRequest = json_body(request)?;
                let code = codes.issue(account, &body.validate()?).await?;
                runtime_support::metrics::record(runtime_support::metrics::Metric::CodesIssued, 1);
                Ok(json_response(StatusCode::CREATED, &CodeView::from(&code)))
            }
            CodesRoute::ListCodes => {
                let params: ListCodesParams = query(request)?;
                let found = codes.list_codes(&params.into_query(account)?).await?;
                Ok(json_response(StatusCode::OK, &CodeListing::from(found)))
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
        let account = self.auth.token_account(request)?;
        let work = self.serve(request, route, routed, &account);
        guarded(&self.idempotency, &account, request, routed, work).await
    }
}
