//! Safaricom Daraja's C2B callbacks as they arrive and the answers Daraja
//! reads. Safaricom owns these shapes, so unlike the platform's own routes
//! a field it adds is ignored rather than refused (`docs/api.md`).

use domain::field::FieldError;
use domain::mpesa::{C2bFields, Rejection, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A validation or confirmation body: a JSON object of Daraja's fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct C2bCallback(Map<String, Value>);

impl C2bCallback {
    /// The fields the platform reads, as text. Daraja sends strings; a
    /// whole number is taken as its digits (some gateways relay short codes
    /// and phones as numbers), except in `TransAmount`: money is never a
    /// JSON number.
    pub fn fields(&self) -> Result<C2bFields, FieldError> {
        let text = |name: &str| -> Result<Option<String>, FieldError> {
            match self.0.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(Value::Number(_)) if name == "TransAmount" => Err(FieldError::new(
                    name,
                    "must be a decimal string such as \"10.00\", not a JSON number",
                )),
                Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
                Some(_) => Err(FieldError::new(name, "must be a string")),
            }
        };
        Ok(C2bFields {
            trans_id: text("TransID")?,
            trans_time: text("TransTime")?,
            trans_amount: text("TransAmount")?,
            business_short_code: text("BusinessShortCode")?,
            bill_ref_number: text("BillRefNumber")?,
            msisdn: text("MSISDN")?,
            first_name: text("FirstName")?,
            middle_name: text("MiddleName")?,
            last_name: text("LastName")?,
        })
    }
}

/// Daraja's `ResultCode`: the number 0 to accept, a rejection code string
/// otherwise, as its documentation shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ResultCode {
    Accepted(u8),
    Rejected(&'static str),
}

/// What the validation and confirmation URLs answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct C2bResult {
    #[serde(rename = "ResultCode")]
    pub code: ResultCode,
    #[serde(rename = "ResultDesc")]
    pub description: String,
}

impl C2bResult {
    pub fn validation(verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Accepted => C2bResult {
                code: ResultCode::Accepted(0),
                description: "Accepted".into(),
            },
            Verdict::Rejected { why, detail } => C2bResult {
                code: ResultCode::Rejected(rejection_code(*why)),
                description: format!("Rejected: {detail}"),
            },
        }
    }

    /// The confirmation was taken (or had been, by an earlier delivery).
    pub fn confirmed() -> Self {
        C2bResult {
            code: ResultCode::Accepted(0),
            description: "Success".into(),
        }
    }
}

/// Daraja's C2B rejection codes.
fn rejection_code(why: Rejection) -> &'static str {
    match why {
        Rejection::UnknownAccountNumber => "C2B00012",
        Rejection::InvalidAmount => "C2B00013",
        Rejection::OtherShortCode => "C2B00015",
        Rejection::Other => "C2B00016",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_read_as_daraja_sends_them() {
        let body: C2bCallback = serde_json::from_value(json!({
            "TransactionType": "Pay Bill", "TransID": "RKTQDM7W6S",
            "TransTime": "20261122130000", "TransAmount": "10.00",
            "BusinessShortCode": 600638, "BillRefNumber": "SN-0001",
            "InvoiceNumber": "", "OrgAccountBalance": "49197.00",
            "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126",
            "FirstName": "John", "MiddleName": null, "SomethingNew": {"x": 1}
        }))
        .unwrap();
        let fields = body.fields().unwrap();
        assert_eq!(fields.business_short_code.as_deref(), Some("600638"));
        assert_eq!(fields.trans_amount.as_deref(), Some("10.00"));
        assert_eq!(fields.middle_name, None);
        assert_eq!(fields.last_name, None);
        let number: C2bCallback = serde_json::from_value(json!({"TransAmount": 10.0})).unwrap();
        assert_eq!(number.fields().unwrap_err().field, "TransAmount");
        let list: C2bCallback = serde_json::from_value(json!({"TransID": ["x"]})).unwrap();
        assert_eq!(list.fields().unwrap_err().field, "TransID");
    }

    #[test]
    fn answers_are_daraja_shaped() {
        let accepted = serde_json::to_value(C2bResult::validation(&Verdict::Accepted)).unwrap();
        assert_eq!(accepted, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
        let rejected = C2bResult::validation(&Verdict::Rejected {
            why: Rejection::UnknownAccountNumber,
            detail: "no device has this account number".into(),
        });
        assert_eq!(
            serde_json::to_value(rejected).unwrap(),
            json!({"ResultCode": "C2B00012",
                "ResultDesc": "Rejected: no device has this account number"})
        );
    }
}
