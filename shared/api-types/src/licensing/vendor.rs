//! The vendor API: the discount form.

use serde::Serialize;

use super::*;

/// `Discounts/r1/Create` form fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscountForm {
    pub product_id: Option<String>,
    pub product_sku: Option<String>,
    pub percentage: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub usage_limit: Option<String>,
}

/// A product named by exactly one of its id and its SKU.
pub fn product_ref(id: Option<&str>, sku: Option<&str>) -> Result<ProductRef, LicenseError> {
    match (id, sku) {
        (Some(id), None) => Ok(ProductRef::Id(id_field("productId", id, ProductId::parse)?)),
        (None, Some(sku)) => {
            Ok(ProductRef::Sku(sku_field(sku).map_err(|_| {
                LicenseError::invalid("productSku", "is not a SKU")
            })?))
        }
        _ => Err(LicenseError::invalid(
            "productId",
            "exactly one of productId and productSku is required",
        )),
    }
}

impl DiscountForm {
    pub fn validate(&self) -> Result<NewDiscount, LicenseError> {
        let product = product_ref(self.product_id.as_deref(), self.product_sku.as_deref())?;
        let value = match (&self.percentage, &self.amount) {
            (Some(p), None) => {
                let percentage = p
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=100).contains(p));
                DiscountValue::Percentage {
                    percentage: percentage.ok_or_else(|| {
                        LicenseError::invalid("percentage", "must be a whole number 1-100")
                    })?,
                }
            }
            (None, Some(a)) => {
                let amount = a.trim().parse::<u64>().ok().filter(|a| *a > 0);
                let currency = self.currency.as_deref().unwrap_or_default();
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(LicenseError::invalid(
                        "currency",
                        "is required with amount: three letters (ISO 4217)",
                    ));
                }
                DiscountValue::Amount {
                    amount: amount.ok_or_else(|| {
                        LicenseError::invalid(
                            "amount",
                            "must be a positive whole number of the currency's smallest unit",
                        )
                    })?,
                    currency: currency.to_ascii_uppercase(),
                }
            }
            _ => {
                return Err(LicenseError::invalid(
                    "percentage",
                    "exactly one of percentage and amount is required",
                ))
            }
        };
        let valid_from = time_field("validFrom", &self.valid_from)?;
        let valid_until = time_field("validUntil", &self.valid_until)?;
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            if until <= from {
                return Err(LicenseError::invalid(
                    "validUntil",
                    "must be after validFrom",
                ));
            }
        }
        let usage_limit = self
            .usage_limit
            .as_deref()
            .map(|u| {
                u.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|u| *u > 0)
                    .ok_or_else(|| {
                        LicenseError::invalid("usageLimit", "must be a positive whole number")
                    })
            })
            .transpose()?;
        Ok(NewDiscount {
            product,
            value,
            valid_from,
            valid_until,
            usage_limit,
        })
    }
}

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
            license_identifier: l.id.to_string(),
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

impl ProductLicenses {
    pub fn new(page: &Page<License, LicensePosition>, now: Timestamp) -> Self {
        ProductLicenses {
            licenses: page
                .items
                .iter()
                .map(|l| VendorLicenseItem::new(l, now))
                .collect(),
            next_cursor: page.next.as_ref().map(LicensePosition::to_cursor),
        }
    }
}

/// The query parameters of the vendor API's `GET` routes, as they arrive;
/// each route reads the ones it documents.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorParams {
    pub product_id: Option<String>,
    pub product_sku: Option<String>,
    pub cursor: Option<String>,
    pub key: Option<String>,
    pub token: Option<String>,
}

/// `Authentication/r1/CreateToken` form fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTokenForm {
    pub license_key: Option<String>,
}

/// The vendor API's success envelope: `{"errors": [], "response": ...}`.
#[derive(Debug, Serialize)]
pub struct Envelope<T> {
    errors: [(); 0],
    response: T,
}

impl<T> Envelope<T> {
    pub fn new(response: T) -> Self {
        Envelope {
            errors: [],
            response,
        }
    }
}

/// `Licenses/r1/Get`: `{"license": ...}`.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseResponse {
    pub license: VendorLicenseDetail,
}

/// `Authentication/r1/GetTokenValidity`: `{"authenticatedIdentity": ...}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenValidity {
    pub authenticated_identity: AuthenticatedIdentity,
}

/// `Discounts/r1/Create`: `{"code": ...}`.
#[derive(Debug, Clone, Serialize)]
pub struct DiscountCreated {
    pub code: String,
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

impl From<KeyStatus> for PublicLicenseInfo {
    fn from(status: KeyStatus) -> Self {
        PublicLicenseInfo {
            exists: status.exists,
            key: status.key,
            is_valid: status.is_valid,
            product_sku: status.product_sku,
            latest_public_version_name: status.latest_version,
        }
    }
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

impl From<HolderIdentity> for AuthenticatedIdentity {
    fn from(identity: HolderIdentity) -> Self {
        let p = identity.profile.unwrap_or_default();
        AuthenticatedIdentity {
            identifier: identity.holder,
            first_name: p.first_name,
            last_name: p.last_name,
            email: p.email,
            is_email_verified: p.is_email_verified,
            country_code3_letter: p.country_code3_letter,
        }
    }
}

/// A freshly made one-time login token, as `LoginTokens/r1/Create` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginTokenView {
    pub token: String,
    pub expires_at: String,
}

impl From<&IssuedLoginToken> for LoginTokenView {
    fn from(issued: &IssuedLoginToken) -> Self {
        LoginTokenView {
            token: issued.token.clone(),
            expires_at: vendor_time(issued.expires_at),
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
