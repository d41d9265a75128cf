//! `Idempotency-Key` on the creating POSTs: a retry with the same key and the
//! same request answers what the first one answered, without doing the work
//! again; the same key with another request is refused. `docs/api.md` has
//! the contract, `docs/storage.md` the records.
//!
//! A key is claimed before the work runs and completed with the response
//! after it. A claim whose holder died (a Lambda timeout) blocks its key for
//! `CLAIM_LEASE_SECS`; after that a retry may take the key over and do the
//! work again.

pub mod port;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::hex;
use crate::random::random_hex;
use crate::store::StoreError;
use port::IdempotencyStore;

/// The longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 128;
/// How long a completed key keeps answering with its first response.
pub const KEY_TTL_SECS: i64 = 24 * 3600;
/// How long a claim holds its key before a retry may take it over; longer
/// than any function's timeout (`template.yaml`).
pub const CLAIM_LEASE_SECS: i64 = 120;
/// The largest response body kept for replay; larger ones are answered but
/// their key is released, so a retry does the work again.
pub const MAX_STORED_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyError {
    #[error("Idempotency-Key must be 1-{MAX_KEY_LEN} printable ASCII characters")]
    InvalidKey,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    InProgress { retry_after_secs: u64 },
    #[error(transparent)]
    Store(StoreError),
}

/// The part of a response a replay gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyState {
    /// Work under `claim_id` is running, or died, until `lease_until`.
    Claimed {
        claim_id: String,
        lease_until: Timestamp,
    },
    Completed {
        response: StoredResponse,
    },
}

/// One key of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub account: AccountId,
    pub key: String,
    /// SHA-256 of the method, path, query and body, hex.
    pub fingerprint: String,
    pub state: KeyState,
    /// After this the key is free again, whatever the state.
    pub expires_at: Timestamp,
}

impl IdempotencyRecord {
    /// Whether a new claim may replace this record at `now`.
    pub fn is_free_at(&self, now: Timestamp) -> bool {
        self.expires_at <= now
            || matches!(self.state, KeyState::Claimed { lease_until, .. } if lease_until <= now)
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The key is held by this live record.
    Taken(IdempotencyRecord),
}

/// The fingerprint of a request: a retry must match it byte for byte.
pub fn fingerprint(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize())
}

/// An `Idempotency-Key` as presented: 1-`MAX_KEY_LEN` printable ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: &str) -> Result<Self, IdempotencyError> {
        let valid =
            (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(IdempotencyKey(key.to_owned()))
        } else {
            Err(IdempotencyError::InvalidKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Do the work, then `finish` this claim.
    Proceed(Claim),
    /// Answer this, as the first request was answered.
    Replay(StoredResponse),
}

/// A held key, to be completed or released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    account: AccountId,
    key: String,
    claim_id: String,
}

pub struct Idempotency {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
}

impl Idempotency {
    pub fn new(store: Arc<dyn IdempotencyStore>, clock: Arc<dyn Clock>) -> Self {
        Idempotency { store, clock }
    }

    pub async fn begin(
        &self,
        account: &AccountId,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Begin, IdempotencyError> {
        let key = key.as_str();
        let now = self.clock.now();
        let claim_id = random_hex(16);
        let record = IdempotencyRecord {
            account: account.clone(),
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
            state: KeyState::Claimed {
                claim_id: claim_id.clone(),
                lease_until: now.plus_secs(CLAIM_LEASE_SECS),
            },
            expires_at: now.plus_secs(KEY_TTL_SECS),
        };
        match self
            .store
            .claim_idempotency_key(&record, now)
            .await
            .map_err(IdempotencyError::Store)?
        {
            ClaimOutcome::Claimed => Ok(Begin::Proceed(Claim {
                account: account.clone(),
                key: key.to_owned(),
                claim_id,
            })),
            ClaimOutcome::Taken(existing) if existing.fingerprint != fingerprint => {
                Err(IdempotencyError::KeyReused)
            }
            ClaimOutcome::Taken(existing) => match existing.state {
                KeyState::Completed { response } => Ok(Begin::Replay(response)),
                KeyState::Claimed { lease_until, .. } => Err(IdempotencyError::InProgress {
                    retry_after_secs: u64::try_from(now.secs_until(lease_until))
                        .unwrap_or(1)
                        .max(1),
                }),
            },
        }
    }

    /// Keeps `response` for retries, or with `None` (the work failed, or
    /// its answer should not be repeated) frees the key for a new attempt.
    /// A claim that was taken over meanwhile is left to its new holder.
    pub async fn finish(
        &self,
        claim: Claim,
        response: Option<StoredResponse>,
    ) -> Result<(), IdempotencyError> {
        let outcome = match response {
            Some(response) if response.body.len() <= MAX_STORED_BODY_BYTES => {
                self.store
                    .complete_idempotency_key(&claim.account, &claim.key, &claim.claim_id, response)
                    .await
            }
            _ => {
                self.store
                    .release_idempotency_key(&claim.account, &claim.key, &claim.claim_id)
                    .await
            }
        };
        match outcome {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(other) => Err(IdempotencyError::Store(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_separate_their_parts() {
        let a = fingerprint("POST", "/codes", "", b"{}");
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("POST", "/codes", "", b"{}"));
        assert_ne!(a, fingerprint("POST", "/codes", "", b"{ }"));
        assert_ne!(
            fingerprint("POST", "/ab", "", b"c"),
            fingerprint("POST", "/a", "", b"bc")
        );
        assert_ne!(a, fingerprint("POST", "/codes", "x=1", b"{}"));
    }

    #[test]
    fn keys_are_short_printable_ascii() {
        assert!(IdempotencyKey::parse("order-42").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "with space", "tab\t", "é", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(IdempotencyError::InvalidKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn records_free_up_by_expiry_or_a_lapsed_lease() {
        let at = Timestamp::from_secs(1_000);
        let record = |state| IdempotencyRecord {
            account: AccountId::generate(),
            key: "k".into(),
            fingerprint: "f".into(),
            state,
            expires_at: at.plus_secs(100),
        };
        let claimed = record(KeyState::Claimed {
            claim_id: "x".into(),
            lease_until: at.plus_secs(10),
        });
        assert!(!claimed.is_free_at(at));
        assert!(claimed.is_free_at(at.plus_secs(10)));
        let done = record(KeyState::Completed {
            response: StoredResponse {
                status: 201,
                content_type: None,
                location: None,
                body: String::new(),
            },
        });
        assert!(!done.is_free_at(at.plus_secs(99)));
        assert!(done.is_free_at(at.plus_secs(100)));
    }
}
