//! `POST /auth`: a client proves who it is with an ES256 JWT signed by one of
//! its registered P-256 keys and gets a short-lived access token, which every
//! other endpoint checks.

use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::{Deserialize, Serialize};

use crate::clients::port::ClientStore;
use crate::clients::{AccountId, PublicKey};
use crate::clock::{Clock, Timestamp};
use crate::random::random_hex;
use crate::rate_limits::{RateLimitError, RateLimiter};
use crate::store::StoreError;

/// Why authentication failed. Every variant but `Store` is a 401 whose
/// message names the rule that failed; none tells an unknown client apart
/// from an unregistered key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request body must be {{\"token\": \"<JWT>\", \"tokenType\": \"auth\"}}")]
    BadRequest,
    #[error("the auth token is longer than {0} bytes")]
    TooLong(usize),
    #[error("the auth token is not a well-formed JWT")]
    Malformed,
    #[error("the auth token must be signed with ES256")]
    WrongAlgorithm,
    #[error("the auth token has no valid '{0}' claim")]
    MissingClaim(&'static str),
    #[error("the 'sub' claim is not a P-256 public key")]
    SubjectNotAKey,
    #[error("the 'iss' and 'sub' claims do not name a registered client and public key")]
    UnknownClientOrKey,
    #[error("the auth token's signature does not verify with the 'sub' key")]
    BadSignature,
    #[error("the 'iat' claim is more than {0} seconds in the past")]
    IssuedTooLongAgo(i64),
    #[error("the 'iat' claim is more than {0} seconds in the future")]
    IssuedInTheFuture(i64),
    #[error("the 'jti' claim was already used")]
    Replayed,
    #[error("an access token is required in the Authorization header")]
    MissingAccessToken,
    #[error("the access token is not valid")]
    InvalidAccessToken,
    #[error("the access token has expired")]
    ExpiredAccessToken,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("an API key (Apikey KEY) or an access token (Bearer TOKEN) is required in the Authorization header")]
    MissingCredentials,
    #[error("too many auth requests for this client; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(StoreError),
}

/// The documented limits of `POST /auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// How old `iat` may be, in seconds.
    pub max_token_age_secs: i64,
    /// How far ahead of the server's clock `iat` may be, in seconds.
    pub max_clock_skew_secs: i64,
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_secs: i64,
    /// The longest auth token read, in bytes.
    pub max_token_bytes: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            max_token_age_secs: 300,
            max_clock_skew_secs: 60,
            access_token_ttl_secs: 900,
            max_token_bytes: 4096,
        }
    }
}

/// An issued access token and whom it speaks for. Its `Debug` leaves the
/// token out, so a log line can never carry a credential.
#[derive(Clone)]
pub struct AccessToken {
    pub account: AccountId,
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("account", &self.account)
            .field("access_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct AuthClaims {
    iss: Option<String>,
    sub: Option<String>,
    iat: Option<serde_json::Number>,
    jti: Option<String>,
}

const ACCESS_ISSUER: &str = "activation-platform";
const ACCESS_AUDIENCE: &str = "activation-platform-api";
/// The longest `jti` stored; longer ones are refused rather than truncated.
const MAX_JTI_LEN: usize = 128;

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A P-256 private key that signs ES256 JWTs: the platform's access-token
/// key (only the auth function holds it; the others verify with its public
/// half), or a client's own key when the admin CLI or a test plays the client.
#[derive(Clone)]
pub struct P256SigningKey {
    secret: p256::SecretKey,
}

impl std::fmt::Debug for P256SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P256SigningKey(<redacted>)")
    }
}

/// A PEM that is not a P-256 key of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyPemError(pub String);

impl P256SigningKey {
    pub fn generate() -> Self {
        P256SigningKey {
            secret: p256::SecretKey::random(&mut rand_core::OsRng),
        }
    }

    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyPemError> {
        p256::SecretKey::from_pkcs8_pem(pem.trim())
            .map(|secret| P256SigningKey { secret })
            .map_err(|_| KeyPemError("not a PKCS#8 PEM P-256 private key".into()))
    }

    pub fn to_pkcs8_pem(&self) -> String {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key always encodes")
            .to_string()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_p256(self.secret.public_key())
    }

    /// Signs `claims` as an ES256 JWT. Also what a client does with its own
    /// key to make an auth token, so the admin CLI and the tests use it.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let der = self
            .secret
            .to_pkcs8_der()
            .expect("a P-256 key always encodes");
        let key = EncodingKey::from_ec_der(der.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, &key)
            .expect("ES256 signing with a valid key cannot fail")
    }
}

fn decoding_key(key: &PublicKey) -> DecodingKey {
    DecodingKey::from_ec_der(key.as_p256().to_encoded_point(false).as_bytes())
}

