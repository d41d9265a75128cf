//! OpenPAYGO Metrics auth and response signatures against the official
//! `openpaygo` package, through the vectors `scripts/generate_metrics_vectors.py`
//! wrote: every request `MetricsRequestHandler` built verifies with its
//! device's key, in every method and both forms, and no longer does with
//! one digit of its serial changed; every request expands to the simple
//! form `get_simple_metrics` gave; every response signature is the one
//! `generate_response_signature_from_data` gave.

use std::collections::BTreeSet;

use keycode::metrics::data::{simple_metrics, DataFormat};
use keycode::metrics::json::MetricsValue;
use keycode::metrics::{answer, response_signature, AuthMethod, MetricsRequest};
use keycode::SecretKey;
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/../../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| serde_json::from_str(line).expect("vector line is JSON"))
        .collect()
}

fn key(v: &Value) -> SecretKey {
    SecretKey::from_hex(v["key"].as_str().unwrap()).unwrap()
}

#[test]
fn every_reference_request_verifies_and_a_changed_one_does_not() {
    let vectors = load("metrics_requests.jsonl");
    let mut covered = BTreeSet::new();
    for v in &vectors {
        let body = v["body"].as_str().unwrap();
        let request = MetricsRequest::parse(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let method = AuthMethod::parse(v["method"].as_str().unwrap()).unwrap();
        assert_eq!(request.verify(&key(v)), Ok(Some(method)), "{body}");
        covered.insert((
            method.as_str(),
            v["form"].as_str().unwrap().to_owned(),
            v["historical"].as_bool().unwrap(),
        ));

        // One digit of the serial changed: every method signs the serial.
        let serial = &request.serial_number;
        let position = serial.rfind(|c: char| c.is_ascii_digit()).unwrap();
        let mut changed_serial = serial.clone();
        let digit = serial.as_bytes()[position];
        let replacement = if digit == b'9' {
            '0'
        } else {
            char::from(digit + 1)
        };
        changed_serial.replace_range(position..=position, &replacement.to_string());
        let changed = body.replacen(serial.as_str(), &changed_serial, 1);
        let changed = MetricsRequest::parse(&changed).unwrap();
        assert_eq!(changed.verify(&key(v)), Ok(None), "{body}");
    }
    assert_eq!(covered.len(), 5 * 2 * 2, "{covered:?}");
}

#[test]
fn data_methods_notice_a_changed_value() {
    let vectors = load("metrics_requests.jsonl");
    let mut checked = 0;
    for v in vectors
        .iter()
        .filter(|v| matches!(v["method"].as_str(), Some("da" | "ra")))
    {
        let body = v["body"].as_str().unwrap();
        let request = MetricsRequest::parse(body).unwrap();
        let Some(data) = request.field("data").filter(|d| d.is_truthy()) else {
            continue;
        };
        let text = data.to_metrics_json();
        // Change the data's first digit, if it has one.
        let Some(position) = text.find(|c: char| c.is_ascii_digit()) else {
            continue;
        };
        let digit = text.as_bytes()[position];
        let replacement = if digit == b'9' {
            '8'
        } else {
            char::from(digit + 1)
        };
        let mut changed_text = text.clone();
        changed_text.replace_range(position..=position, &replacement.to_string());
        let changed = body.replacen(&text, &changed_text, 1);
        assert_ne!(changed, body);
        let changed = MetricsRequest::parse(&changed).unwrap();
        assert_eq!(changed.verify(&key(v)), Ok(None), "{body}");
        checked += 1;
    }
    assert!(checked >= 50, "{checked}");
}

#[test]
fn every_reference_response_signature_is_ours() {
    for v in load("metrics_responses.jsonl") {
        let MetricsValue::Object(response) =
            MetricsValue::parse(v["response"].as_str().unwrap()).unwrap()
        else {
            panic!("a response is an object");
        };
        let number = |field: &str| v[field].as_i64().map(|n| MetricsValue::Int(n.to_string()));
        let (timestamp, request_count) = (number("timestamp"), number("requestCount"));
        let ours = response_signature(
            v["serial"].as_str().unwrap(),
            timestamp.as_ref(),
            request_count.as_ref(),
            &response,
            &key(&v),
        );
        assert_eq!(ours, v["signature"].as_str().unwrap(), "{v}");
    }
}

/// What the reference's `get_simple_metrics` made of each request, with
/// the data format it was given: data and time steps named, every step
/// timed.
#[test]
fn every_reference_request_expands_as_the_reference_expands_it() {
    let mut forms = BTreeSet::new();
    for file in ["metrics_requests.jsonl", "metrics_expanded.jsonl"] {
        for v in load(file) {
            let body = v["body"].as_str().unwrap();
            let request = MetricsRequest::parse(body).unwrap();
            let format =
                DataFormat::from_value(&MetricsValue::parse(&v["format"].to_string()).unwrap())
                    .unwrap();
            // Every vector has a time of its own, so the reception time
            // must not show.
            let simple = simple_metrics(&request, Some(&format), -1)
                .unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(
                simple.to_metrics_json(),
                v["simple"].as_str().unwrap(),
                "{body}"
            );
            forms.insert(v["form"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(forms.len(), 3, "{forms:?}");
}

/// The reference's signed, condensed answer to each request, for the
/// fields it was given.
#[test]
fn every_reference_answer_is_ours() {
    let mut signed_more_than_tokens = 0;
    for v in load("metrics_requests.jsonl") {
        let request = MetricsRequest::parse(v["body"].as_str().unwrap()).unwrap();
        let MetricsValue::Object(fields) =
            MetricsValue::parse(v["fields"].as_str().unwrap()).unwrap()
        else {
            panic!("the fields are an object");
        };
        let ours = answer(&request, &fields, Some(&key(&v)), true);
        assert_eq!(ours.to_metrics_json(), v["answer"].as_str().unwrap(), "{v}");
        if fields.iter().any(|(k, _)| k != "token_list") {
            signed_more_than_tokens += 1;
        }
    }
    assert!(signed_more_than_tokens >= 100, "{signed_more_than_tokens}");
}
