//! API keys: the `Authorization: Apikey KEY` credential of the licensing
//! APIs. A key belongs to one account (client), is shown once when the admin
//! CLI creates it, and is stored only as its SHA-256 hash.

use serde::{Deserialize, Serialize};

use crate::clients::secrets::{self, Credential};
use crate::clients::AccountId;
use crate::clock::Timestamp;

/// What every API key starts with.
const PREFIX: &str = "lk";

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// The public part, `lk_<id>_...`, for listing and revoking.
    pub id: String,
    pub account: AccountId,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    pub label: String,
    pub created_at: Timestamp,
}

/// A freshly made key: the text to hand over once, and what is stored.
pub struct IssuedApiKey {
    pub key: String,
    pub record: ApiKey,
}

impl std::fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedApiKey")
            .field("key", &"<redacted>")
            .field("record", &self.record)
            .finish()
    }
}

impl ApiKey {
    pub fn issue(account: &AccountId, label: &str, now: Timestamp) -> IssuedApiKey {
        let issued = secrets::issue(PREFIX);
        IssuedApiKey {
            record: ApiKey {
                id: issued.id,
                account: account.clone(),
                hash: issued.hash,
                label: label.to_owned(),
                created_at: now,
            },
            key: issued.text,
        }
    }
}

impl Credential for ApiKey {
    fn id(&self) -> &str {
        &self.id
    }
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// The hash a presented key is looked up by; `None` for text that cannot be
/// a key, so no store call is spent on it.
pub fn lookup_hash(presented: &str) -> Option<String> {
    secrets::lookup_hash(PREFIX, presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_and_never_stored() {
        let account = AccountId::parse("ck_demo").unwrap();
        let issued = ApiKey::issue(&account, "ci", Timestamp::from_millis(0));
        assert!(issued.key.starts_with(&format!("lk_{}_", issued.record.id)));
        assert_eq!(
            lookup_hash(&issued.key).as_deref(),
            Some(issued.record.hash.as_str())
        );
        assert!(!format!("{issued:?}").contains(&issued.key));
        assert_ne!(issued.record.hash, issued.key);
        for bad in [
            "",
            "Bearer x",
            "lk_ab cd",
            &format!("lk_{}", "a".repeat(200)),
        ] {
            assert_eq!(lookup_hash(bad), None, "{bad}");
        }
    }
}
