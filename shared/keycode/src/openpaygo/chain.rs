//! The hash chain shared by the encoder and the decoder.

use crate::siphash24;

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

/// One link of a token chain: which width, and the step from one code to the next.
#[derive(Clone, Copy)]
pub(crate) struct Chain<'k> {
    pub key: &'k [u8; 16],
    pub extended: bool,
}

impl Chain<'_> {
    pub fn offset(self) -> u64 {
        if self.extended {
            EXTENDED_VALUE_OFFSET
        } else {
            STANDARD_VALUE_OFFSET
        }
    }

    /// Replaces the value digits of `code` with `base`.
    #[inline(always)]
    pub fn with_base(self, code: u64, base: u64) -> u64 {
        code - code % self.offset() + base
    }

    #[inline(always)]
    pub fn next(self, code: u64) -> u64 {
        if self.extended {
            fold_extended(siphash24(self.key, &code.to_be_bytes()))
        } else {
            // The reference packs the code as a big-endian u32 and repeats it
            // to reach 8 bytes.
            let word = (code as u32).to_be_bytes();
            let data = [
                word[0], word[1], word[2], word[3], word[0], word[1], word[2], word[3],
            ];
            fold_standard(siphash24(self.key, &data))
        }
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
    (0..digits)
        .rev()
        .map(|i| char::from(b'1' + ((code >> (2 * i)) & 0b11) as u8))
        .collect()
}

/// Reads a restricted-digit-set token back into its code; `None` when a digit
/// is outside 1-4.
pub(crate) fn from_restricted_digits(token: &str) -> Option<u64> {
    token.bytes().try_fold(0u64, |acc, c| match c {
        b'1'..=b'4' => Some((acc << 2) | u64::from(c - b'1')),
        _ => None,
    })
}
