//! BioLite's code API (camelCase): devices, codes, batches and `POST /auth`.

pub mod auth;
pub mod batch;
pub mod codes;
pub mod devices;
pub mod payments;
