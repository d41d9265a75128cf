//! Solaris device management's activation challenges (snake_case): the
//! create, verify and delivery-event bodies, the listing parameters and what
//! the API shows of a challenge and its events.

use domain::challenges::{
    Challenge, ChallengeError, ChallengeQuery, DeliveryEvent, DeliveryMethod, NewChallenge,
    NewDeliveryEvent, Origin, Purpose, VerifyRequest, DEFAULT_PAGE_SIZE, MAX_LISTING_DEPTH,
    MAX_PAGE_SIZE,
};
use domain::clients::AccountId;
use domain::clock::Timestamp;
use serde::{Deserialize, Serialize};

fn parse_enum<T: for<'de> Deserialize<'de>>(
    field: &str,
    text: &str,
    allowed: &str,
) -> Result<T, ChallengeError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| ChallengeError::invalid(field, format!("must be {allowed}")))
}

/// `POST` body; `invalidate_existing_code` may also come in the query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateChallengeBody {
    pub person_id: Option<String>,
    pub origin: Option<String>,
    pub purpose: Option<String>,
    pub delivery_method: Option<String>,
    pub invalidate_existing_code: Option<bool>,
}

fn person_field(field: &str, value: &str) -> Result<String, ChallengeError> {
    let valid = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ChallengeError::invalid(
            field,
            "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'",
        ))
    }
}

/// `POST` query parameters: `invalidate_existing_code` may come here too.
#[derive(Debug, Default, Deserialize)]
pub struct CreateChallengeParams {
    pub invalidate_existing_code: Option<String>,
}

impl CreateChallengeBody {
    pub fn validate(&self, invalidate_query: Option<&str>) -> Result<NewChallenge, ChallengeError> {
        let person = self
            .person_id
            .as_deref()
            .ok_or_else(|| ChallengeError::invalid("person_id", "is required"))?;
        let origin: Origin = parse_enum(
            "origin",
            self.origin
                .as_deref()
                .ok_or_else(|| ChallengeError::invalid("origin", "is required"))?,
            "MOBILE_APP, WEB or WEBUI",
        )?;
        if origin == Origin::Solarisbank {
            return Err(ChallengeError::invalid(
                "origin",
                "SOLARISBANK is reserved for the bank's own requests",
            ));
        }
        let purpose = parse_enum(
            "purpose",
            self.purpose.as_deref().unwrap_or("DEVICE_BINDING"),
            "DEVICE_BINDING",
        )?;
        let delivery_method = parse_enum(
            "delivery_method",
            self.delivery_method.as_deref().unwrap_or("SNAILMAIL"),
            "SNAILMAIL",
        )?;
        let from_query = crate::flag("invalidate_existing_code", invalidate_query)?;
        Ok(NewChallenge {
            person_id: person_field("person_id", person)?,
            origin,
            purpose,
            delivery_method,
            invalidate_existing: from_query
                .or(self.invalidate_existing_code)
                .unwrap_or(false),
        })
    }
}

/// `GET` list parameters as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListChallengesParams {
    #[serde(rename = "page[size]")]
    pub page_size: Option<String>,
    #[serde(rename = "page[number]")]
    pub page_number: Option<String>,
    #[serde(rename = "filter[person_id]")]
    pub person_id: Option<String>,
    #[serde(rename = "filter[include_expired]")]
    pub include_expired: Option<String>,
    #[serde(rename = "filter[origin]")]
    pub origin: Option<String>,
    #[serde(rename = "filter[purpose]")]
    pub purpose: Option<String>,
    #[serde(rename = "filter[delivery_method]")]
    pub delivery_method: Option<String>,
}

