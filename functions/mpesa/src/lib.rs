//! Safaricom Daraja's C2B callbacks: `POST
//! /payments/mpesa/{callbackToken}/validation` and `.../confirmation`.
//! Daraja sends no credentials, so the token in the path is the only
//! authentication; it names the account (`docs/payg.md`).

use std::sync::Arc;

use api_types::mpesa::{C2bCallback, C2bResult};
use async_trait::async_trait;
use domain::mpesa::Verdict;
use domain::{MpesaError, MpesaService};
use http::StatusCode;
use http_api::{
    json_body, json_response, record_account, ApiError, MpesaRoute, RouteHandler, Routed,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;

pub struct MpesaFunction {
    mpesa: Arc<MpesaService>,
}

impl MpesaFunction {
    /// The function as its `main.rs` and the local API build it.
    pub fn build(platform: &Platform) -> Self {
        MpesaFunction {
            mpesa: platform.mpesa_service(),
        }
    }
}

#[async_trait]
impl RouteHandler for MpesaFunction {
    type Route = MpesaRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: MpesaRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        let callback = self.mpesa.callback(routed.param("callbackToken")).await?;
        record_account(&callback.account);
        let body: C2bCallback = json_body(request)?;
        let answer = match route {
            MpesaRoute::Validation => {
                let verdict = match body.fields() {
                    Ok(fields) => self.mpesa.validate(&callback, &fields).await?,
                    Err(err) => Verdict::malformed(&err),
                };
                C2bResult::validation(&verdict)
            }
            MpesaRoute::Confirmation => {
                let fields = body.fields().map_err(MpesaError::from)?;
                let payment = self.mpesa.confirm(&callback, &fields).await?;
                tracing::info!(
                    reference = payment.reference.as_str(),
                    payment = %payment.id,
                    code = payment.code.is_some(),
                    "M-Pesa confirmation taken"
                );
                C2bResult::confirmed()
            }
        };
        Ok(json_response(StatusCode::OK, &answer))
    }
}
