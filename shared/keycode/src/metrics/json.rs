//! JSON as OpenPAYGO Metrics signs it. The reference signs the compact text
//! Python's `json.dumps(value, separators=(",", ":"))` writes for the value
//! `json.loads` read from the request, so a verifier has to write the same
//! bytes: object keys in the order they arrived (a repeated key keeps its
//! first place and its last value), non-ASCII and control characters as
//! `\uXXXX`, integers digit for digit, and floats the way Python's `repr`
//! writes them (`230.0`, `1e-05`, `1e+16`).

use std::fmt::Write as _;

/// How deep arrays and objects may nest; deeper input is refused rather
/// than risking the stack.
const MAX_DEPTH: usize = 64;

/// A JSON value that remembers its object keys' order.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer as its digits (Python's ints have no size limit).
    Int(String),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<MetricsValue>),
    /// An object's fields in arrival order, each key once.
    Object(Vec<(String, MetricsValue)>),
}

/// Why a body is not JSON this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the body is not valid JSON: {reason} at byte {at}")]
pub struct JsonError {
    /// What is wrong.
    pub reason: &'static str,
    /// The byte offset it was found at.
    pub at: usize,
}

impl MetricsValue {
    /// Reads one JSON document (whitespace around it allowed).
    pub fn parse(text: &str) -> Result<MetricsValue, JsonError> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            text,
            at: 0,
        };
        parser.skip_whitespace();
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.at != parser.bytes.len() {
            return Err(parser.error("text after the document"));
        }
        Ok(value)
    }

    /// The value under `key` in an object; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&MetricsValue> {
        match self {
            MetricsValue::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key`, in place when the object has it already, as a Python
    /// dict does.
    pub fn insert(fields: &mut Vec<(String, MetricsValue)>, key: String, value: MetricsValue) {
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => fields.push((key, value)),
        }
    }

    /// Python's truth value: empty, zero, false and null are false.
    pub fn is_truthy(&self) -> bool {
        match self {
            MetricsValue::Null => false,
            MetricsValue::Bool(b) => *b,
            MetricsValue::Int(digits) => digits != "0",
            MetricsValue::Float(f) => *f != 0.0,
            MetricsValue::String(s) => !s.is_empty(),
            MetricsValue::Array(items) => !items.is_empty(),
            MetricsValue::Object(fields) => !fields.is_empty(),
        }
    }

    /// What Python's `str()` gives for a scalar; `None` for arrays and
    /// objects, whose `str()` no device signs.
    pub fn python_str(&self) -> Option<String> {
        Some(match self {
            MetricsValue::Null => "None".to_owned(),
            MetricsValue::Bool(true) => "True".to_owned(),
            MetricsValue::Bool(false) => "False".to_owned(),
            MetricsValue::Int(digits) => digits.clone(),
            MetricsValue::Float(f) => python_float(*f),
            MetricsValue::String(s) => s.clone(),
            MetricsValue::Array(_) | MetricsValue::Object(_) => return None,
        })
    }

    /// The compact text `json.dumps(value, separators=(",", ":"))` writes.
    pub fn to_metrics_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            MetricsValue::Null => out.push_str("null"),
            MetricsValue::Bool(true) => out.push_str("true"),
            MetricsValue::Bool(false) => out.push_str("false"),
            MetricsValue::Int(digits) => out.push_str(digits),
            MetricsValue::Float(f) => out.push_str(&python_float(*f)),
            MetricsValue::String(s) => write_string(s, out),
            MetricsValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            MetricsValue::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A string as `json.dumps` writes it with `ensure_ascii`: printable ASCII
/// as itself, the short escapes, everything else as `\uXXXX` (UTF-16).
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A float as Python's `repr` writes it: the shortest digits that read
/// back as the same float, in positional form when the decimal point falls
/// from 4 places left of the first digit to 16 right of it, in exponent
/// form (`1e-05`, `1.5e+16`) otherwise, and always with a `.0` when
/// positional and whole.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the same shortest digits: `d.ddde<exp>`.
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Where the point goes, counted from the left of the first digit.
    let point = exponent + 1;
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let body = if (-3..=16).contains(&point) {
        let count = i32::try_from(digits.len()).expect("a float has at most 17 digits");
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point >= count {
            format!("{digits}{}.0", "0".repeat((point - count) as usize))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{first}{fraction}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        )
    };
    format!("{sign}{body}")
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            reason,
            at: self.at,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn expect_literal(
        &mut self,
        literal: &str,
        value: MetricsValue,
    ) -> Result<MetricsValue, JsonError> {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            Ok(value)
        } else {
            Err(self.error("an unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<MetricsValue, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting deeper than 64 levels"));
        }
        match self.bytes.get(self.at) {
            None => Err(self.error("the document ends early")),
            Some(b'n') => self.expect_literal("null", MetricsValue::Null),
            Some(b't') => self.expect_literal("true", MetricsValue::Bool(true)),
            Some(b'f') => self.expect_literal("false", MetricsValue::Bool(false)),
            Some(b'"') => Ok(MetricsValue::String(self.string()?)),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(MetricsValue::Array(items));
                }
                loop {
                    self.skip_whitespace();
                    items.push(self.value(depth + 1)?);
                    self.skip_whitespace();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(MetricsValue::Array(items));
                        }
                        _ => return Err(self.error("an array without its ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.skip_whitespace();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(MetricsValue::Object(fields));
                }
                loop {
                    self.skip_whitespace();
                    if self.bytes.get(self.at) != Some(&b'"') {
                        return Err(self.error("an object key that is not a string"));
                    }
                    let key = self.string()?;
                    self.skip_whitespace();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return Err(self.error("an object key without its ':'"));
                    }
                    self.at += 1;
                    self.skip_whitespace();
                    let value = self.value(depth + 1)?;
                    MetricsValue::insert(&mut fields, key, value);
                    self.skip_whitespace();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(MetricsValue::Object(fields));
                        }
                        _ => return Err(self.error("an object without its ',' or '}'")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("an unexpected character")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<MetricsValue, JsonError> {
        let start = self.at;
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        let first = self.at;
        let whole = self.digits();
        if whole == 0 || (whole > 1 && self.bytes[first] == b'0') {
            return Err(self.error("a malformed number"));
        }
        let mut float = false;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            float = true;
            if self.digits() == 0 {
                return Err(self.error("a malformed number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            float = true;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("a malformed number"));
            }
        }
        let text = &self.text[start..self.at];
        if float {
            let value: f64 = text.parse().map_err(|_| self.error("a malformed number"))?;
            if value.is_infinite() {
                return Err(self.error("a number too large for a float"));
            }
            Ok(MetricsValue::Float(value))
        } else if text == "-0" {
            Ok(MetricsValue::Int("0".to_owned()))
        } else {
            Ok(MetricsValue::Int(text.to_owned()))
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let hex = self
            .text
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("a short \\u escape"))?;
        let unit =
            u16::from_str_radix(hex, 16).map_err(|_| self.error("a malformed \\u escape"))?;
        self.at += 4;
        Ok(unit)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[start..self.at]);
            match self.bytes.get(self.at) {
                None => return Err(self.error("a string that does not end")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escape = *self
                        .bytes
                        .get(self.at)
                        .ok_or_else(|| self.error("a string that does not end"))?;
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&unit) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err(self.error("a lone surrogate"));
                                }
                                self.at += 2;
                                let low = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return Err(self.error("a lone surrogate"));
                                }
                                let code = 0x10000
                                    + ((u32::from(unit) - 0xd800) << 10)
                                    + (u32::from(low) - 0xdc00);
                                char::from_u32(code)
                            } else {
                                char::from_u32(u32::from(unit))
                            };
                            out.push(c.ok_or_else(|| self.error("a lone surrogate"))?);
                        }
                        _ => return Err(self.error("an unknown escape")),
                    }
                }
                Some(_) => return Err(self.error("a control character in a string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_writes_them() {
        for (f, text) in [
            (230.0, "230.0"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (-7.5, "-7.5"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (2.71, "2.71"),
            (123456789.125, "123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(python_float(f), text, "{f}");
        }
    }

    #[test]
    fn text_round_trips_in_the_reference_s_compact_form() {
        let cases = [
            (
                r#" { "b" : 1 , "a" : [ true, null, -0, 2.50 ] } "#,
                r#"{"b":1,"a":[true,null,0,2.5]}"#,
            ),
            (
                r#"{"s":"é\u00e9☃\ud83d\ude00\n\u007f/\/"}"#,
                r#"{"s":"\u00e9\u00e9\u2603\ud83d\ude00\n\u007f//"}"#,
            ),
            (r#"{"k":1,"j":2,"k":3}"#, r#"{"k":3,"j":2}"#),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
        ];
        for (text, compact) in cases {
            assert_eq!(
                MetricsValue::parse(text).unwrap().to_metrics_json(),
                compact,
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_text_is_refused_with_where() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "01",
            "1.",
            "-",
            "\"\\ud800\"",
            "\"\u{1}\"",
            "[1] x",
            "NaN",
            "1e999",
            "{1:2}",
        ] {
            assert!(MetricsValue::parse(text).is_err(), "{text:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(MetricsValue::parse(&deep).is_err());
    }

    #[test]
    fn truth_and_str_follow_python() {
        let v = MetricsValue::parse(r#"[0, 0.0, "", [], {}, null, false, 7, "x"]"#).unwrap();
        let MetricsValue::Array(items) = v else {
            panic!()
        };
        let truthy: Vec<bool> = items.iter().map(MetricsValue::is_truthy).collect();
        assert_eq!(
            truthy,
            [false, false, false, false, false, false, false, true, true]
        );
        assert_eq!(items[7].python_str().as_deref(), Some("7"));
        assert_eq!(
            MetricsValue::Bool(true).python_str().as_deref(),
            Some("True")
        );
        assert_eq!(
            MetricsValue::Float(2.0).python_str().as_deref(),
            Some("2.0")
        );
    }
}