impl ListChallengesParams {
    pub fn into_query(
        self,
        account: &AccountId,
        now: Timestamp,
    ) -> Result<ChallengeQuery, ChallengeError> {
        let number = |field: &str, value: &Option<String>, default: usize, max: usize| match value {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ChallengeError::invalid(field, format!("must be a whole number 1-{max}"))
                }),
        };
        let size = number(
            "page[size]",
            &self.page_size,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let page = number("page[number]", &self.page_number, 1, MAX_LISTING_DEPTH)?;
        let skip = (page - 1) * size;
        if skip + size > MAX_LISTING_DEPTH {
            return Err(ChallengeError::invalid(
                "page[number]",
                format!(
                    "reaches past the first {MAX_LISTING_DEPTH} challenges; narrow the filters"
                ),
            ));
        }
        let include_expired =
            crate::flag("filter[include_expired]", self.include_expired.as_deref())?
                .unwrap_or(false);
        Ok(ChallengeQuery {
            account: account.clone(),
            person_id: self
                .person_id
                .as_deref()
                .map(|p| person_field("filter[person_id]", p))
                .transpose()?,
            include_expired,
            origin: self
                .origin
                .as_deref()
                .map(|o| parse_enum("filter[origin]", o, "MOBILE_APP, WEB, WEBUI or SOLARISBANK"))
                .transpose()?,
            purpose: self
                .purpose
                .as_deref()
                .map(|p| parse_enum("filter[purpose]", p, "DEVICE_BINDING"))
                .transpose()?,
            delivery_method: self
                .delivery_method
                .as_deref()
                .map(|d| parse_enum("filter[delivery_method]", d, "SNAILMAIL"))
                .transpose()?,
            now,
            skip,
            size,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    pub person_id: Option<String>,
    pub code: Option<String>,
}

impl From<VerifyBody> for VerifyRequest {
    fn from(body: VerifyBody) -> Self {
        VerifyRequest {
            person_id: body.person_id,
            code: body.code,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryEventBody {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub timestamp: Option<String>,
    pub provider: Option<String>,
    pub additional_details: Option<String>,
}

impl From<DeliveryEventBody> for NewDeliveryEvent {
    fn from(body: DeliveryEventBody) -> Self {
        NewDeliveryEvent {
            kind: body.kind,
            timestamp: body.timestamp,
            provider: body.provider,
            additional_details: body.additional_details,
        }
    }
}

/// What the API shows of a challenge: the document's fields.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeView {
    pub id: String,
    pub person_id: String,
    pub code: String,
    pub created_at: String,
    pub expires_at: String,
    pub origin: Origin,
    pub purpose: Purpose,
    pub delivery_method: DeliveryMethod,
    pub usage_count: u32,
    pub max_usage_count: u32,
}

/// The document's time form: seconds, `Z`.
fn solaris_time(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    format!("{}Z", &text[..19])
}

impl From<&Challenge> for ChallengeView {
    fn from(c: &Challenge) -> Self {
        ChallengeView {
            id: c.id.to_string(),
            person_id: c.person_id.clone(),
            code: c.code.clone(),
            created_at: solaris_time(c.created_at),
            expires_at: solaris_time(c.expires_at),
            origin: c.origin,
            purpose: c.purpose,
            delivery_method: c.delivery_method,
            usage_count: c.usage_count,
            max_usage_count: c.max_usage_count,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryEventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub provider: Option<String>,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_details: Option<String>,
}

impl From<&DeliveryEvent> for DeliveryEventView {
    fn from(e: &DeliveryEvent) -> Self {
        DeliveryEventView {
            id: e.id.clone(),
            kind: e.kind.clone(),
            provider: e.provider.clone(),
            timestamp: e.timestamp,
            additional_details: e.additional_details.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_refuses_the_reserved_origin_and_reads_the_query_flag() {
        let body = |json: &str| serde_json::from_str::<CreateChallengeBody>(json).unwrap();
        let ok = body(r#"{"person_id":"p1","origin":"MOBILE_APP"}"#)
            .validate(Some("true"))
            .unwrap();
        assert!(ok.invalidate_existing);
        assert_eq!(ok.purpose, Purpose::DeviceBinding);
        for (bad, query) in [
            (r#"{"person_id":"p1","origin":"SOLARISBANK"}"#, None),
            (r#"{"person_id":"p1","origin":"FAX"}"#, None),
            (r#"{"origin":"WEB"}"#, None),
            (r#"{"person_id":"p 1","origin":"WEB"}"#, None),
            (
                r#"{"person_id":"p1","origin":"WEB","purpose":"OTHER"}"#,
                None,
            ),
            (
                r#"{"person_id":"p1","origin":"WEB","delivery_method":"EMAIL"}"#,
                None,
            ),
            (r#"{"person_id":"p1","origin":"WEB"}"#, Some("yes")),
        ] {
            assert!(body(bad).validate(query).is_err(), "{bad} {query:?}");
        }
    }

    #[test]
    fn views_show_the_documented_time_form() {
        assert_eq!(
            solaris_time(Timestamp::parse_rfc3339("2022-03-18T14:50:04.123Z").unwrap()),
            "2022-03-18T14:50:04Z"
        );
    }
}
