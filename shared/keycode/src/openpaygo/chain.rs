//! The hash chain shared by the encoder and the decoder.

use crate::siphash::SipKey;

pub(crate) const STANDARD_VALUE_OFFSET: u64 = 1_000;
pub(crate) const EXTENDED_VALUE_OFFSET: u64 = 1_000_000;

/// Folds a 64-bit hash to a value below 10^9 the way the reference does:
/// XOR the halves, keep bits 2..32, and pull values above 999,999,999 back
/// into range.
#[inline(always)]
pub(crate) fn fold_standard(hash: u64) -> u64 {
    let folded = ((hash >> 32) ^ (hash & 0xffff_ffff)) as u32;
    let kept = u64::from(folded >> 2);
    if kept > 999_999_999 {
        kept - 73_741_825
    } else {
        kept
    }
}

/// Folds a 64-bit hash to a value below 10^12: keep the top 40 bits and
/// pull values above 999,999,999,999 back into range.
#[inline(always)]
pub(crate) fn fold_extended(hash: u64) -> u64 {
    let kept = hash >> 24;
    if kept > 999_999_999_999 {
        kept - 99_511_627_777
    } else {
        kept
    }
}

/// A device's token chain: its width and the step from one code to the next.
#[derive(Clone, Copy)]
pub(crate) struct Chain {
    key: SipKey,
    pub extended: bool,
}

impl Chain {
    pub fn new(key: &[u8; 16], extended: bool) -> Self {
        Self {
            key: SipKey::new(key),
            extended,
        }
    }

    pub fn offset(self) -> u64 {
        if self.extended {
            EXTENDED_VALUE_OFFSET
        } else {
            STANDARD_VALUE_OFFSET
        }
    }

    /// The value digits of `code`. Branching to constant divisors lets the
    /// compiler replace the 64-bit division with a multiplication.
    #[inline(always)]
    pub fn base_of(self, code: u64) -> u64 {
        if self.extended {
            code % EXTENDED_VALUE_OFFSET
        } else {
            code % STANDARD_VALUE_OFFSET
        }
    }

    /// Replaces the value digits of `code` with `base`.
    #[inline(always)]
    pub fn with_base(self, code: u64, base: u64) -> u64 {
        code - self.base_of(code) + base
    }

    /// One step of the chain.
    #[inline(always)]
    pub fn next(self, code: u64) -> u64 {
        if self.extended {
            self.next_extended(code)
        } else {
            self.next_standard(code)
        }
    }

    /// The code `steps` links after `code`. The width is decided once, so
    /// the loop is nothing but hashing.
    pub fn advance(self, code: u64, steps: u32) -> u64 {
        let mut code = code;
        if self.extended {
            for _ in 0..steps {
                code = self.next_extended(code);
            }
        } else {
            for _ in 0..steps {
                code = self.next_standard(code);
            }
        }
        code
    }

    /// The reference packs the code as a big-endian u32 and repeats it to
    /// reach 8 bytes; as a little-endian word that is the byte-swapped u32 in
    /// both halves.
    #[inline(always)]
    fn next_standard(self, code: u64) -> u64 {
        let half = u64::from((code as u32).swap_bytes());
        fold_standard(self.key.hash_8_bytes(half | (half << 32)))
    }

    /// The reference packs the code as a big-endian u64.
    #[inline(always)]
    fn next_extended(self, code: u64) -> u64 {
        fold_extended(self.key.hash_8_bytes(code.swap_bytes()))
    }

    /// Number of restricted-set digits (2 bits each) a code is rendered with.
    pub fn restricted_digits(self) -> u32 {
        if self.extended {
            20
        } else {
            15
        }
    }
}

/// Renders a code in the restricted digit set: two bits per digit, most
/// significant first, each as 1-4.
pub(crate) fn to_restricted_digits(code: u64, digits: u32) -> String {
    let mut out = [0u8; 20];
    let out = &mut out[..digits as usize];
    for (i, slot) in out.iter_mut().rev().enumerate() {
        *slot = b'1' + ((code >> (2 * i)) & 0b11) as u8;
    }
    ascii_string(out)
}

/// Renders a code as exactly `width` decimal digits, zero-padded. Written
/// out by hand because `format!` padding costs as much as the two hashes of
/// a low-count token.
pub(crate) fn to_decimal_digits(mut code: u64, width: usize) -> String {
    let mut out = [b'0'; 12];
    let out = &mut out[..width];
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (code % 10) as u8;
        code /= 10;
    }
    ascii_string(out)
}

fn ascii_string(bytes: &[u8]) -> String {
    // Only ASCII digits are ever written, so this never falls back.
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Reads a restricted-digit-set token back into its code; `None` when a digit
/// is outside 1-4.
pub(crate) fn from_restricted_digits(token: &str) -> Option<u64> {
    token.bytes().try_fold(0u64, |acc, c| match c {
        b'1'..=b'4' => Some((acc << 2) | u64::from(c - b'1')),
        _ => None,
    })
}
