//! OpenPAYGO Metrics' request auth and response signature, as the official
//! `openpaygo` package computes them (`metrics_shared.py`, 0.6.3): a
//! SipHash-2-4 with the device's secret key, written as lowercase hex
//! without leading zeros, after the two letters of the auth method.
//!
//! | method | what is hashed |
//! | --- | --- |
//! | `sa` simple | the serial number |
//! | `ta` timestamp | serial, then `timestamp` (required) |
//! | `ca` counter | serial, then `request_count` (required) |
//! | `da` data | serial, then `timestamp`, `request_count`, `data` and `historical_data`, each when present and not empty |
//! | `ra` recursive data | the hash of the serial, then hashed again with each of `timestamp`, `request_count` (when present), `data`, and each time step of `historical_data` in turn |
//!
//! Numbers and strings join as Python's `str()` writes them, `data` and
//! the rest as its compact `json.dumps` ([`json`]). A condensed request
//! (`sn`, `ts`, `rc`, `d`, `hd`, `a`) is read under the simple names first,
//! as the reference's server side does. Replay protection (a request count
//! or timestamp above the last one accepted) needs the device's stored
//! state and is the server's; [`MetricsRequest`] answers the two values.

pub mod data;
pub mod json;

use json::{JsonError, MetricsValue};

use crate::siphash::siphash24;
use crate::SecretKey;

/// The auth methods of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `sa`: the serial only (the specification does not recommend it).
    Simple,
    /// `ta`: serial and timestamp.
    Timestamp,
    /// `ca`: serial and request count.
    Counter,
    /// `da`: serial, timestamp, request count and the data.
    Data,
    /// `ra`: the same, hashed step by step.
    RecursiveData,
}

impl AuthMethod {
    /// Every method, in the specification's order.
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::Simple,
        AuthMethod::Timestamp,
        AuthMethod::Counter,
        AuthMethod::Data,
        AuthMethod::RecursiveData,
    ];

    /// The method's two letters, which start its signatures.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Simple => "sa",
            AuthMethod::Timestamp => "ta",
            AuthMethod::Counter => "ca",
            AuthMethod::Data => "da",
            AuthMethod::RecursiveData => "ra",
        }
    }

    /// The method with these two letters.
    pub fn parse(text: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// Why a request cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsAuthError {
    /// The body is not JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The body is JSON but not an object.
    #[error("the request is not a JSON object")]
    NotAnObject,
    /// No serial number to find the device by.
    #[error("the request has no serial number (`serial_number` or `sn`) as a string")]
    NoSerial,
    /// No auth to check.
    #[error("the request has no auth (`auth` or `a`) as a string")]
    NoAuth,
    /// The auth's first two letters are no method.
    #[error("the auth names no method of the specification (sa, ta, ca, da, ra)")]
    UnknownMethod,
    /// The method signs a field the request does not have (method, field).
    #[error("the {0} auth method needs `{1}`")]
    MissingField(&'static str, &'static str),
    /// A signed field is an array or object where a number belongs.
    #[error("`{0}` holds a value no device signs")]
    Unsignable(&'static str),
}

/// The condensed names of the request's top-level keys and the response's,
/// each with its simple name (the specification's table).
pub const CONDENSED_NAMES: [(&str, &str); 18] = [
    ("serial_number", "sn"),
    ("timestamp", "ts"),
    ("auth", "a"),
    ("request_count", "rc"),
    ("data_collection_timestamp", "dtc"),
    ("data_format_id", "df"),
    ("data_format", "dfo"),
    ("data", "d"),
    ("historical_data", "hd"),
    ("accessories", "acc"),
    ("token_list", "tkl"),
    ("active_until_timestamp", "auts"),
    ("active_seconds_left", "asl"),
    ("settings", "st"),
    ("extra_data", "ed"),
    ("token_count", "tc"),
    ("active_until_timestamp_requested", "autsr"),
    ("active_seconds_left_requested", "aslr"),
];

/// An object's keys under their simple names, in order; a key that is
/// both condensed and simple in one object ends as the later one, as in
/// the reference.
pub fn to_simple_names(fields: &[(String, MetricsValue)]) -> Vec<(String, MetricsValue)> {
    renamed(fields, |(simple, condensed)| (condensed, simple))
}

/// An object's keys under their condensed names, in order.
pub fn to_condensed_names(fields: &[(String, MetricsValue)]) -> Vec<(String, MetricsValue)> {
    renamed(fields, |(simple, condensed)| (simple, condensed))
}

/// `fields` with each key found as the first of a pair `direction` makes
/// of a `CONDENSED_NAMES` entry replaced by the second, in order, a
/// repeated name keeping its first place and its last value.
fn renamed(
    fields: &[(String, MetricsValue)],
    direction: fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Vec<(String, MetricsValue)> {
    let mut out = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let name = CONDENSED_NAMES
            .iter()
            .map(|&pair| direction(pair))
            .find(|(from, _)| from == key)
            .map_or(key.as_str(), |(_, to)| to);
        MetricsValue::insert(&mut out, name.to_owned(), value.clone());
    }
    out
}

/// `generate_hash_string`: SipHash-2-4 of the UTF-8 text, lowercase hex
/// with no leading zeros.
pub fn hash_string(text: &str, key: &SecretKey) -> String {
    format!("{:x}", siphash24(key.as_bytes(), text.as_bytes()))
}

/// A device's request, read under the simple names.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRequest {
    /// Every top-level field, under its simple name, in arrival order.
    pub fields: Vec<(String, MetricsValue)>,
    /// The device's serial number.
    pub serial_number: String,
    /// The auth as sent: the method's two letters and the hash.
    pub auth: String,
}

