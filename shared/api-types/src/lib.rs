//! The wire shapes of the platform's API families, kept apart from the
//! domain: request bodies and query parameters as they arrive, their
//! validation into the domain's commands, and the views each answer shows.
//! One module per family: `biolite` (devices, codes, batches and `POST
//! /auth`, camelCase), `licensing` (AminoTV v4, the vendor API and the
//! subscription API) and `solaris` (activation challenges, snake_case).
#![forbid(unsafe_code)]

pub mod biolite;
pub mod licensing;
pub mod solaris;

use domain::field::FieldError;
use serde::Deserialize;

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
