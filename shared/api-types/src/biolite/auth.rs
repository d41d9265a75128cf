//! `POST /auth`: the auth-token exchange and the access token it answers.

use domain::auth::AccessToken;
use domain::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// The body of `POST /auth`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthRequest {
    pub token: String,
    pub token_type: String,
}

/// What `POST /auth` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenView<'a> {
    pub access_token: &'a str,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub expires_at: Timestamp,
}

impl<'a> From<&'a AccessToken> for AccessTokenView<'a> {
    fn from(token: &'a AccessToken) -> Self {
        AccessTokenView {
            access_token: &token.access_token,
            token_type: token.token_type,
            expires_in: token.expires_in,
            expires_at: token.expires_at,
        }
    }
}
