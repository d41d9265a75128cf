//! The platform's eight code types, mapped onto each device protocol.
//!
//! `docs/codes.md` holds the same mapping as a table. A type that a protocol
//! cannot carry faithfully is a [`CodeError::Unsupported`], never a code that
//! does something else on the device.

use std::fmt;
use std::str::FromStr;

use crate::nexus::full::{self, FullMessage, WipeFlags};
use crate::nexus::small::{self, Maintenance, SmallMessage};
use crate::nexus::NexusError;
use crate::openpaygo::{self, EncodeError, TokenConfig, TokenType};
use crate::SecretKey;

/// The largest day argument `add_time` and `set_time` take.
pub const MAX_DAYS_ARG: u32 = 999;

/// What a code does, as the codes API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CodeType {
    /// Add `arg` days (0-999) to the remaining time.
    #[cfg_attr(feature = "serde", serde(rename = "add_time"))]
    AddTime,
    /// Set the remaining time to `arg` days (0-999); earlier add/set codes stop working.
    #[cfg_attr(feature = "serde", serde(rename = "set_time"))]
    SetTime,
    /// Add one hour.
    #[cfg_attr(feature = "serde", serde(rename = "1_hour"))]
    OneHour,
    /// Add one minute.
    #[cfg_attr(feature = "serde", serde(rename = "1_minute"))]
    OneMinute,
    /// Zero the credit; earlier codes stay valid.
    #[cfg_attr(feature = "serde", serde(rename = "credit_reset"))]
    CreditReset,
    /// Erase the history of received codes.
    #[cfg_attr(feature = "serde", serde(rename = "history_reset"))]
    HistoryReset,
    /// Erase the history and zero the credit.
    #[cfg_attr(feature = "serde", serde(rename = "full_reset"))]
    FullReset,
    /// Activate for good.
    #[cfg_attr(feature = "serde", serde(rename = "unlock"))]
    Unlock,
}

impl CodeType {
    /// Every code type, in the API's order.
    pub const ALL: [CodeType; 8] = [
        Self::AddTime,
        Self::SetTime,
        Self::OneHour,
        Self::OneMinute,
        Self::CreditReset,
        Self::HistoryReset,
        Self::FullReset,
        Self::Unlock,
    ];

    /// The API name, e.g. `add_time`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddTime => "add_time",
            Self::SetTime => "set_time",
            Self::OneHour => "1_hour",
            Self::OneMinute => "1_minute",
            Self::CreditReset => "credit_reset",
            Self::HistoryReset => "history_reset",
            Self::FullReset => "full_reset",
            Self::Unlock => "unlock",
        }
    }

    /// Whether the type uses its argument (days).
    pub fn takes_days(self) -> bool {
        matches!(self, Self::AddTime | Self::SetTime)
    }
}

impl fmt::Display for CodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown code type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown code type {0:?}; expected one of add_time, set_time, 1_hour, 1_minute, credit_reset, history_reset, full_reset, unlock")]
pub struct UnknownCodeType(pub String);

impl FromStr for CodeType {
    type Err = UnknownCodeType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownCodeType(s.to_owned()))
    }
}

/// The keypad protocol a device speaks, with its protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "protocol", rename_all = "snake_case"))]
pub enum DeviceProtocol {
    /// OpenPAYGO Token.
    #[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
    OpenPaygo {
        /// 12-digit extended tokens instead of 9-digit standard ones.
        extended: bool,
        /// Tokens in digits 1-4 (15 or 20 digits).
        restricted_digit_set: bool,
        /// Token value units per day (1 = days; 24 = hours; 1440 = minutes).
        time_divider: u32,
    },
    /// Nexus Keycode, full protocol.
    NexusFull,
    /// Nexus Keycode, small protocol.
    NexusSmall,
}

impl DeviceProtocol {
    /// A short name for messages, e.g. `OpenPAYGO standard`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenPaygo {
                extended: false, ..
            } => "OpenPAYGO standard",
            Self::OpenPaygo { extended: true, .. } => "OpenPAYGO extended",
            Self::NexusFull => "Nexus full",
            Self::NexusSmall => "Nexus small",
        }
    }
}

/// What the server keeps about a device to generate its codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSecrets {
    /// The protocol and its settings.
    pub protocol: DeviceProtocol,
    /// The device's secret key.
    pub key: SecretKey,
    /// OpenPAYGO starting code (`None` derives it from the key); unused by Nexus.
    pub starting_code: Option<u32>,
}

impl DeviceSecrets {
    /// The OpenPAYGO token settings of this device, given the two flags of
    /// its `DeviceProtocol::OpenPaygo` protocol.
    pub fn token_config(&self, extended: bool, restricted_digit_set: bool) -> TokenConfig {
        TokenConfig {
            key: self.key.clone(),
            starting_code: self.starting_code,
            restricted_digit_set,
            extended,
        }
    }
}

