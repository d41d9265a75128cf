//! BioLite's code API (camelCase): devices, codes, batches and `POST /auth`.

pub mod auth;
pub mod batch;
pub mod codes;
pub mod devices;

use serde::Deserialize;

/// `limit` and `cursor` of a listing, as they arrive.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}
