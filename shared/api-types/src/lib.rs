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

use serde::Deserialize;

/// `limit` and `cursor` of a listing, as they arrive (every family pages
/// this way but the subscription API and Solaris).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}
