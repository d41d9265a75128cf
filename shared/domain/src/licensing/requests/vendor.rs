//! The vendor API: the discount form.

use super::*;

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
