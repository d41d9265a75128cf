//! Every route the platform serves and the function that serves it. The
//! functions route with it, the local API dispatches with it, and a test
//! holds `template.yaml` to it.

use http::Method;

use crate::error::ErrorStyle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Auth,
    Codes,
    Batch,
    Licenses,
    ActivationChallenges,
    Mpesa,
    Webhooks,
}

impl Function {
    /// The binary of the function; without its dashes, the `template.yaml`
    /// logical-id stem (`activation-challenges` is `ActivationChallengesFunction`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Auth => "auth",
            Function::Codes => "codes",
            Function::Batch => "batch",
            Function::Licenses => "licenses",
            Function::ActivationChallenges => "activation-challenges",
            Function::Mpesa => "mpesa",
            Function::Webhooks => "webhooks",
        }
    }
}

/// Every route, by function: each function matches its own enum
/// exhaustively, so a route the table gains and a function forgets fails
/// to compile instead of answering 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Auth(AuthRoute),
    Codes(CodesRoute),
    Batch(BatchRoute),
    Licenses(LicensesRoute),
    ActivationChallenges(ChallengeRoute),
    Mpesa(MpesaRoute),
    Webhooks(WebhooksRoute),
}

impl RouteId {
    pub const fn function(self) -> Function {
        match self {
            RouteId::Auth(_) => Function::Auth,
            RouteId::Codes(_) => Function::Codes,
            RouteId::Batch(_) => Function::Batch,
            RouteId::Licenses(_) => Function::Licenses,
            RouteId::ActivationChallenges(_) => Function::ActivationChallenges,
            RouteId::Mpesa(_) => Function::Mpesa,
            RouteId::Webhooks(_) => Function::Webhooks,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRoute {
    Exchange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodesRoute {
    RegisterDevice,
    ListDevices,
    GetDevice,
    SetCredit,
    SetPlan,
    GetPlan,
    Ledger,
    IssueCode,
    ListCodes,
    Pay,
    ListPayments,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchRoute {
    Submit,
    List,
    Get,
}

/// The licensing function serves three API families; two vendor routes are
/// called by license holders, who have a license key and no credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicensesRoute {
    V4(V4Route),
    Vendor(VendorRoute),
    Holder(HolderRoute),
    Subscription(SubscriptionRoute),
}

/// AminoTV license management v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V4Route {
    ListLicenses,
    CreateLicense,
    GetLicense,
    DeleteLicense,
    BatchCreateLicenses,
    BatchDeleteLicenses,
    ListUserLicenses,
    ListProducts,
    CreateProduct,
    GetProduct,
    UpdateProduct,
    DeleteProduct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorRoute {
    GetProductLicenses,
    GetLicense,
    GetTokenValidity,
    CreateDiscount,
}

/// The vendor API's routes for license holders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderRoute {
    GetPublicLicense,
    CreateToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionRoute {
    QueryLicenses,
    CreateLicense,
    Deploy,
    IssueNonce,
    Activate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeRoute {
    Create,
    List,
    Get,
    Delete,
    Verify,
    CreateDeliveryEvent,
    ListDeliveryEvents,
    GetDeliveryEvent,
}

/// Safaricom Daraja's C2B callbacks, authenticated by the token in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpesaRoute {
    Validation,
    Confirmation,
}

/// Webhook endpoints and their deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhooksRoute {
    Create,
    List,
    Get,
    Update,
    Delete,
    SendTest,
    ListDeliveries,
    RetryDelivery,
}

/// A function's own route enum, taken out of a `RouteId`.
pub trait FunctionRoute: Copy + Send + Sync + 'static {
    fn from_id(id: RouteId) -> Option<Self>;
}

macro_rules! function_route {
    ($($variant:ident => $route:ty),* $(,)?) => {
        $(impl FunctionRoute for $route {
            fn from_id(id: RouteId) -> Option<Self> {
                match id {
                    RouteId::$variant(route) => Some(route),
                    _ => None,
                }
            }
        })*
    };
}

function_route! {
    Auth => AuthRoute,
    Codes => CodesRoute,
    Batch => BatchRoute,
    Licenses => LicensesRoute,
    ActivationChallenges => ChallengeRoute,
    Mpesa => MpesaRoute,
    Webhooks => WebhooksRoute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// API Gateway's form: `{name}` marks a path parameter.
    pub path: &'static str,
    /// Creates something, so it honours `Idempotency-Key`.
    pub creates: bool,
}

impl Route {
    pub const fn function(&self) -> Function {
        self.id.function()
    }
}

const fn route(method: &'static str, path: &'static str, id: RouteId) -> Route {
    Route {
        id,
        method,
        path,
        creates: false,
    }
}

/// A route that creates something.
const fn creating(method: &'static str, path: &'static str, id: RouteId) -> Route {
    Route {
        creates: true,
        ..route(method, path, id)
    }
}

pub const ROUTES: &[Route] = &[
    route("POST", "/auth", RouteId::Auth(AuthRoute::Exchange)),
    creating(
        "POST",
        "/devices",
        RouteId::Codes(CodesRoute::RegisterDevice),
    ),
    route("GET", "/devices", RouteId::Codes(CodesRoute::ListDevices)),
    route(
        "GET",
        "/devices/{serialNum}",
        RouteId::Codes(CodesRoute::GetDevice),
    ),
    creating(
        "PUT",
        "/devices/{serialNum}/credit",
        RouteId::Codes(CodesRoute::SetCredit),
    ),
    route(
        "PUT",
        "/devices/{serialNum}/plan",
        RouteId::Codes(CodesRoute::SetPlan),
    ),
    route(
        "GET",
        "/devices/{serialNum}/plan",
        RouteId::Codes(CodesRoute::GetPlan),
    ),
    route(
        "GET",
        "/devices/{serialNum}/ledger",
        RouteId::Codes(CodesRoute::Ledger),
    ),
    creating("POST", "/codes", RouteId::Codes(CodesRoute::IssueCode)),
    route("GET", "/codes", RouteId::Codes(CodesRoute::ListCodes)),
    creating("POST", "/payments", RouteId::Codes(CodesRoute::Pay)),
    route("GET", "/payments", RouteId::Codes(CodesRoute::ListPayments)),
    // Daraja repeats confirmations; `TransID` makes them exactly-once, so
    // these take no Idempotency-Key.
    route(
        "POST",
        "/payments/mpesa/{callbackToken}/validation",
        RouteId::Mpesa(MpesaRoute::Validation),
    ),
    route(
        "POST",
        "/payments/mpesa/{callbackToken}/confirmation",
        RouteId::Mpesa(MpesaRoute::Confirmation),
    ),
    creating(
        "POST",
        "/webhooks",
        RouteId::Webhooks(WebhooksRoute::Create),
    ),
    route("GET", "/webhooks", RouteId::Webhooks(WebhooksRoute::List)),
    route(
        "GET",
        "/webhooks/{id}",
        RouteId::Webhooks(WebhooksRoute::Get),
    ),
    route(
        "PATCH",
        "/webhooks/{id}",
        RouteId::Webhooks(WebhooksRoute::Update),
    ),
    route(
        "DELETE",
        "/webhooks/{id}",
        RouteId::Webhooks(WebhooksRoute::Delete),
    ),
    route(
        "POST",
        "/webhooks/{id}/test",
        RouteId::Webhooks(WebhooksRoute::SendTest),
    ),
    route(
        "GET",
        "/webhooks/{id}/deliveries",
        RouteId::Webhooks(WebhooksRoute::ListDeliveries),
    ),
    route(
        "POST",
        "/webhooks/{id}/deliveries/{deliveryId}/retry",
        RouteId::Webhooks(WebhooksRoute::RetryDelivery),
    ),
    creating("POST", "/batch", RouteId::Batch(BatchRoute::Submit)),
    route("GET", "/batch", RouteId::Batch(BatchRoute::List)),
    route("GET", "/batch/{id}", RouteId::Batch(BatchRoute::Get)),
    // AminoTV license management v4.
    route(
        "GET",
        "/api/license/management/v4/licenses",
        RouteId::Licenses(LicensesRoute::V4(V4Route::ListLicenses)),
    ),
    creating(
        "POST",
        "/api/license/management/v4/licenses",
        RouteId::Licenses(LicensesRoute::V4(V4Route::CreateLicense)),
    ),
    route(
        "GET",
        "/api/license/management/v4/licenses/{license_id}",
        RouteId::Licenses(LicensesRoute::V4(V4Route::GetLicense)),
    ),
    route(
        "DELETE",
        "/api/license/management/v4/licenses/{license_id}",
        RouteId::Licenses(LicensesRoute::V4(V4Route::DeleteLicense)),
    ),
    creating(
        "POST",
        "/api/license/management/v4/licenses/batch_create",
        RouteId::Licenses(LicensesRoute::V4(V4Route::BatchCreateLicenses)),
    ),
    route(
        "POST",
        "/api/license/management/v4/licenses/batch_delete",
        RouteId::Licenses(LicensesRoute::V4(V4Route::BatchDeleteLicenses)),
    ),
    route(
        "GET",
        "/api/license/management/v4/users/{user_id}/licenses",
        RouteId::Licenses(LicensesRoute::V4(V4Route::ListUserLicenses)),
    ),
    route(
        "GET",
        "/api/license/management/v4/products",
        RouteId::Licenses(LicensesRoute::V4(V4Route::ListProducts)),
    ),
    creating(
        "POST",
        "/api/license/management/v4/products",
        RouteId::Licenses(LicensesRoute::V4(V4Route::CreateProduct)),
    ),
    route(
        "GET",
        "/api/license/management/v4/products/{product_id}",
        RouteId::Licenses(LicensesRoute::V4(V4Route::GetProduct)),
    ),
    route(
        "PATCH",
        "/api/license/management/v4/products/{product_id}",
        RouteId::Licenses(LicensesRoute::V4(V4Route::UpdateProduct)),
    ),
    route(
        "DELETE",
        "/api/license/management/v4/products/{product_id}",
        RouteId::Licenses(LicensesRoute::V4(V4Route::DeleteProduct)),
    ),
    // The vendor API.
    route(
        "GET",
        "/API/Public/v1/Accounts/r1/GetProductLicenses",
        RouteId::Licenses(LicensesRoute::Vendor(VendorRoute::GetProductLicenses)),
    ),
    route(
        "GET",
        "/API/Public/v1/Licenses/r1/GetPublic",
        RouteId::Licenses(LicensesRoute::Holder(HolderRoute::GetPublicLicense)),
    ),
    route(
        "GET",
        "/API/Public/v1/Licenses/r1/Get",
        RouteId::Licenses(LicensesRoute::Vendor(VendorRoute::GetLicense)),
    ),
    route(
        "POST",
        "/API/Public/v1/Authentication/r1/CreateToken",
        RouteId::Licenses(LicensesRoute::Holder(HolderRoute::CreateToken)),
    ),
    route(
        "GET",
        "/API/Public/v1/Authentication/r1/GetTokenValidity",
        RouteId::Licenses(LicensesRoute::Vendor(VendorRoute::GetTokenValidity)),
    ),
    creating(
        "POST",
        "/API/Public/v1/Discounts/r1/Create",
        RouteId::Licenses(LicensesRoute::Vendor(VendorRoute::CreateDiscount)),
    ),
    // The subscription API.
    route(
        "POST",
        "/query/license",
        RouteId::Licenses(LicensesRoute::Subscription(
            SubscriptionRoute::QueryLicenses,
        )),
    ),
    creating(
        "POST",
        "/create",
        RouteId::Licenses(LicensesRoute::Subscription(
            SubscriptionRoute::CreateLicense,
        )),
    ),
    route(
        "POST",
        "/deploy/{id}",
        RouteId::Licenses(LicensesRoute::Subscription(SubscriptionRoute::Deploy)),
    ),
    route(
        "POST",
        "/activation/nonce",
        RouteId::Licenses(LicensesRoute::Subscription(SubscriptionRoute::IssueNonce)),
    ),
    route(
        "POST",
        "/activation/activate",
        RouteId::Licenses(LicensesRoute::Subscription(SubscriptionRoute::Activate)),
    ),
    // Solaris activation challenges.
    creating(
        "POST",
        "/v1/mfa/challenges/activation",
        RouteId::ActivationChallenges(ChallengeRoute::Create),
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation",
        RouteId::ActivationChallenges(ChallengeRoute::List),
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}",
        RouteId::ActivationChallenges(ChallengeRoute::Get),
    ),
    route(
        "DELETE",
        "/v1/mfa/challenges/activation/{id}",
        RouteId::ActivationChallenges(ChallengeRoute::Delete),
    ),
    route(
        "POST",
        "/v1/mfa/challenges/activation/{id}/verify",
        RouteId::ActivationChallenges(ChallengeRoute::Verify),
    ),
    creating(
        "POST",
        "/v1/mfa/challenges/activation/{id}/delivery_events",
        RouteId::ActivationChallenges(ChallengeRoute::CreateDeliveryEvent),
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}/delivery_events",
        RouteId::ActivationChallenges(ChallengeRoute::ListDeliveryEvents),
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}/delivery_events/{event_id}",
        RouteId::ActivationChallenges(ChallengeRoute::GetDeliveryEvent),
    ),
];

