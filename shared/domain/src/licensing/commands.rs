//! What the licensing service is asked to do, validated: each API family's
//! bodies (in `api-types`) become these before the rules see them.

use super::model::*;
use crate::clock::Timestamp;
use crate::licensing::signatures::Signer;

/// A product to create, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub id: Option<ProductId>,
    pub name: String,
    pub sku: Option<String>,
    pub description: Option<String>,
    pub latest_version: Option<String>,
}

/// A product's editable fields; `None` leaves one as it is, and for the
/// optional ones `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub latest_version: Option<Option<String>>,
}

/// A license to create, validated except for what needs the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLicense {
    pub id: Option<LicenseId>,
    /// `None` only from the subscription API, whose license without
    /// `software` gets a product made for it.
    pub product_id: Option<ProductId>,
    pub holder: Option<String>,
    /// Defaults to the product's name.
    pub name: Option<String>,
    pub order_id: Option<String>,
    /// Defaults to the time of creation.
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub status: LicenseStatus,
    pub listing: Listing,
    pub profile: Option<HolderProfile>,
}

/// A validated discount, before its product is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDiscount {
    pub product: ProductRef,
    pub value: DiscountValue,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    pub usage_limit: Option<u32>,
}

/// A product named by id or by SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductRef {
    Id(ProductId),
    Sku(String),
}

/// `POST /deploy/{id}` of the subscription API: the fields as given, checked
/// by the service against the license (so a missing license answers 404
/// before a missing field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployOrder {
    /// Must name the license in the path when given.
    pub id: Option<String>,
    pub owner: Option<String>,
    pub blockchain: Option<String>,
}

/// A signed activation of a deployed license, its fields present.
#[derive(Debug, Clone)]
pub struct ActivationRequest {
    pub signer: Signer,
    pub contract: String,
    pub token_id: String,
    pub nonce: String,
    pub sign: String,
}

/// A license key's public status: whether it exists, is valid now, and its
/// product's SKU and latest version. Nothing of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub key: String,
    pub exists: bool,
    pub is_valid: bool,
    pub product_sku: Option<String>,
    pub latest_version: Option<String>,
}

/// A freshly made one-time login token; the token is shown once. Its
/// `Debug` leaves the token out, so a log line cannot carry it.
#[derive(Clone)]
pub struct IssuedLoginToken {
    pub token: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for IssuedLoginToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedLoginToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Who redeemed a login token: the license holder and what is known of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderIdentity {
    pub holder: String,
    pub profile: Option<HolderProfile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_login_token_never_shows_in_debug_output() {
        let issued = IssuedLoginToken {
            token: "olt_secretpart".into(),
            expires_at: Timestamp::from_secs(600),
        };
        assert!(!format!("{issued:?}").contains("secretpart"));
    }
}
