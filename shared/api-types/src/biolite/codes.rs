//! `POST /codes` and `GET /codes`: the code request, the listing
//! parameters and the page the listing answers.

use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::codes::{CodeOrder, CodePosition, CodeQuery, CodeRecord, CodesError, MAX_DAYS};
use domain::devices::SerialNumber;
use domain::ids::BatchId;
use domain::paging::{page_limit, Page, SortOrder};
use keycode::CodeType;
use serde::{Deserialize, Serialize};

use super::devices::SerialInput;
use crate::time_or;

/// The body of `POST /codes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeRequest {
    pub serial_num: SerialInput,
    pub code_type: Option<String>,
    pub arg: Option<i64>,
    /// Deprecated: with no `codeType`, the days of an `add_time` code.
    pub data: Option<i64>,
}

impl CodeRequest {
    pub fn validate(&self) -> Result<CodeOrder, CodesError> {
        let serial = self.serial_num.parse()?;
        let (code_type, arg) = match (&self.code_type, self.data) {
            (Some(name), _) => {
                let code_type = name.parse::<CodeType>().map_err(|_| {
                    CodesError::invalid(
                        "codeType",
                        "must be one of add_time, set_time, 1_hour, 1_minute, credit_reset, history_reset, full_reset, unlock",
                    )
                })?;
                (code_type, self.arg)
            }
            (None, Some(data)) => (CodeType::AddTime, Some(data)),
            (None, None) => return Err(CodesError::invalid("codeType", "is required")),
        };
        let arg = if code_type.takes_days() {
            let field = if self.code_type.is_some() {
                "arg"
            } else {
                "data"
            };
            let days = arg.ok_or_else(|| {
                CodesError::invalid(field, &format!("is required for {code_type}"))
            })?;
            if !(0..=MAX_DAYS).contains(&days) {
                return Err(CodesError::invalid(
                    field,
                    &format!("must be 0-{MAX_DAYS} days for {code_type}"),
                ));
            }
            u32::try_from(days).expect("checked range")
        } else {
            0
        };
        Ok(CodeOrder {
            serial,
            code_type,
            arg,
        })
    }
}

/// `GET /codes` parameters as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCodesParams {
    pub serial_num: Option<String>,
    pub code_type: Option<String>,
    pub batch_id: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub order: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl ListCodesParams {
    pub fn into_query(self, account: &AccountId) -> Result<CodeQuery, CodesError> {
        let created_from = time_or("createdFrom", self.created_from.as_deref(), Timestamp::MIN)?;
        let created_to = time_or("createdTo", self.created_to.as_deref(), Timestamp::MAX)?;
        if created_from > created_to {
            return Err(CodesError::invalid("createdFrom", "is after createdTo"));
        }
        let order = match self.order.as_deref() {
            None | Some("desc") => SortOrder::Descending,
            Some("asc") => SortOrder::Ascending,
            Some(_) => return Err(CodesError::invalid("order", "must be asc or desc")),
        };
        let code_type = self
            .code_type
            .as_deref()
            .map(|name| {
                name.parse::<CodeType>()
                    .map_err(|_| CodesError::invalid("codeType", "is not a code type"))
            })
            .transpose()?;
        let batch_id = self
            .batch_id
            .as_deref()
            .map(|id| {
                BatchId::parse(id)
                    .ok_or_else(|| CodesError::invalid("batchId", "is not a batch id"))
            })
            .transpose()?;
        Ok(CodeQuery {
            account: account.clone(),
            serial: self
                .serial_num
                .as_deref()
                .map(SerialNumber::parse)
                .transpose()?,
            code_type,
            batch_id,
            created_from,
            created_to,
            order,
            limit: page_limit("limit", self.limit.as_deref())?,
            after: self
                .cursor
                .as_deref()
                .map(CodePosition::from_cursor)
                .transpose()?,
        })
    }
}

/// An issued code as `POST /codes` and `GET /codes` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeView {
    pub id: String,
    pub serial_num: String,
    pub code_type: &'static str,
    pub arg: u32,
    pub code: String,
    pub count: u32,
    pub created_at: Timestamp,
    pub client_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

impl From<&CodeRecord> for CodeView {
    fn from(code: &CodeRecord) -> Self {
        CodeView {
            id: code.id.clone(),
            serial_num: code.serial_num.as_str().to_owned(),
            code_type: code.code_type.as_str(),
            arg: code.arg,
            code: code.code.clone(),
            count: code.count,
            created_at: code.created_at,
            client_key: code.account.as_str().to_owned(),
            batch_id: code.batch_id.as_ref().map(BatchId::to_string),
        }
    }
}

/// One page of codes as the API answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeListing {
    pub codes: Vec<CodeView>,
    pub next_cursor: Option<String>,
}

impl From<Page<CodeRecord, CodePosition>> for CodeListing {
    fn from(page: Page<CodeRecord, CodePosition>) -> Self {
        CodeListing {
            codes: page.items.iter().map(CodeView::from).collect(),
            next_cursor: page.next.map(|p| p.to_cursor()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::clients::AccountId;

    fn request(json: &str) -> Result<CodeOrder, CodesError> {
        serde_json::from_str::<CodeRequest>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn code_type_and_arg_override_the_deprecated_data() {
        let order = request(r#"{"serialNum": 7, "codeType": "set_time", "arg": 3, "data": 9}"#);
        assert_eq!(order.unwrap().arg, 3);
        let legacy = request(r#"{"serialNum": "7", "data": 9}"#).unwrap();
        assert_eq!((legacy.code_type, legacy.arg), (CodeType::AddTime, 9));
        let ignored = request(r#"{"serialNum": "7", "codeType": "unlock", "arg": 5000}"#).unwrap();
        assert_eq!(ignored.arg, 0);
    }

    #[test]
    fn refuses_missing_or_out_of_range_fields() {
        let field = |json: &str| match request(json) {
            Err(CodesError::InvalidField { field, .. }) => field,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(field(r#"{"serialNum": "7"}"#), "codeType");
        assert_eq!(
            field(r#"{"serialNum": "7", "codeType": "nope"}"#),
            "codeType"
        );
        assert_eq!(
            field(r#"{"serialNum": "7", "codeType": "add_time"}"#),
            "arg"
        );
        assert_eq!(
            field(r#"{"serialNum": "7", "codeType": "add_time", "arg": 1000}"#),
            "arg"
        );
        assert_eq!(
            field(r#"{"serialNum": "7", "codeType": "add_time", "arg": -1}"#),
            "arg"
        );
        assert_eq!(field(r#"{"serialNum": "7", "data": 1000}"#), "data");
        assert_eq!(
            field(r#"{"serialNum": "", "codeType": "unlock"}"#),
            "serialNum"
        );
    }

    #[test]
    fn list_parameters_are_checked() {
        let account = AccountId::parse("ck_test").unwrap();
        let params = |limit: &str, order: &str| ListCodesParams {
            limit: Some(limit.into()),
            order: Some(order.into()),
            ..Default::default()
        };
        assert!(params("100", "asc").into_query(&account).is_ok());
        assert!(params("0", "asc").into_query(&account).is_err());
        assert!(params("101", "asc").into_query(&account).is_err());
        assert!(params("10", "sideways").into_query(&account).is_err());
        let reversed = ListCodesParams {
            created_from: Some("2026-02-01T00:00:00Z".into()),
            created_to: Some("2026-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(reversed.into_query(&account).is_err());
    }
}
