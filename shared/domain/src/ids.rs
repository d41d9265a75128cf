//! The ids that travel side by side with the account: a batch, a product, a
//! license, a challenge. Each is its own type, so a signature that takes two
//! cannot have them swapped, and each is parsed once, where it arrives.
//! They read as `&str` (`Deref`) for key formats and comparisons, and
//! serialize as their text, so stored records and answers are unchanged.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::hex;
use crate::random::{random_16, random_hex};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

text_id! {
    /// A batch: 24 hex digits when made here; any 1-64 of letters, digits and
    /// `_` are read (the form of every id this platform makes), so a filter by
    /// a well-formed id that names no batch finds nothing rather than failing.
    BatchId
}

text_id! {
    /// A product of the licensing model: a UUID in lowercase `8-4-4-4-12` form.
    ProductId
}

text_id! {
    /// A license: a UUID in lowercase `8-4-4-4-12` form.
    LicenseId
}

text_id! {
    /// An activation challenge: a version 7 UUID when made here, which sorts
    /// by time. An id is looked up as presented, so one of any other form
    /// simply names no challenge.
    ChallengeId
}

impl BatchId {
    /// A fresh random id.
    pub fn generate() -> Self {
        BatchId(random_hex(12))
    }

    pub fn parse(text: &str) -> Option<Self> {
        is_platform_id(text).then(|| BatchId(text.to_owned()))
    }
}

/// The form of every id this platform makes for codes and batches: 1-64 of
/// letters, digits and `_`.
pub fn is_platform_id(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The lowercase form of a UUID in `8-4-4-4-12` hex, or `None`.
pub fn parse_uuid(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let valid = groups.len() == 5
        && groups
            .iter()
            .zip(shape)
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    valid.then(|| text.to_ascii_lowercase())
}

/// A random (version 4) UUID.
pub fn new_uuid() -> String {
    let mut bytes = random_16();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    hex::uuid_text(&bytes)
}

macro_rules! uuid_id {
    ($name:ident) => {
        impl $name {
            /// A fresh random (version 4) id.
            pub fn generate() -> Self {
                $name(new_uuid())
            }

            /// Any UUID, in its lowercase form.
            pub fn parse(text: &str) -> Option<Self> {
                parse_uuid(text).map($name)
            }
        }
    };
}

uuid_id!(ProductId);
uuid_id!(LicenseId);

/// A version 7 UUID: 48 bits of milliseconds, then random bits, so ids
/// made later sort later.
pub fn new_uuid_v7(now_millis: i64) -> String {
    let mut bytes = random_16();
    let millis = now_millis.to_be_bytes();
    bytes[..6].copy_from_slice(&millis[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    hex::uuid_text(&bytes)
}

impl ChallengeId {
    /// A fresh version 7 id.
    pub fn generate(now_millis: i64) -> Self {
        ChallengeId(new_uuid_v7(now_millis))
    }

    /// Any id of at most 64 bytes, as presented.
    pub fn parse(text: &str) -> Option<Self> {
        (1..=64)
            .contains(&text.len())
            .then(|| ChallengeId(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_their_own_form_only() {
        let batch = BatchId::generate();
        assert_eq!(BatchId::parse(&batch), Some(batch));
        assert_eq!(BatchId::parse(""), None);
        assert_eq!(BatchId::parse("a#b"), None);
        assert_eq!(BatchId::parse(&"a".repeat(65)), None);
        let license = LicenseId::generate();
        assert_eq!(LicenseId::parse(&license.to_uppercase()), Some(license));
        assert_eq!(ProductId::parse("not-a-uuid"), None);
    }

    #[test]
    fn challenge_ids_sort_by_time() {
        let a = ChallengeId::generate(1_000);
        let b = ChallengeId::generate(2_000);
        assert!(a < b);
        assert_eq!(&a[14..15], "7");
    }

    #[test]
    fn ids_serialize_as_their_text() {
        let id = BatchId::parse("abc123").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""abc123""#);
    }
}
