//! What each licensing API shows of the model, in its own field names.

use serde::Serialize;

use super::model::*;
use super::requests::{PERPETUAL, SUBSCRIPTION};
use crate::clock::Timestamp;

// ---- AminoTV license management v4 (snake_case, RFC 3339 times) ----

#[derive(Debug, Clone, Serialize)]
pub struct ProductView {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub latest_version: Option<String>,
    pub license_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        ProductView {
            id: p.id.clone(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            latest_version: p.latest_version.clone(),
            license_count: p.license_count,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LicenseView {
    pub id: String,
    pub product_id: String,
    pub user_id: Option<String>,
    pub key: String,
    pub name: String,
    pub order_id: Option<String>,
    pub valid_from: Timestamp,
    /// `null` for a permanent license.
    pub valid_until: Option<Timestamp>,
    pub is_permanent: bool,
    pub status: LicenseState,
    pub is_active: bool,
    pub created_at: Timestamp,
}

impl LicenseView {
    pub fn new(l: &License, now: Timestamp) -> Self {
        LicenseView {
            id: l.id.clone(),
            product_id: l.product_id.clone(),
            user_id: l.holder.clone(),
            key: l.key.clone(),
            name: l.name.clone(),
            order_id: l.order_id.clone(),
            valid_from: l.valid_from,
            valid_until: l.valid_until,
            is_permanent: l.is_permanent(),
            status: l.state(now),
            is_active: l.is_active(now),
            created_at: l.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One item's outcome in a batch create or delete.
#[derive(Debug, Clone, Serialize)]
pub struct BatchItemOutcome {
    pub index: usize,
    /// `created`, `deleted` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<LicenseView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BatchItemOutcome>,
}

impl BatchOutcome {
    pub fn new(results: Vec<BatchItemOutcome>) -> Self {
        let failed = results.iter().filter(|r| r.status == "failed").count();
        BatchOutcome {
            succeeded: results.len() - failed,
            failed,
            results,
        }
    }
}

// ---- the vendor API (camelCase, naive UTC times with microseconds) ----

/// The vendor API's time form: `2018-10-19T16:24:59.089163`, and exactly
/// `9999-01-01T00:00:00` for the end of a permanent license.
pub fn vendor_time(at: Timestamp) -> String {
    if at == PERMANENT_UNTIL {
        return "9999-01-01T00:00:00".to_owned();
    }
    let text = at.to_rfc3339();
    format!("{}000", text.trim_end_matches('Z'))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorLicenseItem {
    pub internal_user_identifier: Option<String>,
    pub from: String,
    pub until: String,
    pub is_active: bool,
    pub order_identifier: Option<String>,
    pub license_identifier: String,
    pub license_key: String,
}

impl VendorLicenseItem {
    pub fn new(l: &License, now: Timestamp) -> Self {
        VendorLicenseItem {
            internal_user_identifier: l.holder.clone(),
            from: vendor_time(l.valid_from),
            until: vendor_time(l.shown_until()),
            is_active: l.is_active(now),
            order_identifier: l.order_id.clone(),
            license_identifier: l.id.clone(),
            license_key: l.key.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductLicenses {
    pub licenses: Vec<VendorLicenseItem>,
    /// Present when more licenses follow; pass it back as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicLicenseInfo {
    pub exists: bool,
    pub key: String,
    pub is_valid: bool,
    pub product_sku: Option<String>,
    pub latest_public_version_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorLicenseDetail {
    pub product_sku: String,
    pub issued_to_identifier: Option<String>,
    pub valid_from: String,
    pub valid_until: String,
    pub is_permanent: bool,
    pub key_identifier: String,
    pub is_active: bool,
}

impl VendorLicenseDetail {
    pub fn new(l: &License, product: &Product, now: Timestamp) -> Self {
        VendorLicenseDetail {
            product_sku: product.sku.clone(),
            issued_to_identifier: l.holder.clone(),
            valid_from: vendor_time(l.valid_from),
            valid_until: vendor_time(l.shown_until()),
            is_permanent: l.is_permanent(),
            key_identifier: l.key.clone(),
            is_active: l.is_active(now),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatedIdentity {
    pub identifier: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub is_email_verified: bool,
    pub country_code3_letter: Option<String>,
}

impl AuthenticatedIdentity {
    pub fn new(holder: &str, profile: Option<HolderProfile>) -> Self {
        let p = profile.unwrap_or_default();
        AuthenticatedIdentity {
            identifier: holder.to_owned(),
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
            is_email_verified: p.is_email_verified,
            country_code3_letter: p.country_code3_letter,
        }
    }
}

/// A freshly made one-time login token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedLoginToken {
    pub token: String,
    pub expires_at: String,
}

impl std::fmt::Display for IssuedLoginToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "login token expiring {}", self.expires_at)
    }
}

// ---- the subscription API (camelCase, epoch times) ----

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractView {
    pub address: String,
    pub blockchain: String,
    pub token_id: String,
    /// `PLATFORM_CERTIFICATE`: not on a chain; `certificate` is the proof.
    pub kind: String,
    pub certificate: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionLicense {
    pub id: String,
    pub software: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub description: Option<String>,
    pub image: Option<String>,
    pub status: LicenseStatus,
    pub company: Option<String>,
    pub price: Option<String>,
    pub owner: Option<String>,
    pub metadata: Option<String>,
    /// Epoch seconds; only for `CONTRACT_SUBSCRIPTION`.
    #[serde(rename = "expireTime", skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractView>,
}

impl From<&License> for SubscriptionLicense {
    fn from(l: &License) -> Self {
        SubscriptionLicense {
            id: l.id.clone(),
            software: l.product_id.clone(),
            kind: if l.is_permanent() {
                PERPETUAL
            } else {
                SUBSCRIPTION
            },
            name: l.name.clone(),
            description: l.listing.description.clone(),
            image: l.listing.image.clone(),
            status: l.status,
            company: l.listing.company.clone(),
            price: l.listing.price.clone(),
            owner: l.holder.clone(),
            metadata: l.listing.metadata.clone(),
            expire_time: l.valid_until.map(|t| t.secs().to_string()),
            contract: l.deployment.as_ref().map(|d| ContractView {
                address: d.address.clone(),
                blockchain: d.blockchain.clone(),
                token_id: d.token_id.clone(),
                kind: d.kind.clone(),
                certificate: d.certificate.clone(),
            }),
        }
    }
}

/// `{"status": "OK", "payload": ...}`.
#[derive(Debug, Clone, Serialize)]
pub struct OkResponse<T> {
    pub status: &'static str,
    pub payload: T,
}

impl<T> OkResponse<T> {
    pub fn new(payload: T) -> Self {
        OkResponse {
            status: "OK",
            payload,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OffsetView {
    pub id: String,
    pub software: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub count: u64,
    /// `0` for an empty page, else the first record's `{id, software}`.
    pub offset: serde_json::Value,
    pub limit: usize,
    pub records: Vec<SubscriptionLicense>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NonceView {
    pub nonce: String,
    pub address: String,
    pub timestamp: i64,
    /// When the nonce stops being accepted, epoch milliseconds.
    #[serde(rename = "expiresAt")]
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Epoch seconds, as text.
    pub expire_time: String,
    pub license: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Activation {
    /// `"true"`: the document's form, a string.
    pub activate: &'static str,
    pub credential: Credential,
    /// Epoch milliseconds of the answer.
    pub timestamp: i64,
}

impl Activation {
    pub fn new(license: &License, now: Timestamp) -> Self {
        Activation {
            activate: "true",
            credential: Credential {
                expire_time: license.shown_until().secs().to_string(),
                license: license.id.clone(),
            },
            timestamp: now.millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_times_look_like_the_document() {
        assert_eq!(vendor_time(PERMANENT_UNTIL), "9999-01-01T00:00:00");
        assert_eq!(
            vendor_time(Timestamp::parse_rfc3339("2018-10-19T16:24:59.089Z").unwrap()),
            "2018-10-19T16:24:59.089000"
        );
    }
}