/// Which error shape a path's API family answers with.
pub fn error_style(path: &str) -> ErrorStyle {
    const SUBSCRIPTION: &[&str] = &["/query/", "/create", "/deploy/", "/activation/"];
    if path.starts_with("/API/Public/") {
        ErrorStyle::Vendor
    } else if SUBSCRIPTION.iter().any(|p| path.starts_with(p)) {
        ErrorStyle::Subscription
    } else {
        ErrorStyle::Platform
    }
}

/// The paths whose segments hold a secret: Daraja's callback URLs carry
/// the account's callback token, which no log line may show.
const SECRET_PATH_PREFIX: &str = "/payments/mpesa/";

/// The path as log lines show it: under `SECRET_PATH_PREFIX`, the route's
/// pattern (or the prefix alone), never the token.
pub fn loggable_path(path: &str) -> &str {
    if !path.starts_with(SECRET_PATH_PREFIX) {
        return path;
    }
    ROUTES
        .iter()
        .find(|route| {
            route.path.starts_with(SECRET_PATH_PREFIX) && match_path(route.path, path).is_some()
        })
        .map_or("/payments/mpesa/{callbackToken}", |route| route.path)
}

/// The outcome of matching a request against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        route: Route,
        /// Path parameters in pattern order, percent-decoded.
        params: Vec<(&'static str, String)>,
    },
    /// The path exists with other methods (a 405).
    WrongMethod,
    NotFound,
}

