//! Devices and codes: `POST/GET /devices`, `GET /devices/{serialNum}`,
//! `PUT /devices/{serialNum}/credit`, `PUT/GET /devices/{serialNum}/plan`,
//! `GET /devices/{serialNum}/ledger`,
//! `POST/GET /codes` and `POST/GET /payments`.

use std::sync::Arc;

use api_types::biolite::codes::{CodeListing, CodeRequest, CodeView, ListCodesParams};
use api_types::biolite::devices::{
    CreditChangeView, CreditTargetBody, DeviceListing, DeviceSelection, DeviceView,
    ListDevicesParams, NewDeviceBody,
};
use api_types::biolite::payments::{
    Ledger, ListPaymentsParams, PaymentBody, PaymentListing, PaymentOutcome, PlanBody, PlanView,
};
use api_types::PageParams;
use async_trait::async_trait;
use domain::auth::AccessTokenVerifier;
use domain::clients::AccountId;
use domain::idempotency::Idempotency;
use domain::paging::page_limit;
use domain::payments::LedgerPosition;
use domain::{CodesError, CodesService, PaymentsError, PaymentsService};
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, CodesRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct CodesFunction {
    codes: Arc<CodesService>,
    payments: Arc<PaymentsService>,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
}

impl CodesFunction {
    /// The function as its `main.rs` and the local API build it.
    pub fn build(platform: &Platform, verifier: AccessTokenVerifier) -> Self {
        CodesFunction {
            codes: platform.codes_service(),
            payments: platform.payments_service(),
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
            CodesRoute::SetPlan => {
                let body: PlanBody = json_body(request)?;
                let plan = body.into_plan().map_err(PaymentsError::from)?;
                let device = self
                    .payments
                    .set_plan(account, routed.param("serialNum"), plan)
                    .await?;
                Ok(json_response(StatusCode::OK, &PlanView::of(&device)))
            }
            CodesRoute::GetPlan => {
                let device = self
                    .payments
                    .plan(account, routed.param("serialNum"))
                    .await?;
                Ok(json_response(StatusCode::OK, &PlanView::of(&device)))
            }
            CodesRoute::Ledger => {
                let page: PageParams = query(request)?;
                let limit =
                    page_limit("limit", page.limit.as_deref()).map_err(PaymentsError::from)?;
                let after = page
                    .cursor
                    .as_deref()
                    .map(LedgerPosition::from_cursor)
                    .transpose()
                    .map_err(PaymentsError::from)?;
                let serial = routed.param("serialNum");
                let found = self.payments.ledger(account, serial, limit, after).await?;
                Ok(json_response(StatusCode::OK, &Ledger::new(serial, &found)))
            }
            CodesRoute::Pay => {
                let body: PaymentBody = json_body(request)?;
                let payment = self
                    .payments
                    .pay(account, &body.validate().map_err(PaymentsError::from)?)
                    .await?;
                Ok(json_response(
                    StatusCode::CREATED,
                    &PaymentOutcome::from(&payment),
                ))
            }
            CodesRoute::ListPayments => {
                let params: ListPaymentsParams = query(request)?;
                let query = params.into_query(account).map_err(PaymentsError::from)?;
                let found = self.payments.list_payments(&query).await?;
                Ok(json_response(StatusCode::OK, &PaymentListing::from(found)))
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
