use std::fmt;

/// A device's 128-bit secret key.
///
/// `Debug` never prints the key, so a key held in a struct that gets logged
/// does not leak.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 16]);

/// Why a secret key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not exactly 32 characters long.
    #[error("the secret key must be 32 hexadecimal characters, got {0} characters")]
    WrongLength(usize),
    /// The key holds a character outside 0-9, a-f, A-F.
    #[error("the secret key must be 32 hexadecimal characters, found a non-hexadecimal character")]
    NotHex,
}

impl SecretKey {
    /// Reads a key from 32 hexadecimal characters (either case).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let bytes = hex.as_bytes();
        if bytes.len() != 32 {
            return Err(KeyError::WrongLength(hex.chars().count()));
        }
        let mut key = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or(KeyError::NotHex)?;
            let lo = hex_value(pair[1]).ok_or(KeyError::NotHex)?;
            key[i] = (hi << 4) | lo;
        }
        Ok(Self(key))
    }

    /// Wraps 16 raw key bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The key as 32 lowercase hexadecimal characters, for storage only.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for byte in self.0 {
            out.push(DIGITS[usize::from(byte >> 4)] as char);
            out.push(DIGITS[usize::from(byte & 0x0f)] as char);
        }
        out
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hex_and_hides_itself_from_debug() {
        let key = SecretKey::from_hex("DEADbeefdeadbeefdeadbeefdeadbeef").unwrap();
        assert_eq!(key.to_hex(), "deadbeefdeadbeefdeadbeefdeadbeef");
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(SecretKey::from_hex("abc"), Err(KeyError::WrongLength(3)));
        assert_eq!(
            SecretKey::from_hex("zzadbeefdeadbeefdeadbeefdeadbeef"),
            Err(KeyError::NotHex)
        );
        assert_eq!(
            SecretKey::from_hex("ééadbeefdeadbeefdeadbeefdeadbe"),
            Err(KeyError::NotHex)
        );
    }
}
