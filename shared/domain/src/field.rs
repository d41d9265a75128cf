//! A request value that failed validation, named by its field. Every
//! aggregate's error has an `InvalidField` case built from this, so the
//! value types in leaf and aggregate modules can refuse input without
//! knowing whose error they feed.

/// Which field was refused and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
