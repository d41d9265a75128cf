//! The licenses function: AminoTV license management v4
//! (`/api/license/management/v4/...`), the vendor API (`/API/Public/v1/...`)
//! and the subscription API (`/query/license`, `/create`, `/deploy/{id}`,
//! `/activation/...`), all on one licensing model (`docs/licenses.md`).

use api_types::licensing::*;
use api_types::PageParams;
use async_trait::async_trait;
use domain::auth::{AccessTokenVerifier, P256SigningKey};
use domain::clients::AccountId;
use domain::idempotency::Idempotency;
use domain::ids::{LicenseId, ProductId};
use domain::licensing::deploy::CertificateDeployer;
use domain::licensing::{LicenseError, LicenseQuery};
use domain::LicenseService;
use http::StatusCode;
use http_api::idempotency::guarded;
use http_api::{
    json_body, json_response, query, ApiError, Authenticator, HolderRoute, LicensesRoute,
    RouteHandler, Routed, SubscriptionRoute, V4Route, VendorRoute,
};
use lambda_http::{Body, Request, Response};
use runtime_support::Platform;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// The product a path names; an id of the wrong form names none (a 404).
fn product_id(routed: &Routed) -> Result<ProductId, LicenseError> {
    ProductId::parse(routed.param("product_id")).ok_or(LicenseError::ProductNotFound)
}

/// The license the path parameter `name` names; an id of the wrong form
/// names none (a 404).
fn license_id(routed: &Routed, name: &str) -> Result<LicenseId, LicenseError> {
    LicenseId::parse(routed.param(name)).ok_or(LicenseError::LicenseNotFound)
}

pub struct LicensesFunction {
    licenses: LicenseService,
    auth: Authenticator,
    idempotency: Arc<Idempotency>,
}

fn vendor<T: Serialize>(response: T) -> Response<Body> {
    json_response(StatusCode::OK, &Envelope::new(response))
}

fn created<T: Serialize>(body: &T, location: String) -> Response<Body> {
    let mut response = json_response(StatusCode::CREATED, body);
    if let Ok(value) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("a bare status is a valid response")
}

/// A form body (`application/x-www-form-urlencoded`, the vendor document's
/// "Form Data"), or JSON when the request says so.
fn form_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded")
        .to_ascii_lowercase();
    let bytes = request.body().as_ref();
    if content_type.starts_with("application/json") {
        json_body(request)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(bytes).map_err(|e| ApiError::MalformedBody(e.to_string()))
    } else {
        Err(ApiError::UnsupportedMediaType(
            "application/x-www-form-urlencoded or application/json",
        ))
    }
}

impl LicensesFunction {
    /// The function as its `main.rs` and the local API build it. Only this
    /// function holds the key that signs license certificates.
    pub fn build(
        platform: &Platform,
        verifier: AccessTokenVerifier,
        certificate_key: P256SigningKey,
    ) -> Self {
        let clock = platform.clock.clone();
        let stores = &platform.stores;
        LicensesFunction {
            licenses: LicenseService::new(
                stores.licenses(),
                Arc::new(CertificateDeployer::new(certificate_key)),
                clock.clone(),
            ),
            auth: Authenticator::new(verifier, clock.clone()).with_api_keys(stores.api_keys()),
            idempotency: platform.idempotency(),
        }
    }

    /// The two vendor routes a license holder, who has only a key, calls.
    async fn holder_route(
        &self,
        request: &Request,
        route: HolderRoute,
    ) -> Result<Response<Body>, ApiError> {
        match route {
            HolderRoute::GetPublicLicense => {
                let params: VendorParams = query(request)?;
                let key = required("key", &params.key)?;
                Ok(vendor(PublicLicenseInfo::from(
                    self.licenses.public_info(key).await?,
                )))
            }
            HolderRoute::CreateToken => {
                let form: CreateTokenForm = form_body(request)?;
                let key = required("licenseKey", &form.license_key)?;
                Ok(vendor(LoginTokenView::from(
                    &self.licenses.issue_login_token(key).await?,
                )))
            }
        }
    }

