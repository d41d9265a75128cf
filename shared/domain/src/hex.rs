//! Lowercase hex, the one text form the platform gives bytes: hashes,
//! tokens, ids and UUIDs.

use std::fmt::Write;

pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing into a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// The bytes of an even-length hex string, either case; `None` for
/// anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// 16 bytes in the `8-4-4-4-12` text form of a UUID.
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex = encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_both_ways() {
        let bytes = [0x00, 0x0f, 0xa0, 0xff];
        assert_eq!(encode(&bytes), "000fa0ff");
        assert_eq!(decode("000FA0ff").unwrap(), bytes);
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn uuid_text_groups_the_digits() {
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(uuid_text(&bytes), "00112233-4455-6677-8899-aabbccddeeff");
    }
}