/// The path of a route, from the table: answers that point at another
/// route (a `Location`, a status URL) build it from here, so each path
/// literal stands once.
pub fn path_of(id: RouteId) -> &'static str {
    ROUTES
        .iter()
        .find(|route| route.id == id)
        .map(|route| route.path)
        .expect("every route id is in the table")
}

pub fn match_route(method: &Method, path: &str) -> RouteMatch {
    let mut path_matched = false;
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method.as_str() {
                return RouteMatch::Found {
                    route: *route,
                    params,
                };
            }
            path_matched = true;
        }
    }
    if path_matched {
        RouteMatch::WrongMethod
    } else {
        RouteMatch::NotFound
    }
}

fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    let mut params = Vec::new();
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(params),
            (Some(expected), Some(actual)) => {
                if let Some(name) = expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if actual.is_empty() {
                        return None;
                    }
                    params.push((name, percent_decode(actual)?));
                } else if expected != actual {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_its_own_id_and_path() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!(
                    a.id, b.id,
                    "{} {} and {} {}",
                    a.method, a.path, b.method, b.path
                );
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn matches_methods_paths_and_parameters() {
        let found = match_route(&Method::GET, "/devices/SN%2D1");
        assert_eq!(
            found,
            RouteMatch::Found {
                route: ROUTES[3],
                params: vec![("serialNum", "SN-1".into())]
            }
        );
        assert!(matches!(
            match_route(&Method::POST, "/codes/"),
            RouteMatch::Found { .. }
        ));
        assert_eq!(
            match_route(&Method::DELETE, "/codes"),
            RouteMatch::WrongMethod
        );
        assert_eq!(
            match_route(&Method::GET, "/devices/"),
            RouteMatch::Found {
                route: ROUTES[2],
                params: vec![]
            }
        );
        assert_eq!(match_route(&Method::GET, "/nope"), RouteMatch::NotFound);
        assert_eq!(
            match_route(&Method::GET, "/devices/a/b"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route(&Method::GET, "/devices/%zz"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn callback_tokens_never_reach_a_logged_path() {
        assert_eq!(
            loggable_path("/payments/mpesa/mpc_1a2b_secret/confirmation"),
            "/payments/mpesa/{callbackToken}/confirmation"
        );
        assert_eq!(
            loggable_path("/payments/mpesa/mpc_1a2b_secret/elsewhere/x"),
            "/payments/mpesa/{callbackToken}"
        );
        assert_eq!(loggable_path("/devices/SN-1"), "/devices/SN-1");
    }
}
