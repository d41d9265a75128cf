//! OpenPAYGO Token, bit-exact with the `openpaygo` 0.6.3 reference package.
//!
//! A token is a value (activation days times the device's time divider, or a
//! special value) folded into the last digits of a SipHash-2-4 hash chain
//! that starts at the device's starting code. The chain position is the
//! token's *count*: even counts carry ADD_TIME, odd counts carry SET_TIME,
//! DISABLE_PAYG and COUNTER_SYNC.
//!
//! Standard tokens keep 3 value digits of a 9-digit chain value; extended
//! tokens keep 6 value digits of a 12-digit one. Either can be rendered in the
//! restricted digit set (digits 1-4, two bits per digit: 15 and 20 digits).

mod chain;
mod decode;
mod encode;

pub use decode::{
    decode_token, DecodeError, Decoded, MAX_TOKEN_JUMP, MAX_TOKEN_JUMP_COUNTER_SYNC,
    MAX_UNUSED_OLDER_TOKENS,
};
pub use encode::{encode_token, EncodeError, Token};

use crate::SecretKey;

/// What a token does on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum TokenType {
    /// Adds the value to the device's remaining time.
    AddTime,
    /// Sets the device's remaining time to the value; older tokens stop working.
    SetTime,
    /// Turns PAYG off: the device stays active for good.
    DisablePayg,
    /// Moves the device's count forward (or up to 64 back) without changing time.
    CounterSync,
}

/// Largest value a standard ADD_TIME/SET_TIME token carries.
pub const MAX_ACTIVATION_VALUE: u32 = 995;
/// Largest value an extended ADD_TIME/SET_TIME token carries.
pub const MAX_ACTIVATION_VALUE_EXTENDED: u32 = 999_999;
/// The value a DISABLE_PAYG token carries.
pub const PAYG_DISABLE_VALUE: u32 = 998;
/// The value a COUNTER_SYNC token carries.
pub const COUNTER_SYNC_VALUE: u32 = 999;
/// Largest starting code the reference accepts (9 digits).
pub const MAX_STARTING_CODE: u32 = 999_999_999;

/// Everything about a device that token generation and decoding depend on,
/// besides its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The device's secret key.
    pub key: SecretKey,
    /// The device's starting code; `None` (or 0, as in the reference) means
    /// "derive it from the key".
    pub starting_code: Option<u32>,
    /// Render and read tokens in the restricted digit set (digits 1-4).
    pub restricted_digit_set: bool,
    /// Use 12-digit extended tokens instead of 9-digit standard ones.
    pub extended: bool,
}

impl TokenConfig {
    /// A standard-token configuration with a starting code derived from the key.
    pub fn new(key: SecretKey) -> Self {
        Self {
            key,
            starting_code: None,
            restricted_digit_set: false,
            extended: false,
        }
    }

    /// The starting code in effect: the configured one, or the one the
    /// reference derives from the key when none (or 0) is configured.
    pub fn effective_starting_code(&self) -> u32 {
        match self.starting_code {
            Some(code) if code != 0 => code,
            _ => starting_code_from_key(&self.key),
        }
    }

    /// Number of digits a token has in this configuration.
    pub fn token_length(&self) -> usize {
        match (self.extended, self.restricted_digit_set) {
            (false, false) => 9,
            (true, false) => 12,
            (false, true) => 15,
            (true, true) => 20,
        }
    }
}

/// The starting code the reference derives from a key (SipHash of the key
/// under itself, folded to 9 digits).
pub fn starting_code_from_key(key: &SecretKey) -> u32 {
    let hash = crate::siphash24(key.as_bytes(), key.as_bytes());
    chain::fold_standard(hash) as u32
}
