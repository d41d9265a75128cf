//! The three licensing APIs' wire shapes, one file per API family: request
//! bodies and parameters as they arrive, their validation into the
//! licensing commands, and the views each answer shows. The field checks
//! they share are here.

pub mod amino;
pub mod subscription;
pub mod vendor;

pub use amino::*;
pub use subscription::*;
pub use vendor::*;

use serde::{Deserialize, Deserializer};

use domain::clock::Timestamp;
use domain::licensing::*;
use domain::paging::Page;

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

fn time_field(field: &str, value: &Option<String>) -> Result<Option<Timestamp>, LicenseError> {
    Ok(value
        .as_deref()
        .map(|text| crate::time(field, text))
        .transpose()?)
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
        let account = domain::clients::AccountId::parse("ck_a").unwrap();
        let now = Timestamp::from_millis(0);
        let parse = |json: &str| serde_json::from_str::<QueryBody>(json).unwrap();
        assert_eq!(
            parse(r#"{"offset":0}"#).validate(&account, now).unwrap().1,
            None
        );
        let id = LicenseId::generate();
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
