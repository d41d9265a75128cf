//! Request bodies and parameters of the three licensing APIs, as they
//! arrive, and their validation into the model's inputs.

use serde::{Deserialize, Deserializer};

use super::model::*;
use super::LicenseError;
use crate::clock::Timestamp;
use crate::codes::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// A product to create, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub id: Option<String>,
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
    pub id: Option<String>,
    pub product_id: String,
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

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn text_field(field: &str, value: &str, max: usize) -> Result<String, LicenseError> {
    check_text(value, max).map_err(|reason| LicenseError::invalid(field, reason))?;
    Ok(value.trim().to_owned())
}

fn optional_text(
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<String>, LicenseError> {
    value
        .as_deref()
        .map(|v| text_field(field, v, max))
        .transpose()
}

pub fn uuid_field(field: &str, value: &str) -> Result<String, LicenseError> {
    parse_uuid(value.trim()).ok_or_else(|| {
        LicenseError::invalid(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)")
    })
}

fn time_field(field: &str, value: &Option<String>) -> Result<Option<Timestamp>, LicenseError> {
    value
        .as_deref()
        .map(|text| {
            Timestamp::parse_rfc3339(text).ok_or_else(|| {
                LicenseError::invalid(field, "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")
            })
        })
        .transpose()
}

/// A SKU: 1-128 of `A-Z a-z 0-9 _ - .`.
fn sku_field(value: &str) -> Result<String, LicenseError> {
    let valid = (1..=MAX_IDENTIFIER).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(LicenseError::invalid(
            "sku",
            "must be 1-128 characters of A-Z, a-z, 0-9, '_', '-' and '.'",
        ))
    }
}

pub fn page_limit(field: &str, limit: Option<&str>) -> Result<usize, LicenseError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                LicenseError::invalid(field, format!("must be a whole number 1-{MAX_PAGE_SIZE}"))
            }),
    }
}

// ---- AminoTV license management v4 ----

#[derive(Debug, Clone, Deserialize)]
pub struct CreateProductBody {
    pub id: Option<String>,
    pub name: Option<String>,
    pub sku: Option<String>,
    pub description: Option<String>,
    pub latest_version: Option<String>,
}

