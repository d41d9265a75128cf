//! Who signed an activation nonce. Two kinds of signer hold licenses:
//! Ethereum accounts, which sign with `personal_sign` (secp256k1, the
//! address recovered from the signature), and devices with a P-256 key,
//! which sign the nonce's bytes with ECDSA over SHA-256.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha3::{Digest, Keccak256};

use super::LicenseError;
use crate::clients::PublicKey;
use crate::hex;

/// An activation address, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A 20-byte Ethereum address (`0x` and 40 hex digits, any case).
    Ethereum([u8; 20]),
    /// A device's P-256 public key (PEM, or base64 of SPKI or a SEC1 point).
    Device(PublicKey),
}

impl Signer {
    pub fn parse(address: &str) -> Result<Self, LicenseError> {
        let address = address.trim();
        if let Some(hex) = address
            .strip_prefix("0x")
            .or_else(|| address.strip_prefix("0X"))
        {
            let bytes = hex::decode(hex).filter(|b| b.len() == 20).ok_or_else(|| {
                LicenseError::invalid("address", "is not a 20-byte Ethereum address")
            })?;
            let mut out = [0u8; 20];
            out.copy_from_slice(&bytes);
            return Ok(Signer::Ethereum(out));
        }
        PublicKey::parse(address).map(Signer::Device).map_err(|_| {
            LicenseError::invalid(
                "address",
                "must be an Ethereum address (0x...) or a P-256 public key",
            )
        })
    }

    /// One text per signer: lowercase `0x...`, or the key's base64 SPKI.
    pub fn canonical(&self) -> String {
        match self {
            Signer::Ethereum(bytes) => format!("0x{}", hex::encode(bytes)),
            Signer::Device(key) => key.to_spki_base64(),
        }
    }

    /// Whether a license holder string names this signer, in whatever
    /// encoding or letter case it was stored.
    pub fn is(&self, holder: &str) -> bool {
        Signer::parse(holder).is_ok_and(|other| other == *self)
    }

    /// Checks `signature` over `message` (the nonce text).
    pub fn verify(&self, message: &str, signature: &str) -> Result<(), LicenseError> {
        let bytes = decode_signature(signature).ok_or(LicenseError::BadSignature)?;
        match self {
            Signer::Ethereum(address) => {
                let recovered = recover_personal_sign(message.as_bytes(), &bytes)
                    .ok_or(LicenseError::BadSignature)?;
                if recovered == *address {
                    Ok(())
                } else {
                    Err(LicenseError::BadSignature)
                }
            }
            Signer::Device(key) => {
                use p256::ecdsa::signature::Verifier;
                let signature = p256::ecdsa::Signature::from_slice(&bytes)
                    .or_else(|_| p256::ecdsa::Signature::from_der(&bytes))
                    .map_err(|_| LicenseError::BadSignature)?;
                p256::ecdsa::VerifyingKey::from(key.as_p256())
                    .verify(message.as_bytes(), &signature)
                    .map_err(|_| LicenseError::BadSignature)
            }
        }
    }
}

/// The hash `personal_sign` signs: Keccak-256 of the EIP-191 prefix, the
/// message length in decimal, and the message.
pub fn personal_sign_hash(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()).as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// The address of a secp256k1 key: the last 20 bytes of the Keccak-256 of
/// its uncompressed point without the `04` prefix.
pub fn ethereum_address(key: &k256::ecdsa::VerifyingKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
    let hash: [u8; 32] = Keccak256::digest(&point.as_bytes()[1..]).into();
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    address
}

/// The address that made a 65-byte `r || s || v` signature, `v` being 27/28
/// or 0/1. High-`s` signatures are accepted by flipping the recovery bit,
/// as Ethereum's `ecrecover` does.
fn recover_personal_sign(message: &[u8], signature: &[u8]) -> Option<[u8; 20]> {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    if signature.len() != 65 {
        return None;
    }
    let v = match signature[64] {
        27 | 28 => signature[64] - 27,
        0 | 1 => signature[64],
        _ => return None,
    };
    let mut parsed = Signature::from_slice(&signature[..64]).ok()?;
    let mut recovery = RecoveryId::from_byte(v)?;
    if let Some(low) = parsed.normalize_s() {
        parsed = low;
        recovery = RecoveryId::new(!recovery.is_y_odd(), recovery.is_x_reduced());
    }
    let key =
        VerifyingKey::recover_from_prehash(&personal_sign_hash(message), &parsed, recovery).ok()?;
    Some(ethereum_address(&key))
}

