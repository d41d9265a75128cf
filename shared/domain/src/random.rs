//! Random values from the operating system's CSPRNG.

use rand_core::{OsRng, RngCore};

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    crate::hex::encode(&buffer)
}

/// 16 random bytes, e.g. for a device key.
pub fn random_16() -> [u8; 16] {
    let mut buffer = [0u8; 16];
    OsRng.fill_bytes(&mut buffer);
    buffer
}