impl MetricsRequest {
    /// Reads a request body (simple or condensed); it is not checked yet.
    pub fn parse(body: &str) -> Result<MetricsRequest, MetricsAuthError> {
        let MetricsValue::Object(fields) = MetricsValue::parse(body)? else {
            return Err(MetricsAuthError::NotAnObject);
        };
        let fields = to_simple_names(&fields);
        let text = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| match v {
                    MetricsValue::String(s) => Some(s.clone()),
                    _ => None,
                })
        };
        let serial_number = text("serial_number").ok_or(MetricsAuthError::NoSerial)?;
        let auth = text("auth").ok_or(MetricsAuthError::NoAuth)?;
        Ok(MetricsRequest {
            fields,
            serial_number,
            auth,
        })
    }

    /// A top-level field by its simple name.
    pub fn field(&self, name: &str) -> Option<&MetricsValue> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A field the reference joins to the payload only when it is truthy.
    fn truthy(&self, name: &str) -> Option<&MetricsValue> {
        self.field(name).filter(|v| v.is_truthy())
    }

    /// The method the auth names.
    pub fn method(&self) -> Result<AuthMethod, MetricsAuthError> {
        self.auth
            .get(..2)
            .and_then(AuthMethod::parse)
            .ok_or(MetricsAuthError::UnknownMethod)
    }

    /// `request_count`, when the request has one that counts (truthy).
    pub fn request_count(&self) -> Option<&MetricsValue> {
        self.truthy("request_count")
    }

    /// `timestamp`, when the request has one that counts (truthy).
    pub fn timestamp(&self) -> Option<&MetricsValue> {
        self.truthy("timestamp")
    }

    /// The auth the device would have sent with `method` and `key`.
    pub fn signature(
        &self,
        method: AuthMethod,
        key: &SecretKey,
    ) -> Result<String, MetricsAuthError> {
        let scalar = |name: &'static str| -> Result<Option<String>, MetricsAuthError> {
            self.truthy(name)
                .map(|v| v.python_str().ok_or(MetricsAuthError::Unsignable(name)))
                .transpose()
        };
        let serial = &self.serial_number;
        let hash = match method {
            AuthMethod::Simple => hash_string(serial, key),
            AuthMethod::Timestamp => {
                let ts = scalar("timestamp")?
                    .ok_or(MetricsAuthError::MissingField("ta", "timestamp"))?;
                hash_string(&format!("{serial}{ts}"), key)
            }
            AuthMethod::Counter => {
                let rc = scalar("request_count")?
                    .ok_or(MetricsAuthError::MissingField("ca", "request_count"))?;
                hash_string(&format!("{serial}{rc}"), key)
            }
            AuthMethod::Data => {
                let mut payload = serial.clone();
                for name in ["timestamp", "request_count"] {
                    if let Some(text) = scalar(name)? {
                        payload.push_str(&text);
                    }
                }
                for name in ["data", "historical_data"] {
                    if let Some(value) = self.truthy(name) {
                        payload.push_str(&value.to_metrics_json());
                    }
                }
                hash_string(&payload, key)
            }
            AuthMethod::RecursiveData => {
                let mut chained = hash_string(serial, key);
                for name in ["timestamp", "request_count"] {
                    if let Some(text) = scalar(name)? {
                        chained = hash_string(&format!("{chained}{text}"), key);
                    }
                }
                // A missing `data` joins as the reference's default, `[]`.
                let data = self
                    .field("data")
                    .map_or_else(|| "[]".to_owned(), MetricsValue::to_metrics_json);
                chained = hash_string(&format!("{chained}{data}"), key);
                // Python iterates a list's items and a dict's keys.
                let steps: Vec<String> = match self.field("historical_data") {
                    None => Vec::new(),
                    Some(MetricsValue::Array(items)) => {
                        items.iter().map(MetricsValue::to_metrics_json).collect()
                    }
                    Some(MetricsValue::Object(fields)) => fields
                        .iter()
                        .map(|(k, _)| MetricsValue::String(k.clone()).to_metrics_json())
                        .collect(),
                    Some(_) => return Err(MetricsAuthError::Unsignable("historical_data")),
                };
                for step in steps {
                    chained = hash_string(&format!("{chained}{step}"), key);
                }
                chained
            }
        };
        Ok(format!("{}{hash}", method.as_str()))
    }

    /// Whether the request's auth is the one `key` gives, compared in
    /// constant time. Answers the method it used.
    pub fn verify(&self, key: &SecretKey) -> Result<Option<AuthMethod>, MetricsAuthError> {
        let method = self.method()?;
        let expected = self.signature(method, key)?;
        Ok(constant_time_eq(expected.as_bytes(), self.auth.as_bytes()).then_some(method))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `generate_response_signature_from_data`: the `a` of an answer whose
/// fields (`response`, under simple names) carry more than tokens, for the
/// request's serial, timestamp and request count.
pub fn response_signature(
    serial_number: &str,
    timestamp: Option<&MetricsValue>,
    request_count: Option<&MetricsValue>,
    response: &[(String, MetricsValue)],
    key: &SecretKey,
) -> String {
    fn truthy(v: Option<&MetricsValue>) -> Option<&MetricsValue> {
        v.filter(|v| v.is_truthy())
    }
    let field = |name: &str| truthy(response.iter().find(|(k, _)| k == name).map(|(_, v)| v));
    let mut payload = serial_number.to_owned();
    for value in [
        truthy(timestamp),
        truthy(request_count),
        field("active_until_timestamp"),
        field("active_seconds_left"),
    ]
    .into_iter()
    .flatten()
    {
        payload.push_str(
            &value
                .python_str()
                .unwrap_or_else(|| value.to_metrics_json()),
        );
    }
    for name in ["token_list", "settings", "extra_data"] {
        if let Some(value) = field(name) {
            payload.push_str(&value.to_metrics_json());
        }
    }
    format!(
        "{}{}",
        AuthMethod::Data.as_str(),
        hash_string(&payload, key)
    )
}

/// The answer to `request` carrying `fields` (simple names: `token_list`,
/// `active_until_timestamp`, `settings`, ...), signed with `key` when one
/// is given (`auth`, the response signature over the request's serial,
/// timestamp and request count), in condensed names when `condensed`, as
/// the reference's `get_answer_dict` always writes it.
pub fn answer(
    request: &MetricsRequest,
    fields: &[(String, MetricsValue)],
    key: Option<&SecretKey>,
    condensed: bool,
) -> MetricsValue {
    let mut answer = fields.to_vec();
    if let Some(key) = key {
        let signature = response_signature(
            &request.serial_number,
            request.field("timestamp"),
            request.field("request_count"),
            fields,
            key,
        );
        MetricsValue::insert(&mut answer, "auth".into(), MetricsValue::String(signature));
    }
    if condensed {
        answer = to_condensed_names(&answer);
    }
    MetricsValue::Object(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_hex("a29ab82edc5fbbc41ec9530f6dac86b1").unwrap()
    }

    #[test]
    fn a_request_signed_with_one_key_fails_with_another_and_when_changed() {
        let body = r#"{"sn":"SN1","ts":1700000000,"d":[1,2.5],"a":"da0"}"#;
        let unsigned = MetricsRequest::parse(body).unwrap();
        let auth = unsigned.signature(AuthMethod::Data, &key()).unwrap();
        let signed = body.replace("da0", &auth);
        let request = MetricsRequest::parse(&signed).unwrap();
        assert_eq!(request.verify(&key()), Ok(Some(AuthMethod::Data)));
        let other = SecretKey::from_hex("00000000000000000000000000000001").unwrap();
        assert_eq!(request.verify(&other), Ok(None));
        let changed = MetricsRequest::parse(&signed.replace("2.5", "2.6")).unwrap();
        assert_eq!(changed.verify(&key()), Ok(None));
    }

    #[test]
    fn bad_requests_say_why() {
        assert_eq!(
            MetricsRequest::parse("[]"),
            Err(MetricsAuthError::NotAnObject)
        );
        assert_eq!(
            MetricsRequest::parse(r#"{"sn":1,"a":"sa1"}"#),
            Err(MetricsAuthError::NoSerial)
        );
        assert_eq!(
            MetricsRequest::parse(r#"{"sn":"S"}"#),
            Err(MetricsAuthError::NoAuth)
        );
        let request = MetricsRequest::parse(r#"{"sn":"S","a":"xx1"}"#).unwrap();
        assert_eq!(request.verify(&key()), Err(MetricsAuthError::UnknownMethod));
        let request = MetricsRequest::parse(r#"{"sn":"S","a":"ta1"}"#).unwrap();
        assert_eq!(
            request.verify(&key()),
            Err(MetricsAuthError::MissingField("ta", "timestamp"))
        );
        let request = MetricsRequest::parse(r#"{"sn":"S","rc":[1],"a":"ca1"}"#).unwrap();
        assert_eq!(
            request.verify(&key()),
            Err(MetricsAuthError::Unsignable("request_count"))
        );
    }
}
