//! Bounds on what a client controls that every route shares, checked before
//! a handler runs: body size, query-string length, path-parameter length
//! and credential size. Field-level bounds (names, page sizes, batch sizes)
//! live with the domain types that parse them (`docs/security.md`).

use lambda_http::Request;

use crate::routes::{BatchRoute, RouteId};
use crate::{ApiError, Routed, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES};

/// The longest query string accepted. The longest real one, `GET /codes`
/// with every filter and a cursor, is under 600 bytes.
pub const MAX_QUERY_BYTES: usize = 2048;
/// The longest path parameter: ids, serial numbers and user ids are far
/// shorter.
pub const MAX_PATH_PARAMETER_BYTES: usize = 256;
/// The largest `Authorization` header: an access token is about 400 bytes,
/// an API key under 100.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// The body limit of a route: `POST /batch` takes up to 10,000 items. The
/// larger limit has always covered the path `/batch` on either method.
pub fn body_limit(routed: &Routed) -> usize {
    if matches!(
        routed.route.id,
        RouteId::Batch(BatchRoute::Submit | BatchRoute::List)
    ) {
        MAX_BATCH_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

pub fn check(request: &Request, routed: &Routed) -> Result<(), ApiError> {
    let limit = body_limit(routed);
    if request.body().len() > limit {
        return Err(ApiError::BodyTooLarge(limit));
    }
    if request.uri().query().map_or(0, str::len) > MAX_QUERY_BYTES {
        return Err(out_of_bounds(
            "query",
            format!("the query string is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    if let Some((name, _)) = routed
        .params
        .iter()
        .find(|(_, value)| value.len() > MAX_PATH_PARAMETER_BYTES)
    {
        return Err(out_of_bounds(
            name,
            format!("is longer than {MAX_PATH_PARAMETER_BYTES} bytes"),
        ));
    }
    let authorization = request.headers().get(http::header::AUTHORIZATION);
    if authorization.is_some_and(|v| v.len() > MAX_AUTHORIZATION_BYTES) {
        return Err(out_of_bounds(
            "Authorization",
            format!("is longer than {MAX_AUTHORIZATION_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn out_of_bounds(field: &'static str, reason: String) -> ApiError {
    ApiError::OutOfBounds { field, reason }
}
