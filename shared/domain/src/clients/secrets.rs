//! Bearer secrets an account is handed once and the platform keeps only as
//! a hash: API keys and M-Pesa callback tokens. Each holds 256 random bits,
//! so a plain SHA-256 is enough: there is nothing to brute-force.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::random::random_hex;

/// The longest presented secret looked at; real ones are under 60 characters.
const MAX_SECRET_LEN: usize = 128;

/// A fresh secret: `<prefix>_<id>_<43 characters>`. The id is public (for
/// listing and revoking); the whole text is the secret.
pub struct IssuedSecret {
    pub id: String,
    pub text: String,
    pub hash: String,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("id", &self.id)
            .field("text", &"<redacted>")
            .finish()
    }
}

pub fn issue(prefix: &str) -> IssuedSecret {
    let id = random_hex(4);
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let text = format!("{prefix}_{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    IssuedSecret {
        hash: hash_secret(&text),
        id,
        text,
    }
}

/// The hash a presented secret of this kind is looked up by; `None` for
/// text that cannot be one, so no store call is spent on it.
pub fn lookup_hash(prefix: &str, presented: &str) -> Option<String> {
    let plausible = presented
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('_'))
        && presented.len() <= MAX_SECRET_LEN
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plausible.then(|| hash_secret(presented))
}

fn hash_secret(text: &str) -> String {
    crate::hex::encode(&Sha256::digest(text.as_bytes()))
}

/// What the stores need of a hashed credential: they keep it under its
/// hash, to find a presented one, and under its account, to list and
/// revoke it by id.
pub trait Credential {
    fn id(&self) -> &str;
    fn account(&self) -> &AccountId;
    fn hash(&self) -> &str;
    fn created_at(&self) -> Timestamp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_found_by_its_hash_only_under_its_own_prefix() {
        let issued = issue("mpc");
        assert!(issued.text.starts_with(&format!("mpc_{}_", issued.id)));
        assert_eq!(
            lookup_hash("mpc", &issued.text).as_deref(),
            Some(issued.hash.as_str())
        );
        assert_ne!(issued.hash, issued.text);
        assert!(!format!("{issued:?}").contains(&issued.text));
        assert_eq!(lookup_hash("lk", &issued.text), None);
        for bad in [
            "",
            "mpc",
            "mpcx_1_2",
            "mpc_ab cd",
            &format!("mpc_{}", "a".repeat(200)),
        ] {
            assert_eq!(lookup_hash("mpc", bad), None, "{bad}");
        }
    }
}
