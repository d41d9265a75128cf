use super::chain::{from_restricted_digits, Chain};
use super::{TokenConfig, TokenType, COUNTER_SYNC_VALUE, PAYG_DISABLE_VALUE};

/// How far past the device's count the decoder looks for a token.
pub const MAX_TOKEN_JUMP: u32 = 64;
/// How far past the device's count the decoder looks for a COUNTER_SYNC token.
pub const MAX_TOKEN_JUMP_COUNTER_SYNC: u32 = 100;
/// How many counts below the device's count an unused ADD_TIME token stays valid.
pub const MAX_UNUSED_OLDER_TOKENS: u32 = 16;

/// What the device makes of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "result", rename_all = "snake_case"))]
pub enum Decoded {
    /// The token authenticates and may be applied.
    Valid {
        /// The raw value carried (divide by the time divider for days).
        value: u32,
        /// The type its count's parity and value give it.
        token_type: TokenType,
        /// The chain position it was found at.
        count: u32,
        /// The used-count list the device must store from now on.
        used_counts: Vec<u32>,
    },
    /// The token authenticates but was used, or is too old.
    AlreadyUsed,
    /// The token does not belong to this device (or is out of window).
    Invalid,
}

/// Why a token could not even be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The token holds something other than digits of its alphabet.
    #[error("the token may only hold the digits {allowed}")]
    BadDigit {
        /// The allowed digits, "0-9" or "1-4".
        allowed: &'static str,
    },
    /// The token has the wrong number of digits for the configuration.
    #[error("the token must be {expected} digits long, got {actual}")]
    WrongLength {
        /// The length the configuration calls for.
        expected: usize,
        /// The length given.
        actual: usize,
    },
}

/// Decodes `token` as the device would, given its last accepted `count` and
/// the `used_counts` it keeps.
///
/// The acceptance rules are the reference decoder's: the chain is searched
/// from count 0 up to `count + 64` (`count + 100` for a COUNTER_SYNC value);
/// a match above `count` is valid, as is an unused ADD_TIME match less than
/// 16 below it; a COUNTER_SYNC match is valid down to 64 below `count`.
///
/// Unlike the reference, an empty `used_counts` starts tracking (the
/// reference returns no list at all in that case, so a device fed its own
/// output would never record a used count).
pub fn decode_token(
    config: &TokenConfig,
    token: &str,
    count: u32,
    used_counts: &[u32],
) -> Result<Decoded, DecodeError> {
    let expected = config.token_length();
    if !token.bytes().all(|c| c.is_ascii_digit()) {
        let allowed = if config.restricted_digit_set {
            "1-4"
        } else {
            "0-9"
        };
        return Err(DecodeError::BadDigit { allowed });
    }
    if token.len() != expected {
        return Err(DecodeError::WrongLength {
            expected,
            actual: token.len(),
        });
    }
    let code = if config.restricted_digit_set {
        from_restricted_digits(token).ok_or(DecodeError::BadDigit { allowed: "1-4" })?
    } else {
        // At most 12 ASCII digits: always fits.
        token
            .bytes()
            .fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0'))
    };
    let chain = Chain::new(config.key.as_bytes(), config.extended);
    let starting_code = u64::from(config.effective_starting_code());
    let offset = chain.offset();
    let token_base = chain.base_of(code);
    let starting_base = chain.base_of(starting_code);
    let value = ((token_base + offset - starting_base) % offset) as u32;

    let jump = if value == COUNTER_SYNC_VALUE && !config.extended {
        MAX_TOKEN_JUMP_COUNTER_SYNC
    } else {
        MAX_TOKEN_JUMP
    };
    let last_try = u64::from(count) + u64::from(jump);
    let mut current = chain.with_base(starting_code, token_base);
    let mut seen_older = false;
    let mut position: u64 = 0;
    while position <= last_try {
        if chain.with_base(current, token_base) == code {
            let found = position as u32;
            let token_type = type_at(found, value, config.extended);
            if count_is_valid(found, count, value, token_type, used_counts) {
                return Ok(Decoded::Valid {
                    value,
                    token_type,
                    count: found,
                    used_counts: update_used_counts(used_counts, value, found, token_type),
                });
            }
            seen_older = true;
        }
        current = chain.next(current);
        position += 1;
    }
    Ok(if seen_older {
        Decoded::AlreadyUsed
    } else {
        Decoded::Invalid
    })
}

fn type_at(count: u32, value: u32, extended: bool) -> TokenType {
    if count.is_multiple_of(2) {
        TokenType::AddTime
    } else if extended {
        // The reference's extended decoder reports every odd count as SET_TIME.
        TokenType::SetTime
    } else if value == COUNTER_SYNC_VALUE {
        TokenType::CounterSync
    } else if value == PAYG_DISABLE_VALUE {
        TokenType::DisablePayg
    } else {
        TokenType::SetTime
    }
}

fn count_is_valid(
    found: u32,
    last: u32,
    value: u32,
    token_type: TokenType,
    used_counts: &[u32],
) -> bool {
    let found = i64::from(found);
    let last = i64::from(last);
    if value == COUNTER_SYNC_VALUE {
        found > last - i64::from(MAX_TOKEN_JUMP)
    } else if found > last {
        true
    } else {
        found > last - i64::from(MAX_UNUSED_OLDER_TOKENS)
            && token_type == TokenType::AddTime
            && !used_counts.iter().any(|&c| i64::from(c) == found)
    }
}

fn update_used_counts(past: &[u32], value: u32, found: u32, token_type: TokenType) -> Vec<u32> {
    let highest = past.iter().copied().max().unwrap_or(0).max(found);
    let bottom = highest.saturating_sub(MAX_UNUSED_OLDER_TOKENS);
    let marks_everything = token_type != TokenType::AddTime
        || value == COUNTER_SYNC_VALUE
        || value == PAYG_DISABLE_VALUE;
    (bottom..=highest)
        .filter(|c| marks_everything || *c == found || past.contains(c))
        .collect()
}