/// Checks access tokens; holds only the platform's public key.
#[derive(Clone)]
pub struct AccessTokenVerifier {
    key: DecodingKey,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
}

/// Tokens whose signature already checked out, with their client and
/// expiry. A client reuses its access token for up to 15 minutes, so a warm
/// function checks each token's ES256 signature once instead of on every
/// request (`docs/benchmarks.md`). The key is the whole token: any changed
/// byte misses and is checked in full.
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<std::collections::HashMap<String, (AccountId, i64)>>);

/// Entries kept before the cache starts over; about 2 MB at most.
const VERIFIED_TOKENS_KEPT: usize = 4096;

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<(AccountId, i64)> {
        self.0.lock().ok()?.get(token).cloned()
    }

    fn insert(&self, token: &str, account: &AccountId, exp: i64) {
        if let Ok(mut entries) = self.0.lock() {
            if entries.len() >= VERIFIED_TOKENS_KEPT {
                entries.clear();
            }
            entries.insert(token.to_owned(), (account.clone(), exp));
        }
    }
}

impl AccessTokenVerifier {
    pub fn new(public_key: &PublicKey) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[ACCESS_ISSUER]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        AccessTokenVerifier {
            key: decoding_key(public_key),
            validation,
            verified: Arc::new(VerifiedTokens::default()),
        }
    }

    /// The client an `Authorization` header value speaks for. The value is
    /// the token itself or `Bearer <token>`.
    pub fn verify(&self, header: Option<&str>, now: Timestamp) -> Result<AccountId, AuthError> {
        let value = header.map(str::trim).filter(|v| !v.is_empty());
        let value = value.ok_or(AuthError::MissingAccessToken)?;
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => value,
        };
        if token.len() > 4096 {
            return Err(AuthError::InvalidAccessToken);
        }
        if let Some((account, exp)) = self.verified.get(token) {
            return if now.secs() >= exp {
                Err(AuthError::ExpiredAccessToken)
            } else {
                Ok(account)
            };
        }
        // Expiry is checked here against the injected clock, not by the JWT
        // library's own clock, so tests can move time.
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.key, &validation)
            .map_err(|_| AuthError::InvalidAccessToken)?;
        if now.secs() >= data.claims.exp {
            return Err(AuthError::ExpiredAccessToken);
        }
        let account =
            AccountId::parse(&data.claims.sub).map_err(|_| AuthError::InvalidAccessToken)?;
        self.verified.insert(token, &account, data.claims.exp);
        Ok(account)
    }
}

/// The `POST /auth` exchange.
pub struct AuthService {
    clients: Arc<dyn ClientStore>,
    clock: Arc<dyn Clock>,
    signing_key: P256SigningKey,
    config: AuthConfig,
    rate_limit: Option<RateLimiter>,
}

impl AuthService {
    pub fn new(
        clients: Arc<dyn ClientStore>,
        clock: Arc<dyn Clock>,
        signing_key: P256SigningKey,
        config: AuthConfig,
    ) -> Self {
        AuthService {
            clients,
            clock,
            signing_key,
            config,
            rate_limit: None,
        }
    }

    /// Counts every exchange whose signature verifies against the client's
    /// limit, so only the client itself can use up its share.
    pub fn with_rate_limit(mut self, limiter: RateLimiter) -> Self {
        self.rate_limit = Some(limiter);
        self
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Checks the auth token rule by rule and answers an access token.
    /// `token_type` must be `auth`.
    pub async fn exchange(&self, token: &str, token_type: &str) -> Result<AccessToken, AuthError> {
        if token_type != "auth" {
            return Err(AuthError::BadRequest);
        }
        let token = token.trim();
        if token.len() > self.config.max_token_bytes {
            return Err(AuthError::TooLong(self.config.max_token_bytes));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::WrongAlgorithm);
        }
        // Unverified read, only to learn which key to verify with.
        let claims: AuthClaims = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| AuthError::Malformed)?;
        let issuer = claims
            .iss
            .as_deref()
            .ok_or(AuthError::MissingClaim("iss"))?;
        let subject = claims
            .sub
            .as_deref()
            .ok_or(AuthError::MissingClaim("sub"))?;
        let issued_at = claims
            .iat
            .as_ref()
            .and_then(serde_json::Number::as_i64)
            .ok_or(AuthError::MissingClaim("iat"))?;
        let token_id = claims
            .jti
            .as_deref()
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or(AuthError::MissingClaim("jti"))?;
        let public_key = PublicKey::parse(subject).map_err(|_| AuthError::SubjectNotAKey)?;
        let account = AccountId::parse(issuer).map_err(|_| AuthError::UnknownClientOrKey)?;
        let client = self
            .clients
            .get_client(&account)
            .await
            .map_err(AuthError::Store)?
            .filter(|client| client.has_key(&public_key))
            .ok_or(AuthError::UnknownClientOrKey)?;

        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        jsonwebtoken::decode::<serde_json::Value>(token, &decoding_key(&public_key), &validation)
            .map_err(|_| AuthError::BadSignature)?;

