//! Software licensing: products, licenses, their holders, discounts,
//! one-time login tokens and signed activations. Three public APIs share
//! this one model (`docs/licenses.md`): AminoTV's license management v4, the
//! vendor API and the subscription API. Each has its own request and
//! response shapes (`requests`, `views`); the rules live here and in
//! `service`.

pub mod commands;
pub mod deploy;
pub mod model;
pub mod port;
pub mod service;
pub mod signatures;

pub use commands::*;
pub use model::*;
pub use service::{LicenseService, LicensingConfig};

use crate::field::FieldError;
use crate::store::StoreError;

/// Why a licensing request failed. The HTTP mapping is in `http-api`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no product with this id")]
    ProductNotFound,
    #[error("a product with this id or SKU already exists")]
    ProductExists,
    #[error("{0} licenses still reference the product; delete them first or pass force=true")]
    ProductInUse(u64),
    #[error("the product is being deleted")]
    ProductRetired,
    #[error("no license with this id")]
    LicenseNotFound,
    #[error("no license with this key")]
    LicenseKeyNotFound,
    #[error("a license with this id already exists")]
    LicenseExists,
    #[error("the license is already deployed")]
    AlreadyDeployed,
    #[error("the license already has another owner")]
    OwnerMismatch,
    #[error("the license has no owner to deploy to; pass owner")]
    OwnerRequired,
    #[error("the license is not active")]
    LicenseNotActive,
    #[error("the nonce is unknown or was already used")]
    NonceNotFound,
    #[error("the nonce has expired; request a new one")]
    NonceExpired,
    #[error("the nonce was issued to another address")]
    NonceAddressMismatch,
    #[error("the signature does not verify for this address and nonce")]
    BadSignature,
    #[error("no deployed license has this contract and token id")]
    ContractNotFound,
    #[error("the address does not own the license")]
    NotOwner,
    #[error("the token is unknown, expired or already used")]
    LoginTokenInvalid,
    #[error("a discount with this code already exists")]
    DiscountExists,
    #[error(transparent)]
    Store(StoreError),
}

impl From<FieldError> for LicenseError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        LicenseError::InvalidField { field, reason }
    }
}

impl LicenseError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        LicenseError::InvalidField {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for LicenseError {
    fn from(err: StoreError) -> Self {
        LicenseError::Store(err)
    }
}
