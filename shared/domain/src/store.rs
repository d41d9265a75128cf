//! What a store operation can fail with, for every port.

/// Why a store operation failed. Only `Unavailable` and `Corrupt` are the
/// store's fault; the others are outcomes the domain turns into answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A create met an existing record, or a single-use value was used.
    #[error("the record already exists")]
    AlreadyExists,
    /// An update named a record that does not exist.
    #[error("the record does not exist")]
    NotFound,
    /// A conditional write lost a race: the record changed since it was read.
    #[error("the record changed since it was read")]
    Conflict,
    /// The store could not be reached or refused the call.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back into the domain's types.
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}