impl CreateProductBody {
    pub fn validate(&self) -> Result<NewProduct, LicenseError> {
        let name = self
            .name
            .as_deref()
            .ok_or_else(|| LicenseError::invalid("name", "is required"))?;
        Ok(NewProduct {
            id: self
                .id
                .as_deref()
                .map(|id| uuid_field("id", id))
                .transpose()?,
            name: text_field("name", name, MAX_NAME)?,
            sku: self.sku.as_deref().map(sku_field).transpose()?,
            description: optional_text("description", &self.description, MAX_TEXT)?,
            latest_version: optional_text("latest_version", &self.latest_version, MAX_IDENTIFIER)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpdateProductBody {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub latest_version: Option<Option<String>>,
    /// Present only to refuse it: a SKU never changes.
    pub sku: Option<serde_json::Value>,
    pub id: Option<serde_json::Value>,
}

impl UpdateProductBody {
    pub fn validate(&self) -> Result<ProductChanges, LicenseError> {
        if self.sku.is_some() {
            return Err(LicenseError::invalid("sku", "cannot be changed"));
        }
        if self.id.is_some() {
            return Err(LicenseError::invalid("id", "cannot be changed"));
        }
        let changes = ProductChanges {
            name: optional_text("name", &self.name, MAX_NAME)?,
            description: self
                .description
                .as_ref()
                .map(|d| optional_text("description", d, MAX_TEXT))
                .transpose()?,
            latest_version: self
                .latest_version
                .as_ref()
                .map(|v| optional_text("latest_version", v, MAX_IDENTIFIER))
                .transpose()?,
        };
        if changes == ProductChanges::default() {
            return Err(LicenseError::invalid(
                "body",
                "names none of name, description, latest_version",
            ));
        }
        Ok(changes)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// ISO 3166-1 alpha-3, e.g. `DEU`.
    pub country_code: Option<String>,
}

impl UserBody {
    fn validate(&self, field: &str) -> Result<HolderProfile, LicenseError> {
        let f = |name: &str| format!("{field}.{name}");
        let email = optional_text(&f("email"), &self.email, MAX_IDENTIFIER * 2)?;
        if email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(LicenseError::invalid(
                &f("email"),
                "is not an email address",
            ));
        }
        let country = match &self.country_code {
            Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(code.to_ascii_uppercase())
            }
            Some(_) => {
                return Err(LicenseError::invalid(
                    &f("country_code"),
                    "must be three letters (ISO 3166-1 alpha-3)",
                ))
            }
            None => None,
        };
        Ok(HolderProfile {
            first_name: optional_text(&f("first_name"), &self.first_name, MAX_IDENTIFIER)?,
            last_name: optional_text(&f("last_name"), &self.last_name, MAX_IDENTIFIER)?,
            email,
            is_email_verified: self.email_verified,
            country_code3_letter: country,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreateLicenseBody {
    pub id: Option<String>,
    pub product_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub order_id: Option<String>,
    pub valid_from: Option<String>,
    /// Absent or `null` for a permanent license.
    pub valid_until: Option<String>,
    pub user: Option<UserBody>,
}

impl CreateLicenseBody {
    /// `prefix` names the item in a batch (`licenses[3].`), else empty.
    pub fn validate(&self, prefix: &str) -> Result<NewLicense, LicenseError> {
        let f = |name: &str| format!("{prefix}{name}");
        let product_id = self
            .product_id
            .as_deref()
            .ok_or_else(|| LicenseError::invalid(&f("product_id"), "is required"))?;
        let user_id = self
            .user_id
            .as_deref()
            .ok_or_else(|| LicenseError::invalid(&f("user_id"), "is required"))?;
        let valid_from = time_field(&f("valid_from"), &self.valid_from)?;
        let valid_until = time_field(&f("valid_until"), &self.valid_until)?;
        if let (Some(from), Some(until)) = (valid_from, valid_until) {
            if until <= from {
                return Err(LicenseError::invalid(
                    &f("valid_until"),
                    "must be after valid_from",
                ));
            }
        }
        Ok(NewLicense {
            id: self
                .id
                .as_deref()
                .map(|id| uuid_field(&f("id"), id))
                .transpose()?,
            product_id: uuid_field(&f("product_id"), product_id)?,
            holder: Some(text_field(&f("user_id"), user_id, MAX_IDENTIFIER)?),
            name: optional_text(&f("name"), &self.name, MAX_NAME)?,
            order_id: optional_text(&f("order_id"), &self.order_id, MAX_IDENTIFIER)?,
            valid_from,
            valid_until,
            status: LicenseStatus::Active,
            listing: Listing::default(),
            profile: self
                .user
                .as_ref()
                .map(|u| u.validate(&f("user")))
                .transpose()?,
        })
    }
}

/// The most licenses one batch call creates or deletes.
pub const MAX_LICENSE_BATCH: usize = 100;

#[derive(Debug, Clone, Deserialize)]
pub struct BatchCreateBody {
    pub licenses: Vec<CreateLicenseBody>,
}

impl BatchCreateBody {
    pub fn validate(&self) -> Result<Vec<NewLicense>, LicenseError> {
        check_batch_size("licenses", self.licenses.len())?;
        self.licenses
            .iter()
            .enumerate()
            .map(|(i, body)| body.validate(&format!("licenses[{i}].")))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct BatchDeleteBody {
    pub license_ids: Vec<String>,
}

impl BatchDeleteBody {
    pub fn validate(&self) -> Result<Vec<String>, LicenseError> {
        check_batch_size("license_ids", self.license_ids.len())?;
        let mut ids: Vec<String> = Vec::with_capacity(self.license_ids.len());
        for (i, id) in self.license_ids.iter().enumerate() {
            let id = uuid_field(&format!("license_ids[{i}]"), id)?;
            if ids.contains(&id) {
                return Err(LicenseError::invalid(
                    &format!("license_ids[{i}]"),
                    "repeats an earlier id",
                ));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

fn check_batch_size(field: &str, len: usize) -> Result<(), LicenseError> {
    if (1..=MAX_LICENSE_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(LicenseError::invalid(
            field,
            format!("must hold 1-{MAX_LICENSE_BATCH} entries"),
        ))
    }
}

/// `GET .../licenses` and `GET .../users/{user_id}/licenses` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListLicensesParams {
    pub product_id: Option<String>,
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl ListLicensesParams {
    pub fn into_query(
        self,
        account: &crate::clients::ClientKey,
        now: Timestamp,
    ) -> Result<LicenseQuery, LicenseError> {
        let state = self
            .status
            .as_deref()
            .map(|s| {
                LicenseState::parse(s).ok_or_else(|| {
                    LicenseError::invalid("status", "must be active, pending, expired or suspended")
                })
            })
            .transpose()?;
        let window_from = time_field("valid_from", &self.valid_from)?;
        let window_to = time_field("valid_to", &self.valid_to)?;
        if let (Some(from), Some(to)) = (window_from, window_to) {
            if from > to {
                return Err(LicenseError::invalid("valid_from", "is after valid_to"));
            }
        }
        Ok(LicenseQuery {
            account: account.clone(),
            id: None,
            product_id: self
                .product_id
                .as_deref()
                .map(|p| uuid_field("product_id", p))
                .transpose()?,
            holder: optional_text("user_id", &self.user_id, MAX_IDENTIFIER)?,
            state,
            window_from,
            window_to,
            now,
            limit: page_limit("limit", self.limit.as_deref())?,
            after: self
                .cursor
                .as_deref()
                .map(LicensePosition::from_cursor)
                .transpose()?,
        })
    }
}

// ---- the vendor API ----

/// `Discounts/r1/Create` form fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    Id(String),
    Sku(String),
}

impl ProductRef {
    pub fn from_params(id: Option<&str>, sku: Option<&str>) -> Result<Self, LicenseError> {
        match (id, sku) {
            (Some(id), None) => Ok(ProductRef::Id(uuid_field("productId", id)?)),
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
}

impl DiscountForm {
    pub fn validate(&self) -> Result<NewDiscount, LicenseError> {
        let product =
            ProductRef::from_params(self.product_id.as_deref(), self.product_sku.as_deref())?;
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

// ---- the subscription API ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryFilter {
    pub id: Option<String>,
    pub software: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueryOffset {
    pub id: String,
    pub software: Option<String>,
}

/// `offset` is `0` (or absent) for the first page, else the last license of
/// the previous page.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OffsetBody {
    Start(u64),
    After(QueryOffset),
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryBody {
    pub offset: Option<OffsetBody>,
    pub limit: Option<i64>,
    pub filter: Option<QueryFilter>,
}

/// The subscription API's page size: default and maximum.
pub const SUBSCRIPTION_DEFAULT_LIMIT: usize = 100;

impl QueryBody {
    /// The query, and the license id the page starts after.
    pub fn validate(
        &self,
        account: &crate::clients::ClientKey,
        now: Timestamp,
    ) -> Result<(LicenseQuery, Option<String>), LicenseError> {
        let limit = match self.limit {
            None => SUBSCRIPTION_DEFAULT_LIMIT,
            Some(n) if (1..=SUBSCRIPTION_DEFAULT_LIMIT as i64).contains(&n) => n as usize,
            Some(_) => {
                return Err(LicenseError::invalid(
                    "limit",
                    format!("must be 1-{SUBSCRIPTION_DEFAULT_LIMIT}"),
                ))
            }
        };
        let offset = match &self.offset {
            None | Some(OffsetBody::Start(0)) => None,
            Some(OffsetBody::Start(_)) => {
                return Err(LicenseError::invalid(
                    "offset",
                    "must be 0 or the {id, software} of the last license of the previous page",
                ))
            }
            Some(OffsetBody::After(o)) => Some(uuid_field("offset.id", &o.id)?),
        };
        let filter = self.filter.clone().unwrap_or_default();
        let mut query = LicenseQuery::all(account, now, limit);
        query.id = filter
            .id
            .as_deref()
            .map(|id| uuid_field("filter.id", id))
            .transpose()?;
        query.product_id = filter
            .software
            .as_deref()
            .map(|s| uuid_field("filter.software", s))
            .transpose()?;
        query.holder = optional_text("filter.owner", &filter.owner, MAX_IDENTIFIER)?;
        Ok((query, offset))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionLicenseBody {
    pub id: Option<String>,
    pub software: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub status: Option<String>,
    pub company: Option<String>,
    pub metadata: Option<String>,
    pub price: Option<String>,
    pub owner: Option<String>,
    /// For `CONTRACT_SUBSCRIPTION`: the end, in epoch seconds.
    #[serde(rename = "expireTime")]
    pub expire_time: Option<serde_json::Value>,
}

pub const PERPETUAL: &str = "CONTRACT_PERPETUAL";
pub const SUBSCRIPTION: &str = "CONTRACT_SUBSCRIPTION";

impl SubscriptionLicenseBody {
    pub fn validate(&self, now: Timestamp) -> Result<NewLicense, LicenseError> {
        let name = self
            .name
            .as_deref()
            .ok_or_else(|| LicenseError::invalid("name", "is required"))?;
        let status = match self.status.as_deref() {
            None | Some("ACTIVE") => LicenseStatus::Active,
            Some("INACTIVE") => LicenseStatus::Inactive,
            Some(_) => {
                return Err(LicenseError::invalid(
                    "status",
                    "must be ACTIVE or INACTIVE",
                ))
            }
        };
        let expire = match &self.expire_time {
            None => None,
            Some(value) => {
                let secs = match value {
                    serde_json::Value::Number(n) => n.as_i64(),
                    serde_json::Value::String(s) => s.parse::<i64>().ok(),
                    _ => None,
                };
                let secs = secs.filter(|s| *s > now.secs() && *s < PERMANENT_UNTIL.secs());
                Some(Timestamp::from_secs(secs.ok_or_else(|| {
                    LicenseError::invalid("expireTime", "must be a future time in epoch seconds")
                })?))
            }
        };
        let valid_until = match (self.kind.as_deref().unwrap_or(PERPETUAL), expire) {
            (PERPETUAL, None) => None,
            (PERPETUAL, Some(_)) => {
                return Err(LicenseError::invalid(
                    "expireTime",
                    "is only for CONTRACT_SUBSCRIPTION",
                ))
            }
            (SUBSCRIPTION, Some(end)) => Some(end),
            (SUBSCRIPTION, None) => {
                return Err(LicenseError::invalid(
                    "expireTime",
                    "is required for CONTRACT_SUBSCRIPTION",
                ))
            }
            _ => {
                return Err(LicenseError::invalid(
                    "type",
                    "must be CONTRACT_PERPETUAL or CONTRACT_SUBSCRIPTION",
                ))
            }
        };
        if self
            .price
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.len() > 78 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(LicenseError::invalid(
                "price",
                "must be a whole number in the smallest unit, as text",
            ));
        }
        Ok(NewLicense {
            id: self
                .id
                .as_deref()
                .map(|id| uuid_field("id", id))
                .transpose()?,
            // Resolved by the service: absent means "make a product".
            product_id: match &self.software {
                Some(s) => uuid_field("software", s)?,
                None => String::new(),
            },
            holder: optional_text("owner", &self.owner, MAX_TEXT)?,
            name: Some(text_field("name", name, MAX_NAME)?),
            order_id: None,
            valid_from: None,
            valid_until,
            status,
            listing: Listing {
                description: optional_text("description", &self.description, MAX_TEXT)?,
                image: optional_text("image", &self.image, MAX_TEXT)?,
                company: optional_text("company", &self.company, MAX_NAME)?,
                price: self.price.clone(),
                metadata: optional_text("metadata", &self.metadata, MAX_TEXT)?,
            },
            profile: None,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContractBody {
    pub blockchain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeployBody {
    pub id: Option<String>,
    pub owner: Option<String>,
    pub contract: Option<ContractBody>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NonceBody {
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivateBody {
    pub address: Option<String>,
    pub contract: Option<String>,
    pub token_id: Option<String>,
    pub nonce: Option<String>,
    pub sign: Option<String>,
}

/// A required string field of a body, or the error naming it.
pub fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, LicenseError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| LicenseError::invalid(field, "is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_null_from_absent() {
        let body: UpdateProductBody =
            serde_json::from_str(r#"{"description": null, "name": "New"}"#).unwrap();
        let changes = body.validate().unwrap();
        assert_eq!(changes.description, Some(None));
        assert_eq!(changes.latest_version, None);
        assert_eq!(changes.name.as_deref(), Some("New"));
        let empty: UpdateProductBody = serde_json::from_str("{}").unwrap();
        assert!(empty.validate().is_err());
        let sku: UpdateProductBody = serde_json::from_str(r#"{"sku":"x"}"#).unwrap();
        assert!(sku.validate().is_err());
    }

    #[test]
    fn subscription_types_need_matching_expiry() {
        let now = Timestamp::from_secs(1_700_000_000);
        let body = |json: &str| serde_json::from_str::<SubscriptionLicenseBody>(json).unwrap();
        assert!(body(r#"{"name":"a"}"#)
            .validate(now)
            .unwrap()
            .valid_until
            .is_none());
        let sub = body(r#"{"name":"a","type":"CONTRACT_SUBSCRIPTION","expireTime":"1800000000"}"#);
        assert_eq!(
            sub.validate(now).unwrap().valid_until,
            Some(Timestamp::from_secs(1_800_000_000))
        );
        for bad in [
            r#"{"name":"a","type":"CONTRACT_SUBSCRIPTION"}"#,
            r#"{"name":"a","expireTime":1800000000}"#,
            r#"{"name":"a","type":"OTHER"}"#,
            r#"{"name":"a","type":"CONTRACT_SUBSCRIPTION","expireTime":5}"#,
            r#"{"name":"a","price":"1.5"}"#,
            r#"{"name":"a","status":"DEAD"}"#,
            r#"{"name":""}"#,
        ] {
            assert!(body(bad).validate(now).is_err(), "{bad}");
        }
    }

    #[test]
    fn discounts_need_one_value_and_one_product() {
        let form = |text: &str| serde_urlencoded::from_str::<DiscountForm>(text).unwrap();
        let id = new_uuid();
        let ok = form(&format!("productId={id}&percentage=15&usageLimit=3"))
            .validate()
            .unwrap();
        assert_eq!(ok.value, DiscountValue::Percentage { percentage: 15 });
        assert_eq!(ok.usage_limit, Some(3));
        for bad in [
            format!("productId={id}"),
            format!("productId={id}&percentage=0"),
            format!("productId={id}&percentage=10&amount=5&currency=EUR"),
            format!("productId={id}&amount=5"),
            format!("productId={id}&productSku=x&percentage=5"),
            "percentage=5".to_owned(),
        ] {
            assert!(form(&bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn query_offsets_are_zero_or_a_license() {
        let account = crate::clients::ClientKey::parse("ck_a").unwrap();
        let now = Timestamp::from_millis(0);
        let parse = |json: &str| serde_json::from_str::<QueryBody>(json).unwrap();
        assert_eq!(
            parse(r#"{"offset":0}"#).validate(&account, now).unwrap().1,
            None
        );
        let id = new_uuid();
        let after = parse(&format!(r#"{{"offset":{{"id":"{id}"}},"limit":5}}"#))
            .validate(&account, now)
            .unwrap();
        assert_eq!(after.1, Some(id));
        assert_eq!(after.0.limit, 5);
        for bad in [
            r#"{"offset":3}"#,
            r#"{"limit":0}"#,
            r#"{"filter":{"id":"x"}}"#,
        ] {
            assert!(parse(bad).validate(&account, now).is_err(), "{bad}");
        }
    }
}
