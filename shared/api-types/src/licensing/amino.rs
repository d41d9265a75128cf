//! AminoTV license management v4: product and license bodies and the listing query.

use serde::Serialize;

use super::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
                .map(|id| id_field("id", id, ProductId::parse))
                .transpose()?,
            name: text_field("name", name, MAX_NAME)?,
            sku: self.sku.as_deref().map(sku_field).transpose()?,
            description: optional_text("description", &self.description, MAX_TEXT)?,
            latest_version: optional_text("latest_version", &self.latest_version, MAX_IDENTIFIER)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
                .map(|id| id_field(&f("id"), id, LicenseId::parse))
                .transpose()?,
            product_id: Some(id_field(&f("product_id"), product_id, ProductId::parse)?),
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct BatchDeleteBody {
    pub license_ids: Vec<String>,
}

impl BatchDeleteBody {
    pub fn validate(&self) -> Result<Vec<LicenseId>, LicenseError> {
        check_batch_size("license_ids", self.license_ids.len())?;
        let mut ids: Vec<LicenseId> = Vec::with_capacity(self.license_ids.len());
        for (i, id) in self.license_ids.iter().enumerate() {
            let id = id_field(&format!("license_ids[{i}]"), id, LicenseId::parse)?;
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
        account: &domain::clients::AccountId,
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
                .map(|p| id_field("product_id", p, ProductId::parse))
                .transpose()?,
            holder: optional_text("user_id", &self.user_id, MAX_IDENTIFIER)?,
            state,
            window_from,
            window_to,
            now,
            limit: domain::paging::page_limit("limit", self.limit.as_deref())?,
            after: self
                .cursor
                .as_deref()
                .map(LicensePosition::from_cursor)
                .transpose()?,
        })
    }
}

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
            id: p.id.to_string(),
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
            id: l.id.to_string(),
            product_id: l.product_id.to_string(),
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
pub struct ItemsPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl ItemsPage<LicenseView> {
    pub fn licenses(page: &Page<License, LicensePosition>, now: Timestamp) -> Self {
        ItemsPage {
            items: page
                .items
                .iter()
                .map(|l| LicenseView::new(l, now))
                .collect(),
            next_cursor: page.next.as_ref().map(LicensePosition::to_cursor),
        }
    }
}

impl ItemsPage<ProductView> {
    pub fn products(page: &Page<Product, ProductId>) -> Self {
        ItemsPage {
            items: page.items.iter().map(ProductView::from).collect(),
            next_cursor: page.next.as_ref().map(ProductId::to_string),
        }
    }
}

/// `DELETE .../products/{product_id}` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteProductParams {
    pub force: Option<String>,
}

impl DeleteProductParams {
    /// `force=true` deletes the product's licenses first.
    pub fn force(&self) -> Result<bool, LicenseError> {
        Ok(crate::flag("force", self.force.as_deref())?.unwrap_or(false))
    }
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