/// A generated code and the device count the server must store next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct GeneratedCode {
    /// The code as a person types it (Nexus codes rendered with `*`/`#` or start key).
    pub code: String,
    /// The OpenPAYGO count or Nexus message id the code carries.
    pub count: u32,
    /// The count to store on the device record for the next code.
    pub next_count: u32,
}

/// Why a code could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The argument is outside what the API allows for the type.
    #[error("the argument {arg} is out of range for {code_type}: it must be 0-{max} days")]
    ArgumentOutOfRange {
        /// The code type.
        code_type: CodeType,
        /// The argument given.
        arg: u32,
        /// The largest argument.
        max: u32,
    },
    /// The device's protocol cannot carry the type (or this value of it) faithfully.
    #[error("{code_type} cannot be expressed by the {protocol} protocol: {reason}")]
    Unsupported {
        /// The code type.
        code_type: CodeType,
        /// The protocol name.
        protocol: &'static str,
        /// Why, in a sentence.
        reason: String,
    },
    /// The device record itself is unusable (e.g. time divider 0).
    #[error("the device settings are invalid: {0}")]
    InvalidDevice(String),
    /// The device's count cannot advance any further.
    #[error("the device's count {0} cannot advance any further")]
    CountExhausted(u32),
}

/// Generates a code of `code_type` for a device whose stored count is `count`.
///
/// `arg` is the number of days for `add_time` and `set_time` (0-999) and is
/// ignored for the other types. For OpenPAYGO, `count` is the last count
/// issued; for Nexus it is the next message id to use.
pub fn generate(
    device: &DeviceSecrets,
    count: u32,
    code_type: CodeType,
    arg: u32,
) -> Result<GeneratedCode, CodeError> {
    if code_type.takes_days() && arg > MAX_DAYS_ARG {
        return Err(CodeError::ArgumentOutOfRange {
            code_type,
            arg,
            max: MAX_DAYS_ARG,
        });
    }
    let days = if code_type.takes_days() { arg } else { 0 };
    let unsupported = |reason: &str| CodeError::Unsupported {
        code_type,
        protocol: device.protocol.name(),
        reason: reason.to_owned(),
    };
    match device.protocol {
        DeviceProtocol::OpenPaygo {
            extended,
            restricted_digit_set,
            time_divider,
        } => {
            if time_divider == 0 {
                return Err(CodeError::InvalidDevice(
                    "the time divider must be at least 1".into(),
                ));
            }
            let config = device.token_config(extended, restricted_digit_set);
            let divider = u64::from(time_divider);
            let (token_type, value) = match code_type {
                CodeType::AddTime => (TokenType::AddTime, u64::from(days) * divider),
                CodeType::SetTime => (TokenType::SetTime, u64::from(days) * divider),
                CodeType::OneHour if divider.is_multiple_of(24) => (TokenType::AddTime, divider / 24),
                CodeType::OneHour => {
                    return Err(unsupported(&format!(
                        "a time divider of {time_divider} cannot carry one hour (it needs a multiple of 24)"
                    )))
                }
                CodeType::OneMinute if divider.is_multiple_of(1440) => (TokenType::AddTime, divider / 1440),
                CodeType::OneMinute => {
                    return Err(unsupported(&format!(
                        "a time divider of {time_divider} cannot carry one minute (it needs a multiple of 1440)"
                    )))
                }
                CodeType::CreditReset => {
                    return Err(unsupported(
                        "tokens can only add or set time; SET_TIME 0 would also invalidate earlier codes",
                    ))
                }
                CodeType::HistoryReset | CodeType::FullReset => {
                    return Err(unsupported("tokens cannot erase the device's used-token history"))
                }
                CodeType::Unlock if extended => {
                    return Err(unsupported(
                        "extended tokens have no distinct DISABLE_PAYG: the reference decodes it as SET_TIME 998",
                    ))
                }
                CodeType::Unlock => (TokenType::DisablePayg, 0),
            };
            let token = openpaygo::encode_token(&config, count, token_type, value).map_err(
                |e| match e {
                    EncodeError::ValueTooHigh { .. } => {
                        unsupported(&format!("{e} (time divider {time_divider})"))
                    }
                    EncodeError::StartingCodeTooLarge(_) => CodeError::InvalidDevice(e.to_string()),
                    EncodeError::CountOverflow(c) => CodeError::CountExhausted(c),
                },
            )?;
            Ok(GeneratedCode {
                code: token.digits,
                count: token.count,
                next_count: token.count,
            })
        }
        DeviceProtocol::NexusFull => {
            let message = match code_type {
                CodeType::AddTime => FullMessage::AddCredit { hours: days * 24 },
                CodeType::SetTime => FullMessage::SetCredit { hours: days * 24 },
                CodeType::OneHour => FullMessage::AddCredit { hours: 1 },
                CodeType::OneMinute => return Err(unsupported("credit is counted in whole hours")),
                CodeType::CreditReset => {
                    return Err(unsupported(
                        "WIPE_STATE marks every earlier message id as received, so earlier codes would stop working",
                    ))
                }
                CodeType::HistoryReset => FullMessage::WipeState(WipeFlags::WipeIdsAll),
                CodeType::FullReset => FullMessage::WipeState(WipeFlags::TargetFlags1),
                CodeType::Unlock => FullMessage::Unlock,
            };
            let next = count
                .checked_add(1)
                .ok_or(CodeError::CountExhausted(count))?;
            let keycode = full::encode(count, message, &device.key)
                .map_err(nexus_error(code_type, device))?;
            Ok(GeneratedCode {
                code: keycode.rendered,
                count,
                next_count: after_nexus(code_type, next),
            })
        }
        DeviceProtocol::NexusSmall => {
            let mut id = count;
            let message = match code_type {
                CodeType::AddTime => {
                    let exact = (1..=small::MAX_ADD_CREDIT_DAYS).contains(&days)
                        && small::add_credit_increment(days)
                            .is_ok_and(|inc| small::add_credit_days(inc) == days);
                    if !exact {
                        return Err(unsupported(&format!(
                            "ADD_CREDIT carries 1-180 days exactly and 183-405 days in steps of 3, not {days}"
                        )));
                    }
                    SmallMessage::AddCredit { days }
                }
                CodeType::SetTime => {
                    let exact = days == 0
                        || small::set_credit_increment(days)
                            .is_ok_and(|inc| small::set_credit_days(inc) == days);
                    if !exact {
                        return Err(unsupported(&format!(
                            "SET_CREDIT carries 0-90 days exactly, then 92-180 in steps of 2, 184-360 in 4s, 368-720 in 8s and 736-960 in 16s, not {days}"
                        )));
                    }
                    if id & 0x3f == 63 && days == 1 {
                        // The reference refuses this id (it reads as an old
                        // test code); the next id is as good.
                        id = id.checked_add(1).ok_or(CodeError::CountExhausted(count))?;
                    }
                    SmallMessage::SetCredit { days }
                }
                CodeType::OneHour | CodeType::OneMinute => {
                    return Err(unsupported("credit is counted in whole days"))
                }
                CodeType::CreditReset => SmallMessage::Maintenance(Maintenance::WipeState0),
                CodeType::HistoryReset => SmallMessage::Maintenance(Maintenance::WipeIdsAll),
                CodeType::FullReset => SmallMessage::Maintenance(Maintenance::WipeState1),
                CodeType::Unlock => SmallMessage::Unlock,
            };
            let keycode =
                small::encode(id, message, &device.key).map_err(nexus_error(code_type, device))?;
            let (used_id, next) = match message {
                // Maintenance messages carry id 0 and consume no id.
                SmallMessage::Maintenance(_) => (0, count),
                _ => (
                    id,
                    id.checked_add(1).ok_or(CodeError::CountExhausted(count))?,
                ),
            };
            Ok(GeneratedCode {
                code: keycode.rendered,
                count: used_id,
                next_count: after_nexus(code_type, next),
            })
        }
    }
}