    async fn amino(
        &self,
        request: &Request,
        route: V4Route,
        routed: &Routed,
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        let now = self.licenses.now();
        match route {
            V4Route::ListLicenses => {
                let params: ListLicensesParams = query(request)?;
                let query = params.into_query(account, now)?;
                let page = self.licenses.list_licenses(&query).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &ItemsPage::licenses(&page, now),
                ))
            }
            V4Route::ListUserLicenses => {
                let params: ListLicensesParams = query(request)?;
                if params.user_id.is_some() {
                    return Err(LicenseError::invalid("user_id", "is already in the path").into());
                }
                let mut query: LicenseQuery = params.into_query(account, now)?;
                query.holder = Some(routed.param("user_id").to_owned());
                let page = self.licenses.list_licenses(&query).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &ItemsPage::licenses(&page, now),
                ))
            }
            V4Route::CreateLicense => {
                let body: CreateLicenseBody = json_body(request)?;
                let license = self
                    .licenses
                    .create_license(account, body.validate("")?)
                    .await?;
                // As of its making: `now` was read before the store was,
                // and a license valid from its creation is not pending.
                Ok(created(
                    &LicenseView::new(&license, license.created_at.max(now)),
                    format!("{}/{}", routed.route.path, license.id),
                ))
            }
            V4Route::GetLicense => {
                let license = self
                    .licenses
                    .license(account, &license_id(routed, "license_id")?)
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &LicenseView::new(&license, now),
                ))
            }
            V4Route::DeleteLicense => {
                self.licenses
                    .delete_license(account, &license_id(routed, "license_id")?)
                    .await?;
                Ok(no_content())
            }
            V4Route::BatchCreateLicenses => {
                let body: BatchCreateBody = json_body(request)?;
                let results = self.licenses.batch_create(account, body.validate()?).await;
                let outcomes = results
                    .into_iter()
                    .enumerate()
                    .map(|(index, result)| match result {
                        Ok(license) => BatchItemOutcome {
                            index,
                            status: "created",
                            license_id: Some(license.id.to_string()),
                            license: Some(LicenseView::new(&license, license.created_at.max(now))),
                            error: None,
                            message: None,
                        },
                        Err(e) => failed_item(index, None, e),
                    })
                    .collect();
                Ok(json_response(StatusCode::OK, &BatchOutcome::new(outcomes)))
            }
            V4Route::BatchDeleteLicenses => {
                let body: BatchDeleteBody = json_body(request)?;
                let ids = body.validate()?;
                let results = self.licenses.batch_delete(account, &ids).await;
                let outcomes = results
                    .into_iter()
                    .zip(ids)
                    .enumerate()
                    .map(|(index, (result, id))| match result {
                        Ok(()) => BatchItemOutcome {
                            index,
                            status: "deleted",
                            license_id: Some(id.to_string()),
                            license: None,
                            error: None,
                            message: None,
                        },
                        Err(e) => failed_item(index, Some(id.to_string()), e),
                    })
                    .collect();
                Ok(json_response(StatusCode::OK, &BatchOutcome::new(outcomes)))
            }
            V4Route::ListProducts => {
                let params: PageParams = query(request)?;
                let page = self
                    .licenses
                    .list_products(account, params.limit.as_deref(), params.cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &ItemsPage::products(&page)))
            }
            V4Route::CreateProduct => {
                let body: CreateProductBody = json_body(request)?;
                let product = self
                    .licenses
                    .create_product(account, body.validate()?)
                    .await?;
                Ok(created(
                    &ProductView::from(&product),
                    format!("{}/{}", routed.route.path, product.id),
                ))
            }
            V4Route::GetProduct => {
                let product = self.licenses.product(account, &product_id(routed)?).await?;
                Ok(json_response(StatusCode::OK, &ProductView::from(&product)))
            }
            V4Route::UpdateProduct => {
                let body: UpdateProductBody = json_body(request)?;
                let changes = body.validate()?;
                let product = self
                    .licenses
                    .update_product(account, &product_id(routed)?, changes)
                    .await?;
                Ok(json_response(StatusCode::OK, &ProductView::from(&product)))
            }
            V4Route::DeleteProduct => {
                let params: DeleteProductParams = query(request)?;
                let force = params.force()?;
                self.licenses
                    .delete_product(account, &product_id(routed)?, force)
                    .await?;
                Ok(no_content())
            }
        }
    }

    async fn vendor_api(
        &self,
        request: &Request,
        route: VendorRoute,
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        let now = self.licenses.now();
        match route {
            VendorRoute::GetProductLicenses => {
                let params: VendorParams = query(request)?;
                let product =
                    product_ref(params.product_id.as_deref(), params.product_sku.as_deref())?;
                let page = self
                    .licenses
                    .product_licenses(account, &product, params.cursor.as_deref())
                    .await?;
                Ok(vendor(ProductLicenses::new(&page, now)))
            }
            VendorRoute::GetLicense => {
                let params: VendorParams = query(request)?;
                let key = required("key", &params.key)?;
                let (license, product) = self.licenses.license_by_key(account, key).await?;
                Ok(vendor(LicenseResponse {
                    license: VendorLicenseDetail::new(&license, &product, now),
                }))
            }
            VendorRoute::GetTokenValidity => {
                let params: VendorParams = query(request)?;
                let token = required("token", &params.token)?;
                let identity = self.licenses.redeem_login_token(account, token).await?;
                Ok(vendor(TokenValidity {
                    authenticated_identity: AuthenticatedIdentity::from(identity),
                }))
            }
            VendorRoute::CreateDiscount => {
                let form: DiscountForm = form_body(request)?;
                let discount = self
                    .licenses
                    .create_discount(account, form.validate()?)
                    .await?;
                Ok(vendor(DiscountCreated {
                    code: discount.code,
                }))
            }
        }
    }

    async fn subscription_api(
        &self,
        request: &Request,
        route: SubscriptionRoute,
        routed: &Routed,
        account: &AccountId,
    ) -> Result<Response<Body>, ApiError> {
        match route {
            SubscriptionRoute::QueryLicenses => {
                let body: QueryBody = json_body(request)?;
                let (query, after) = body.validate(account, self.licenses.now())?;
                let (records, count, limit) =
                    self.licenses.query(account, query, after.as_ref()).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &QueryResult::new(&records, count, limit),
                ))
            }
            SubscriptionRoute::CreateLicense => {
                let body: SubscriptionLicenseBody = json_body(request)?;
                let license = self
                    .licenses
                    .create_subscription(account, body.validate(self.licenses.now())?)
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &OkResponse::new(SubscriptionLicense::from(&license)),
                ))
            }
            SubscriptionRoute::Deploy => {
                let body: DeployBody = json_body(request)?;
                let id = license_id(routed, "id")?;
                let license = self.licenses.deploy(account, &id, &body.order()).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &OkResponse::new(SubscriptionLicense::from(&license)),
                ))
            }
            SubscriptionRoute::IssueNonce => {
                let body: NonceBody = json_body(request)?;
                let nonce = self.licenses.issue_nonce(account, &body.signer()?).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &OkResponse::new(NonceView::from(&nonce)),
                ))
            }
            SubscriptionRoute::Activate => {
                let body: ActivateBody = json_body(request)?;
                let license = self.licenses.activate(account, &body.validate()?).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &Activation::new(&license, self.licenses.now()),
                ))
            }
        }
    }
}

fn failed_item(index: usize, license_id: Option<String>, error: LicenseError) -> BatchItemOutcome {
    let api_error = ApiError::from(error);
    BatchItemOutcome {
        index,
        status: "failed",
        license: None,
        license_id,
        error: Some(api_error.code().to_owned()),
        message: Some(api_error.public_message()),
    }
}

#[async_trait]
impl RouteHandler for LicensesFunction {
    type Route = LicensesRoute;

    async fn dispatch(
        &self,
        request: &Request,
        route: LicensesRoute,
        routed: &Routed,
    ) -> Result<Response<Body>, ApiError> {
        if let LicensesRoute::Holder(route) = route {
            return self.holder_route(request, route).await;
        }
        let account = self.auth.account(request).await?;
        let work = async {
            match route {
                LicensesRoute::V4(route) => self.amino(request, route, routed, &account).await,
                LicensesRoute::Vendor(route) => self.vendor_api(request, route, &account).await,
                LicensesRoute::Subscription(route) => {
                    self.subscription_api(request, route, routed, &account)
                        .await
                }
                LicensesRoute::Holder(route) => self.holder_route(request, route).await,
            }
        };
        guarded(&self.idempotency, &account, request, routed, work).await
    }
}