        let now = self.clock.now();
        if issued_at < now.secs() - self.config.max_token_age_secs {
            return Err(AuthError::IssuedTooLongAgo(self.config.max_token_age_secs));
        }
        if issued_at > now.secs() + self.config.max_clock_skew_secs {
            return Err(AuthError::IssuedInTheFuture(
                self.config.max_clock_skew_secs,
            ));
        }
        if let Some(limiter) = &self.rate_limit {
            limiter.check(&client.key).await.map_err(|e| match e {
                RateLimitError::Limited { retry_after_secs } => {
                    AuthError::RateLimited { retry_after_secs }
                }
                RateLimitError::Store(e) => AuthError::Store(e),
            })?;
        }
        // Past this instant the iat rule alone refuses the token, so the
        // used-jti record can expire then.
        let replay_window_ends = Timestamp::from_secs(
            issued_at
                .saturating_add(self.config.max_token_age_secs)
                .saturating_add(1),
        );
        match self
            .clients
            .claim_token_id(&client.key, token_id, now, replay_window_ends)
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(AuthError::Replayed),
            Err(other) => return Err(AuthError::Store(other)),
        }
        Ok(self.issue_access_token(&client.key, now))
    }

    fn issue_access_token(&self, account: &AccountId, now: Timestamp) -> AccessToken {
        let expires_at = now.plus_secs(self.config.access_token_ttl_secs);
        let claims = AccessClaims {
            iss: ACCESS_ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
            sub: account.as_str().into(),
            iat: now.secs(),
            exp: expires_at.secs(),
            jti: random_hex(16),
        };
        AccessToken {
            account: account.clone(),
            access_token: self.signing_key.sign(&claims),
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl_secs,
            expires_at: Timestamp::from_secs(expires_at.secs()),
        }
    }
}

/// The claims of a client's auth token, for the admin CLI and tests that
/// play the client.
#[derive(Debug, Clone, Serialize)]
pub struct ClientAuthClaims {
    pub iss: String,
    pub sub: String,
    pub iat: i64,
    pub jti: String,
}

impl ClientAuthClaims {
    /// Fresh claims for `client` signing with `key`, issued at `now`.
    pub fn new(account: &AccountId, key: &P256SigningKey, now: Timestamp) -> Self {
        ClientAuthClaims {
            iss: account.as_str().into(),
            sub: key.public_key().to_spki_base64(),
            iat: now.secs(),
            jti: random_hex(16),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access_token(key: &P256SigningKey, sub: &str, exp: i64) -> String {
        key.sign(&AccessClaims {
            iss: ACCESS_ISSUER.into(),
            aud: ACCESS_AUDIENCE.into(),
            sub: sub.into(),
            iat: exp - 900,
            exp,
            jti: random_hex(8),
        })
    }

    #[test]
    fn an_issued_token_never_shows_in_debug_output() {
        let issued = AccessToken {
            account: AccountId::parse("ck_debug").unwrap(),
            access_token: "eyJ.secret.part".into(),
            token_type: "Bearer",
            expires_in: 900,
            expires_at: Timestamp::from_secs(900),
        };
        let shown = format!("{issued:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("ck_debug"), "{shown}");
    }

    #[test]
    fn a_verified_token_is_remembered_but_never_past_its_expiry_or_when_altered() {
        let key = P256SigningKey::generate();
        let verifier = AccessTokenVerifier::new(&key.public_key());
        let token = access_token(&key, "ck_cached", 2_000);
        let header = format!("Bearer {token}");
        let at = |secs| Timestamp::from_secs(secs);
        let account = AccountId::parse("ck_cached").unwrap();
        assert_eq!(
            verifier.verify(Some(&header), at(1_000)),
            Ok(account.clone())
        );
        assert_eq!(verifier.verify(Some(&header), at(1_500)), Ok(account));
        assert_eq!(
            verifier.verify(Some(&header), at(2_000)),
            Err(AuthError::ExpiredAccessToken),
            "a remembered token still expires"
        );
        // The same claims under another key's signature, and a flipped byte.
        let forged = access_token(&P256SigningKey::generate(), "ck_cached", 2_000);
        assert_eq!(
            verifier.verify(Some(&forged), at(1_000)),
            Err(AuthError::InvalidAccessToken)
        );
        let mut altered = token.into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            verifier.verify(Some(&altered), at(1_000)),
            Err(AuthError::InvalidAccessToken)
        );
        // Clones share what they learned.
        let clone = verifier.clone();
        assert_eq!(clone.verified.0.lock().unwrap().len(), 1);
    }
}
