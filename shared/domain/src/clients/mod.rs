//! API clients and the P-256 public keys they authenticate with.

pub mod api_keys;
pub mod port;
pub mod secrets;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::random::random_hex;

/// The client key: the `iss` of a client's auth tokens and the tenant id of
/// everything the client owns. Not a secret; the private key is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

/// A client key that breaks the format rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a client key is 3-64 characters of A-Z, a-z, 0-9, '_' and '-'")]
pub struct InvalidAccountId;

impl AccountId {
    pub fn parse(text: &str) -> Result<Self, InvalidAccountId> {
        let valid = (3..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(AccountId(text.to_owned()))
        } else {
            Err(InvalidAccountId)
        }
    }

    /// A fresh random key, `ck_` and 24 hex digits.
    pub fn generate() -> Self {
        AccountId(format!("ck_{}", random_hex(12)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        AccountId::parse(&text)
    }
}

impl From<AccountId> for String {
    fn from(key: AccountId) -> String {
        key.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A P-256 public key, kept in one canonical text form (base64 of the
/// SubjectPublicKeyInfo DER) so the same key always compares equal whatever
/// encoding the client used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(p256::PublicKey);

/// Text that is not a P-256 public key in any accepted encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a P-256 public key (expected PEM, or base64 of SubjectPublicKeyInfo DER or a SEC1 point)"
)]
pub struct InvalidPublicKey;

impl PublicKey {
    /// Reads PEM (`-----BEGIN PUBLIC KEY-----`), or standard or URL-safe
    /// base64 (padded or not) of SPKI DER or of a SEC1 point.
    pub fn parse(text: &str) -> Result<Self, InvalidPublicKey> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return p256::PublicKey::from_public_key_pem(text)
                .map(PublicKey)
                .map_err(|_| InvalidPublicKey);
        }
        // Bounded before decoding: a key is well under 200 characters.
        if text.len() > 512 {
            return Err(InvalidPublicKey);
        }
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(InvalidPublicKey)?;
        p256::PublicKey::from_public_key_der(&bytes)
            .or_else(|_| p256::PublicKey::from_sec1_bytes(&bytes))
            .map(PublicKey)
            .map_err(|_| InvalidPublicKey)
    }

    pub fn from_p256(key: p256::PublicKey) -> Self {
        PublicKey(key)
    }

    pub fn as_p256(&self) -> &p256::PublicKey {
        &self.0
    }

    /// The canonical form: standard base64 of the SPKI DER.
    pub fn to_spki_base64(&self) -> String {
        let der = self
            .0
            .to_public_key_der()
            .expect("a valid P-256 key always encodes");
        STANDARD.encode(der.as_bytes())
    }

    /// PEM, as `openssl ec -pubout` writes it.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("a valid P-256 key always encodes")
    }
}

/// A public key registered to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredKey {
    /// `PublicKey::to_spki_base64` of the key.
    pub spki: String,
    pub added_at: Timestamp,
}

impl RegisteredKey {
    pub fn new(key: &PublicKey, added_at: Timestamp) -> Self {
        RegisteredKey {
            spki: key.to_spki_base64(),
            added_at,
        }
    }
}

/// An API client: a device maker, distributor or bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub key: AccountId,
    pub name: String,
    pub public_keys: Vec<RegisteredKey>,
    pub created_at: Timestamp,
}

impl Client {
    pub fn has_key(&self, key: &PublicKey) -> bool {
        let spki = key.to_spki_base64();
        self.public_keys.iter().any(|k| k.spki == spki)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    #[test]
    fn client_keys_follow_the_format() {
        assert!(AccountId::parse("ck_0123abcd").is_ok());
        assert!(AccountId::generate().as_str().starts_with("ck_"));
        for bad in ["", "ab", "has space", "hash#mark", &"x".repeat(65)] {
            assert_eq!(AccountId::parse(bad), Err(InvalidAccountId), "{bad:?}");
        }
    }

    #[test]
    fn every_encoding_of_one_key_is_the_same_key() {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let key = PublicKey::from_p256(secret.public_key());
        let spki = key.to_spki_base64();
        let point = secret.public_key().to_encoded_point(false);
        let compressed = secret.public_key().to_encoded_point(true);
        for text in [
            key.to_pem(),
            spki.clone(),
            URL_SAFE_NO_PAD.encode(STANDARD.decode(&spki).unwrap()),
            STANDARD.encode(point.as_bytes()),
            URL_SAFE_NO_PAD.encode(compressed.as_bytes()),
        ] {
            assert_eq!(PublicKey::parse(&text).unwrap(), key, "{text}");
        }
        for bad in ["", "not base64!", "AAAA", &"A".repeat(600)] {
            assert_eq!(PublicKey::parse(bad), Err(InvalidPublicKey));
        }
    }
}
