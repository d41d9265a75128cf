//! Business metrics as CloudWatch embedded-metric-format (EMF) lines: JSON
//! on stdout that CloudWatch Logs turns into metrics, with no API call and
//! no SDK. Only on Lambda; locally and in tests nothing is printed.

use std::sync::OnceLock;

use serde_json::json;

pub const NAMESPACE: &str = "ActivationPlatform";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Codes issued by `POST /codes`.
    CodesIssued,
    /// Batch items the worker finished (issued or failed for good).
    BatchItemsProcessed,
    /// Requests answered 401, on any route.
    AuthFailures,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::CodesIssued => "CodesIssued",
            Metric::BatchItemsProcessed => "BatchItemsProcessed",
            Metric::AuthFailures => "AuthFailures",
        }
    }
}

/// The function name the metrics carry as their dimension, once enabled.
static FUNCTION: OnceLock<String> = OnceLock::new();

/// Turns metrics on for this process, named after the Lambda function
/// (`telemetry::init` does it when `AWS_LAMBDA_FUNCTION_NAME` is set).
pub fn enable(function: &str) {
    let _ = FUNCTION.set(function.to_owned());
}

pub fn record(metric: Metric, value: u64) {
    if let Some(function) = FUNCTION.get() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        println!("{}", emf_line(function, metric, value, now));
    }
}

/// One EMF document: the metric under `NAMESPACE`, by `Function`.
pub fn emf_line(function: &str, metric: Metric, value: u64, at_millis: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": at_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        },
        "Function": function,
        metric.name(): value,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_document() {
        let line = emf_line("codes-fn", Metric::CodesIssued, 3, 1_700_000_000_000);
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["CodesIssued"], 3);
        assert_eq!(doc["Function"], "codes-fn");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], "CodesIssued");
        assert_eq!(directive["Dimensions"][0][0], "Function");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert!(!line.contains('\n'));
    }
}
