use super::chain::{to_decimal_digits, to_restricted_digits, Chain};
use super::{
    TokenConfig, TokenType, COUNTER_SYNC_VALUE, MAX_ACTIVATION_VALUE,
    MAX_ACTIVATION_VALUE_EXTENDED, MAX_STARTING_CODE, PAYG_DISABLE_VALUE,
};

/// A generated token and the count the server must store for the device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Token {
    /// The token's digits, zero-padded to the configuration's length.
    pub digits: String,
    /// The chain position the token was taken from; the device's new count.
    pub count: u32,
}

/// Why a token could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// ADD_TIME/SET_TIME value above what the token width can carry.
    #[error("the value {value} is too high: {kind} tokens carry at most {max}")]
    ValueTooHigh {
        /// The value asked for (after the time divider).
        value: u64,
        /// The largest value allowed.
        max: u32,
        /// "standard" or "extended".
        kind: &'static str,
    },
    /// The starting code has more than 9 digits.
    #[error("the starting code {0} has more than 9 digits")]
    StartingCodeTooLarge(u64),
    /// The count would pass the largest count the platform tracks.
    #[error("the count {0} is too large to advance")]
    CountOverflow(u32),
}

/// Generates the next token of `token_type` for a device whose last issued
/// count is `count`.
///
/// `value` is the raw activation value (days times the time divider) for
/// ADD_TIME and SET_TIME and is ignored for DISABLE_PAYG and COUNTER_SYNC.
/// The new count is `count + 1` or `count + 2`, whichever has the parity of
/// the token type (even for ADD_TIME, odd for the others).
pub fn encode_token(
    config: &TokenConfig,
    count: u32,
    token_type: TokenType,
    value: u64,
) -> Result<Token, EncodeError> {
    let starting_code = u64::from(config.effective_starting_code());
    if starting_code > u64::from(MAX_STARTING_CODE) {
        return Err(EncodeError::StartingCodeTooLarge(starting_code));
    }
    let value = match token_type {
        TokenType::AddTime | TokenType::SetTime => {
            let (max, kind) = if config.extended {
                (MAX_ACTIVATION_VALUE_EXTENDED, "extended")
            } else {
                (MAX_ACTIVATION_VALUE, "standard")
            };
            if value > u64::from(max) {
                return Err(EncodeError::ValueTooHigh { value, max, kind });
            }
            value
        }
        TokenType::DisablePayg => u64::from(PAYG_DISABLE_VALUE),
        TokenType::CounterSync => u64::from(COUNTER_SYNC_VALUE),
    };
    let new_count = next_count(count, token_type).ok_or(EncodeError::CountOverflow(count))?;
    let chain = Chain::new(config.key.as_bytes(), config.extended);
    // The value rides on the starting code's own value digits, modulo the offset.
    let token_base = chain.base_of(chain.base_of(starting_code) + value);
    let code = chain.advance(chain.with_base(starting_code, token_base), new_count);
    let code = chain.with_base(code, token_base);
    let digits = if config.restricted_digit_set {
        to_restricted_digits(code, chain.restricted_digits())
    } else if config.extended {
        to_decimal_digits(code, 12)
    } else {
        to_decimal_digits(code, 9)
    };
    Ok(Token {
        digits,
        count: new_count,
    })
}

/// The count a token of `token_type` lands on after `count`.
pub(crate) fn next_count(count: u32, token_type: TokenType) -> Option<u32> {
    let odd = count % 2 == 1;
    let wants_odd = token_type != TokenType::AddTime;
    let step = if odd == wants_odd { 2 } else { 1 };
    count.checked_add(step)
}
