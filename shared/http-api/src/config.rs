//! Configuration read once per cold start from the function's environment
//! (set by `template.yaml`).

use std::sync::Arc;

use domain::auth::{AccessTokenVerifier, P256SigningKey};
use domain::clients::PublicKey;
use domain::ports::ChunkQueue;
use storage::{dynamodb_client, sqs_client, DynamoStore, SqsQueue, Stores};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

fn required(name: &str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("the environment variable {name} is not set")))
}

/// `TABLE_NAME`, and `DYNAMODB_ENDPOINT` to use DynamoDB Local instead of AWS.
pub async fn stores_from_env() -> Result<Stores, ConfigError> {
    let table = required("TABLE_NAME")?;
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").ok();
    let client = dynamodb_client(endpoint.as_deref()).await;
    Ok(Stores::from_adapter(Arc::new(DynamoStore::new(
        client, table,
    ))))
}

/// `QUEUE_URL`, and `SQS_ENDPOINT` to use a local SQS-compatible server.
pub async fn queue_from_env() -> Result<Arc<dyn ChunkQueue>, ConfigError> {
    let url = required("QUEUE_URL")?;
    let endpoint = std::env::var("SQS_ENDPOINT").ok();
    let client = sqs_client(endpoint.as_deref()).await;
    Ok(Arc::new(SqsQueue::new(client, url)))
}

/// `ACCESS_TOKEN_PRIVATE_KEY`: the PKCS#8 PEM that signs access tokens.
pub fn signing_key_from_env() -> Result<P256SigningKey, ConfigError> {
    let pem = required("ACCESS_TOKEN_PRIVATE_KEY")?;
    P256SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| ConfigError(format!("ACCESS_TOKEN_PRIVATE_KEY: {e}")))
}

/// `ACCESS_TOKEN_PUBLIC_KEY`: the public half, PEM or base64 SPKI.
pub fn verifier_from_env() -> Result<AccessTokenVerifier, ConfigError> {
    let text = required("ACCESS_TOKEN_PUBLIC_KEY")?;
    let key = PublicKey::parse(&text)
        .map_err(|e| ConfigError(format!("ACCESS_TOKEN_PUBLIC_KEY: {e}")))?;
    Ok(AccessTokenVerifier::new(&key))
}

/// `LICENSE_CERTIFICATE_PRIVATE_KEY`: the PKCS#8 PEM that signs license
/// certificates. Not the access-token key: the licenses function cannot
/// mint access tokens.
pub fn certificate_key_from_env() -> Result<P256SigningKey, ConfigError> {
    let pem = required("LICENSE_CERTIFICATE_PRIVATE_KEY")?;
    P256SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| ConfigError(format!("LICENSE_CERTIFICATE_PRIVATE_KEY: {e}")))
}
