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
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway's form: `{name}` marks a path parameter.
    pub path: &'static str,
    pub function: Function,
    /// Creates something, so it honours `Idempotency-Key`.
    pub creates: bool,
}

const fn route(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        method,
        path,
        function,
        creates: false,
    }
}

/// A route that creates something.
const fn creating(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        creates: true,
        ..route(method, path, function)
    }
}

pub const ROUTES: &[Route] = &[
    route("POST", "/auth", Function::Auth),
    creating("POST", "/devices", Function::Codes),
    route("GET", "/devices", Function::Codes),
    route("GET", "/devices/{serialNum}", Function::Codes),
    creating("POST", "/codes", Function::Codes),
    route("GET", "/codes", Function::Codes),
    creating("POST", "/batch", Function::Batch),
    route("GET", "/batch", Function::Batch),
    route("GET", "/batch/{id}", Function::Batch),
    // AminoTV license management v4.
    route(
        "GET",
        "/api/license/management/v4/licenses",
        Function::Licenses,
    ),
    creating(
        "POST",
        "/api/license/management/v4/licenses",
        Function::Licenses,
    ),
    route(
        "GET",
        "/api/license/management/v4/licenses/{license_id}",
        Function::Licenses,
    ),
    route(
        "DELETE",
        "/api/license/management/v4/licenses/{license_id}",
        Function::Licenses,
    ),
    creating(
        "POST",
        "/api/license/management/v4/licenses/batch_create",
        Function::Licenses,
    ),
    route(
        "POST",
        "/api/license/management/v4/licenses/batch_delete",
        Function::Licenses,
    ),
    route(
        "GET",
        "/api/license/management/v4/users/{user_id}/licenses",
        Function::Licenses,
    ),
    route(
        "GET",
        "/api/license/management/v4/products",
        Function::Licenses,
    ),
    creating(
        "POST",
        "/api/license/management/v4/products",
        Function::Licenses,
    ),
    route(
        "GET",
        "/api/license/management/v4/products/{product_id}",
        Function::Licenses,
    ),
    route(
        "PATCH",
        "/api/license/management/v4/products/{product_id}",
        Function::Licenses,
    ),
    route(
        "DELETE",
        "/api/license/management/v4/products/{product_id}",
        Function::Licenses,
    ),
    // The vendor API.
    route(
        "GET",
        "/API/Public/v1/Accounts/r1/GetProductLicenses",
        Function::Licenses,
    ),
    route(
        "GET",
        "/API/Public/v1/Licenses/r1/GetPublic",
        Function::Licenses,
    ),
    route("GET", "/API/Public/v1/Licenses/r1/Get", Function::Licenses),
    route(
        "POST",
        "/API/Public/v1/Authentication/r1/CreateToken",
        Function::Licenses,
    ),
    route(
        "GET",
        "/API/Public/v1/Authentication/r1/GetTokenValidity",
        Function::Licenses,
    ),
    creating(
        "POST",
        "/API/Public/v1/Discounts/r1/Create",
        Function::Licenses,
    ),
    // The subscription API.
    route("POST", "/query/license", Function::Licenses),
    creating("POST", "/create", Function::Licenses),
    route("POST", "/deploy/{id}", Function::Licenses),
    route("POST", "/activation/nonce", Function::Licenses),
    route("POST", "/activation/activate", Function::Licenses),
    // Solaris activation challenges.
    creating(
        "POST",
        "/v1/mfa/challenges/activation",
        Function::ActivationChallenges,
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation",
        Function::ActivationChallenges,
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}",
        Function::ActivationChallenges,
    ),
    route(
        "DELETE",
        "/v1/mfa/challenges/activation/{id}",
        Function::ActivationChallenges,
    ),
    route(
        "POST",
        "/v1/mfa/challenges/activation/{id}/verify",
        Function::ActivationChallenges,
    ),
    creating(
        "POST",
        "/v1/mfa/challenges/activation/{id}/delivery_events",
        Function::ActivationChallenges,
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}/delivery_events",
        Function::ActivationChallenges,
    ),
    route(
        "GET",
        "/v1/mfa/challenges/activation/{id}/delivery_events/{event_id}",
        Function::ActivationChallenges,
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
}
