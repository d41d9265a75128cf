//! `POST /deploy/{id}`: where a license is "deployed". The subscription API
//! deploys a license contract to a blockchain; this platform ships a
//! deployer that instead issues a license certificate signed by the
//! platform, and says so (`kind`). An on-chain deployer would implement the
//! same trait.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{Deployment, License, LicenseId};
use super::LicenseError;
use crate::auth::P256SigningKey;
use crate::clock::Timestamp;
use crate::hex;

pub trait LicenseDeployer: Send + Sync {
    /// Deploys `license` (whose holder is set) for `blockchain`.
    fn deploy(
        &self,
        license: &License,
        blockchain: &str,
        now: Timestamp,
    ) -> Result<Deployment, LicenseError>;
}

/// What `Deployment::kind` says for a certificate.
pub const CERTIFICATE_KIND: &str = "PLATFORM_CERTIFICATE";
/// Every certificate license has one token, numbered 1.
pub const CERTIFICATE_TOKEN_ID: &str = "1";
/// The blockchains a certificate may name.
pub const BLOCKCHAINS: &[&str] = &["ETHEREUM", "POLYGON"];

/// Issues ES256 license certificates with the platform's certificate key.
pub struct CertificateDeployer {
    key: P256SigningKey,
}

impl CertificateDeployer {
    pub fn new(key: P256SigningKey) -> Self {
        CertificateDeployer { key }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateClaims<'a> {
    iss: &'static str,
    aud: &'static str,
    sub: &'a str,
    iat: i64,
    account: &'a str,
    software: &'a str,
    owner: &'a str,
    blockchain: &'a str,
    contract: &'a str,
    token_id: &'a str,
    valid_from: i64,
    valid_until: i64,
}

impl LicenseDeployer for CertificateDeployer {
    fn deploy(
        &self,
        license: &License,
        blockchain: &str,
        now: Timestamp,
    ) -> Result<Deployment, LicenseError> {
        let owner = license
            .holder
            .as_deref()
            .ok_or(LicenseError::OwnerRequired)?;
        let address = contract_address(license);
        let claims = CertificateClaims {
            iss: "activation-platform",
            // Not the access tokens' audience, so a certificate is never
            // mistaken for one.
            aud: "license-certificate",
            sub: &license.id,
            iat: now.secs(),
            account: license.account.as_str(),
            software: &license.product_id,
            owner,
            blockchain,
            contract: &address,
            token_id: CERTIFICATE_TOKEN_ID,
            valid_from: license.valid_from.secs(),
            valid_until: license.shown_until().secs(),
        };
        let certificate = self.key.sign(&claims);
        Ok(Deployment {
            blockchain: blockchain.to_owned(),
            address,
            token_id: CERTIFICATE_TOKEN_ID.to_owned(),
            kind: CERTIFICATE_KIND.to_owned(),
            certificate,
            deployed_at: now,
        })
    }
}

/// A 20-byte address: four bytes tied to the account, then the license id's
/// sixteen, so an activation finds the license from the address alone.
pub fn contract_address(license: &License) -> String {
    let tag = Sha256::digest(format!("license-contract:{}", license.account).as_bytes());
    format!(
        "0x{}{}",
        hex::encode(&tag[..4]),
        license.id.replace('-', "")
    )
}

/// The license id inside a contract address this platform made.
pub fn license_id_of_contract(address: &str) -> Option<LicenseId> {
    let hex = address.trim().strip_prefix("0x")?;
    hex::decode(hex).filter(|b| b.len() == 20)?;
    let id = hex[8..].to_ascii_lowercase();
    LicenseId::parse(&format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::AccountId;
    use crate::licensing::model::{new_uuid, LicenseStatus, Listing};

    #[test]
    fn the_contract_address_leads_back_to_the_license() {
        let license = License {
            account: AccountId::parse("ck_a").unwrap(),
            id: LicenseId::generate(),
            product_id: crate::ids::ProductId::generate(),
            holder: Some("0x96dc73c8b5969608c77375f085949744b5177660".into()),
            key: new_uuid(),
            name: "n".into(),
            order_id: None,
            valid_from: Timestamp::from_millis(0),
            valid_until: None,
            status: LicenseStatus::Active,
            listing: Listing::default(),
            deployment: None,
            created_at: Timestamp::from_millis(0),
        };
        let deployer = CertificateDeployer::new(P256SigningKey::generate());
        let deployment = deployer
            .deploy(&license, "ETHEREUM", Timestamp::from_millis(5000))
            .unwrap();
        assert_eq!(deployment.address.len(), 42);
        assert_eq!(
            license_id_of_contract(&deployment.address.to_uppercase().replacen("0X", "0x", 1)),
            Some(license.id.clone())
        );
        assert_eq!(deployment.certificate.split('.').count(), 3);
        assert_eq!(license_id_of_contract("0x1234"), None);
        let mut unowned = license;
        unowned.holder = None;
        assert_eq!(
            deployer.deploy(&unowned, "ETHEREUM", Timestamp::from_millis(0)),
            Err(LicenseError::OwnerRequired)
        );
    }
}
