//! The wire shapes of the platform's API families, kept apart from the
//! domain: request bodies and query parameters as they arrive, their
//! validation into the domain's commands, and the views each answer shows.
//! One module per family: `biolite` (devices, codes, batches and `POST
//! /auth`, camelCase), `licensing` (AminoTV v4, the vendor API and the
//! subscription API), `mpesa` (Safaricom Daraja's C2B callbacks),
//! `solaris` (activation challenges, snake_case) and `webhooks`.
#![forbid(unsafe_code)]

pub mod biolite;
pub mod licensing;
pub mod mpesa;
pub mod solaris;
pub mod webhooks;

use domain::clock::Timestamp;
use domain::field::FieldError;
use serde::Deserialize;

/// An RFC 3339 time a request gives in `field`.
pub(crate) fn time(field: &str, text: &str) -> Result<Timestamp, FieldError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")
    })
}

/// `time` for a field that may be left out, with what it means then.
pub(crate) fn time_or(
    field: &str,
    text: Option<&str>,
    default: Timestamp,
) -> Result<Timestamp, FieldError> {
    text.map_or(Ok(default), |text| time(field, text))
}

/// A `true`/`false` parameter as the documents spell it; `None` when absent.
pub(crate) fn flag(field: &str, value: Option<&str>) -> Result<Option<bool>, FieldError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FieldError::new(field, "must be true or false")),
    }
}

/// `limit` and `cursor` of a listing, as they arrive (every family pages
/// this way but the subscription API and Solaris).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}