/// Hex (with or without `0x`) or base64; bounded so nothing large is decoded.
fn decode_signature(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() || text.len() > 256 {
        return None;
    }
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex::decode(hex)
        .or_else(|| STANDARD.decode(text).ok())
        .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with eth_account 0.13 `Account.sign_message(encode_defunct(text=m), k)`
    // for the web3.py documentation key 0x4c08...2318.
    const ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
    const NONCE: &str = "dec9fd6d1fec9af30f8600f911a63012";
    const SIGNATURE: &str = "0x91976541f7612102939f8983933814838d82077e2dbb2d09f5cbd7a45d0b92293f2b696a15837a6e8a73a3a7f9dff581c11d24c84dfd77b8e2686c078e19d1211c";

    #[test]
    fn a_personal_sign_signature_from_eth_account_verifies() {
        let signer = Signer::parse(ADDRESS).unwrap();
        assert_eq!(signer.canonical(), ADDRESS.to_ascii_lowercase());
        assert!(signer.is(&ADDRESS.to_ascii_uppercase().replacen("0X", "0x", 1)));
        signer.verify(NONCE, SIGNATURE).unwrap();
        assert_eq!(
            signer.verify("dec9fd6d1fec9af30f8600f911a63013", SIGNATURE),
            Err(LicenseError::BadSignature)
        );
        let other = Signer::parse("0x96dc73c8b5969608c77375f085949744b5177660").unwrap();
        assert_eq!(
            other.verify(NONCE, SIGNATURE),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn v_may_be_0_or_1_and_high_s_is_accepted() {
        let signing = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let signer = Signer::Ethereum(ethereum_address(signing.verifying_key()));
        let (signature, recovery) = signing
            .sign_prehash_recoverable(&personal_sign_hash(b"n1"))
            .unwrap();
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(recovery.to_byte());
        signer.verify("n1", &hex::encode(&bytes)).unwrap();
        // The same signature with s replaced by n - s and v flipped.
        let (r, s) = signature.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        let mut high_bytes = high.to_bytes().to_vec();
        high_bytes.push(27 + (recovery.to_byte() ^ 1));
        signer
            .verify("n1", &format!("0x{}", hex::encode(&high_bytes)))
            .unwrap();
        bytes[64] = 5;
        assert!(signer.verify("n1", &hex::encode(&bytes)).is_err());
    }

    #[test]
    fn device_keys_sign_with_p256() {
        use p256::ecdsa::signature::Signer as _;
        let secret = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let key = PublicKey::from_p256(p256::PublicKey::from(secret.verifying_key()));
        let signer = Signer::parse(&key.to_pem()).unwrap();
        assert_eq!(signer.canonical(), key.to_spki_base64());
        assert!(signer.is(&key.to_spki_base64()));
        let signature: p256::ecdsa::Signature = secret.sign(b"n2");
        signer
            .verify("n2", &STANDARD.encode(signature.to_bytes()))
            .unwrap();
        signer
            .verify("n2", &hex::encode(signature.to_der().as_bytes()))
            .unwrap();
        assert_eq!(
            signer.verify("n3", &STANDARD.encode(signature.to_bytes())),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn malformed_addresses_and_signatures_are_refused() {
        for bad in ["", "0x1234", "0xzz", "hello"] {
            assert!(Signer::parse(bad).is_err(), "{bad}");
        }
        let signer = Signer::parse(ADDRESS).unwrap();
        for bad in ["", "zz", &"a".repeat(300), "0x00"] {
            assert_eq!(signer.verify(NONCE, bad), Err(LicenseError::BadSignature));
        }
    }
}
