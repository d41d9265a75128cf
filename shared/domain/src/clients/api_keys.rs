//! API keys: the `Authorization: Apikey KEY` credential of the licensing
//! APIs. A key belongs to one account (client), is shown once when the admin
//! CLI creates it, and is stored only as its SHA-256 hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::random::random_hex;

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// The public part, `lk_<id>_...`, for listing and revoking.
    pub id: String,
    pub account: AccountId,
    /// Hex SHA-256 of the whole key. The key holds 256 random bits, so a
    /// plain hash is enough: there is nothing to brute-force.
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

/// The longest `Apikey` value looked at; real keys are 57 characters.
const MAX_KEY_LEN: usize = 128;

impl ApiKey {
    pub fn issue(account: &AccountId, label: &str, now: Timestamp) -> IssuedApiKey {
        let id = random_hex(4);
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let key = format!("lk_{id}_{}", URL_SAFE_NO_PAD.encode(secret));
        IssuedApiKey {
            record: ApiKey {
                id,
                account: account.clone(),
                hash: hash_api_key(&key),
                label: label.to_owned(),
                created_at: now,
            },
            key,
        }
    }
}

/// The hash a presented key is looked up by; `None` for text that cannot be
/// a key, so no store call is spent on it.
pub fn lookup_hash(presented: &str) -> Option<String> {
    let plausible = presented.starts_with("lk_")
        && presented.len() <= MAX_KEY_LEN
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plausible.then(|| hash_api_key(presented))
}

fn hash_api_key(key: &str) -> String {
    crate::hex::encode(&Sha256::digest(key.as_bytes()))
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
