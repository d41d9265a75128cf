//! The subscription API: the query body and license bodies.

use serde::Serialize;

use super::*;
use domain::licensing::signatures::Signer;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFilter {
    pub id: Option<String>,
    pub software: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
        account: &domain::clients::AccountId,
        now: Timestamp,
    ) -> Result<(LicenseQuery, Option<LicenseId>), LicenseError> {
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
            Some(OffsetBody::After(o)) => Some(id_field("offset.id", &o.id, LicenseId::parse)?),
        };
        let filter = self.filter.clone().unwrap_or_default();
        let mut query = LicenseQuery::all(account, now, limit);
        query.id = filter
            .id
            .as_deref()
            .map(|id| id_field("filter.id", id, LicenseId::parse))
            .transpose()?;
        query.product_id = filter
            .software
            .as_deref()
            .map(|s| id_field("filter.software", s, ProductId::parse))
            .transpose()?;
        query.holder = optional_text("filter.owner", &filter.owner, MAX_IDENTIFIER)?;
        Ok((query, offset))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
                .map(|id| id_field("id", id, LicenseId::parse))
                .transpose()?,
            // Resolved by the service: absent means "make a product".
            product_id: match &self.software {
                Some(s) => Some(id_field("software", s, ProductId::parse)?),
                None => None,
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
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    pub blockchain: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    pub id: Option<String>,
    pub owner: Option<String>,
    pub contract: Option<ContractBody>,
}

impl DeployBody {
    pub fn order(&self) -> DeployOrder {
        DeployOrder {
            id: self.id.clone(),
            owner: self.owner.clone(),
            blockchain: self.contract.as_ref().and_then(|c| c.blockchain.clone()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonceBody {
    pub address: Option<String>,
}

impl NonceBody {
    /// The address a nonce is issued for.
    pub fn signer(&self) -> Result<Signer, LicenseError> {
        Signer::parse(required("address", &self.address)?)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivateBody {
    pub address: Option<String>,
    pub contract: Option<String>,
    pub token_id: Option<String>,
    pub nonce: Option<String>,
    pub sign: Option<String>,
}

impl ActivateBody {
    /// Every field present, checked in the order the document lists them.
    pub fn validate(&self) -> Result<ActivationRequest, LicenseError> {
        Ok(ActivationRequest {
            signer: Signer::parse(required("address", &self.address)?)?,
            contract: required("contract", &self.contract)?.to_owned(),
            token_id: required("tokenId", &self.token_id)?.to_owned(),
            nonce: required("nonce", &self.nonce)?.to_owned(),
            sign: required("sign", &self.sign)?.to_owned(),
        })
    }
}

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
            id: l.id.to_string(),
            software: l.product_id.to_string(),
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

impl QueryResult {
    pub fn new(records: &[License], count: u64, limit: usize) -> Self {
        let offset = match records.first() {
            Some(first) => serde_json::json!({
                "id": first.id,
                "software": first.product_id,
            }),
            None => serde_json::json!(0),
        };
        QueryResult {
            count,
            offset,
            limit,
            records: records.iter().map(SubscriptionLicense::from).collect(),
        }
    }
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

impl From<&ActivationNonce> for NonceView {
    fn from(nonce: &ActivationNonce) -> Self {
        NonceView {
            nonce: nonce.nonce.clone(),
            address: nonce.address.clone(),
            timestamp: nonce.created_at.millis(),
            expires_at: nonce.expires_at.millis(),
        }
    }
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
                license: license.id.to_string(),
            },
            timestamp: now.millis(),
        }
    }
}