/// After a code that wipes the received ids, the device's window restarts at
/// ids 0-63, so the server's next message id restarts at 0 too.
fn after_nexus(code_type: CodeType, next: u32) -> u32 {
    match code_type {
        CodeType::HistoryReset | CodeType::FullReset => 0,
        _ => next,
    }
}

fn nexus_error(
    code_type: CodeType,
    device: &DeviceSecrets,
) -> impl Fn(NexusError) -> CodeError + '_ {
    move |error| CodeError::Unsupported {
        code_type,
        protocol: device.protocol.name(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(protocol: DeviceProtocol) -> DeviceSecrets {
        DeviceSecrets {
            protocol,
            key: SecretKey::from_hex("deadbeefdeadbeefdeadbeefdeadbeef").unwrap(),
            starting_code: None,
        }
    }

    fn openpaygo(divider: u32, extended: bool) -> DeviceSecrets {
        device(DeviceProtocol::OpenPaygo {
            extended,
            restricted_digit_set: false,
            time_divider: divider,
        })
    }

    fn is_unsupported(result: Result<GeneratedCode, CodeError>) -> bool {
        matches!(result, Err(CodeError::Unsupported { .. }))
    }

    #[test]
    fn code_type_names_round_trip() {
        for code_type in CodeType::ALL {
            assert_eq!(code_type.as_str().parse::<CodeType>(), Ok(code_type));
        }
        assert!("Add_Time".parse::<CodeType>().is_err());
    }

    #[test]
    fn openpaygo_hours_and_minutes_depend_on_the_divider() {
        assert!(is_unsupported(generate(
            &openpaygo(1, false),
            1,
            CodeType::OneHour,
            0
        )));
        assert!(generate(&openpaygo(24, false), 1, CodeType::OneHour, 0).is_ok());
        // With 1440 units a day a minute is 1, but a whole day (1440) only
        // fits extended tokens.
        assert!(generate(&openpaygo(1440, false), 1, CodeType::OneMinute, 0).is_ok());
        assert!(is_unsupported(generate(
            &openpaygo(1440, false),
            1,
            CodeType::AddTime,
            1
        )));
        assert!(generate(&openpaygo(1440, true), 1, CodeType::AddTime, 1).is_ok());
        assert!(is_unsupported(generate(
            &openpaygo(60, false),
            1,
            CodeType::OneMinute,
            0
        )));
        assert!(is_unsupported(generate(
            &openpaygo(24, false),
            1,
            CodeType::AddTime,
            42
        )));
        assert!(generate(&openpaygo(1, false), 1, CodeType::AddTime, 995).is_ok());
        assert!(is_unsupported(generate(
            &openpaygo(1, false),
            1,
            CodeType::AddTime,
            996
        )));
        assert!(matches!(
            generate(&openpaygo(0, false), 1, CodeType::AddTime, 1),
            Err(CodeError::InvalidDevice(_))
        ));
    }

    #[test]
    fn unsupported_errors_name_the_type_and_the_protocol() {
        let error = generate(&openpaygo(1, true), 1, CodeType::Unlock, 0).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("unlock") && message.contains("OpenPAYGO extended"),
            "{message}"
        );
        for code_type in [
            CodeType::CreditReset,
            CodeType::HistoryReset,
            CodeType::FullReset,
        ] {
            assert!(is_unsupported(generate(
                &openpaygo(1, false),
                1,
                code_type,
                0
            )));
        }
        assert!(is_unsupported(generate(
            &device(DeviceProtocol::NexusFull),
            0,
            CodeType::CreditReset,
            0
        )));
        assert!(is_unsupported(generate(
            &device(DeviceProtocol::NexusFull),
            0,
            CodeType::OneMinute,
            0
        )));
    }

    #[test]
    fn nexus_small_takes_only_day_counts_the_device_credits_exactly() {
        let small = device(DeviceProtocol::NexusSmall);
        for days in [1, 180, 183, 186, 405] {
            assert!(
                generate(&small, 0, CodeType::AddTime, days).is_ok(),
                "{days}"
            );
        }
        for days in [0, 181, 182, 184, 406, 999] {
            assert!(
                is_unsupported(generate(&small, 0, CodeType::AddTime, days)),
                "{days}"
            );
        }
        for days in [0, 1, 90, 92, 184, 368, 736, 960] {
            assert!(
                generate(&small, 0, CodeType::SetTime, days).is_ok(),
                "{days}"
            );
        }
        for days in [91, 181, 721, 961] {
            assert!(
                is_unsupported(generate(&small, 0, CodeType::SetTime, days)),
                "{days}"
            );
        }
        assert!(is_unsupported(generate(&small, 0, CodeType::OneHour, 0)));
    }

    #[test]
    fn nexus_small_skips_the_colliding_id_and_maintenance_uses_none() {
        let small = device(DeviceProtocol::NexusSmall);
        let code = generate(&small, 63, CodeType::SetTime, 1).unwrap();
        assert_eq!((code.count, code.next_count), (64, 65));
        let reset = generate(&small, 10, CodeType::CreditReset, 0).unwrap();
        assert_eq!((reset.count, reset.next_count), (0, 10));
    }

    #[test]
    fn nexus_ids_restart_after_a_history_wipe() {
        for protocol in [DeviceProtocol::NexusFull, DeviceProtocol::NexusSmall] {
            for code_type in [CodeType::HistoryReset, CodeType::FullReset] {
                let code = generate(&device(protocol), 77, code_type, 0).unwrap();
                assert_eq!(code.next_count, 0, "{code_type} on {}", protocol.name());
            }
            let add = generate(&device(protocol), 77, CodeType::AddTime, 1).unwrap();
            assert_eq!((add.count, add.next_count), (77, 78));
        }
        assert!(matches!(
            generate(
                &device(DeviceProtocol::NexusFull),
                u32::MAX,
                CodeType::AddTime,
                1
            ),
            Err(CodeError::CountExhausted(_))
        ));
    }
}
