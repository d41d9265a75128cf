//! The Nexus "full" protocol: `*` + 14 digits + `#` on a 0-9 keypad.
//!
//! An activation message is a 1-digit type, the 2-digit low 6 bits of the
//! message id, a 5-digit body and a 6-digit MAC; its first 8 digits are then
//! shifted by pseudorandom amounts derived from the MAC ("obscured") so that
//! consecutive keycodes look unrelated. Factory messages are a type digit and
//! a MAC under the all-zero key, not obscured.

use super::{
    group_digits, pseudorandom_bytes, DeviceAction, NexusError, NexusReceiver, PaygState, Received,
    FIXED_00_KEY,
};
use crate::{siphash24, SecretKey};

/// Hours in a SET_CREDIT body that mean "unlock".
pub const UNLOCK_HOURS: u32 = 99_999;

/// WIPE_STATE targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum WipeFlags {
    /// Zero the credit; keep the received-id flags.
    TargetFlags0 = 0,
    /// Zero the credit and forget every received id.
    TargetFlags1 = 1,
    /// Forget every received id; credit unchanged.
    WipeIdsAll = 2,
    /// Clear the application's "restricted" flag; nothing else.
    WipeRestrictedFlag = 3,
}

/// A full-protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullMessage {
    /// ADD_CREDIT of `hours` (0-99999).
    AddCredit {
        /// Hours to add.
        hours: u32,
    },
    /// SET_CREDIT of `hours` (0-99999; 99999 unlocks).
    SetCredit {
        /// Hours to set.
        hours: u32,
    },
    /// SET_CREDIT of 99999 hours: unlock for good.
    Unlock,
    /// WIPE_STATE with one of its four targets.
    WipeState(WipeFlags),
    /// Factory: briefly enable a disabled device for field testing.
    FactoryAllowTest,
    /// Factory: one hour of credit, up to 10 times per device.
    FactoryOqcTest,
    /// Factory: show the PAYG id the device was provisioned with.
    FactoryDisplayPaygId,
}

const TYPE_ADD_CREDIT: u8 = 0;
const TYPE_SET_CREDIT: u8 = 1;
const TYPE_WIPE_STATE: u8 = 2;
const TYPE_DEMO: u8 = 3;
const TYPE_FACTORY_ALLOW_TEST: u8 = 4;
const TYPE_FACTORY_OQC_TEST: u8 = 5;
const TYPE_FACTORY_DISPLAY_PAYG_ID: u8 = 6;

/// A generated full-protocol keycode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FullKeycode {
    /// The digits as typed, without `*`, `#` or spaces.
    pub digits: String,
    /// The keycode as shown to a person: `*` + groups of 3 + `#`.
    pub rendered: String,
}

impl FullMessage {
    fn parts(self) -> Result<(u8, u32, bool), NexusError> {
        let check_hours = |hours: u32| {
            if hours > UNLOCK_HOURS {
                Err(NexusError::HoursTooLarge { hours })
            } else {
                Ok(hours)
            }
        };
        Ok(match self {
            Self::AddCredit { hours } => (TYPE_ADD_CREDIT, check_hours(hours)?, false),
            Self::SetCredit { hours } => (TYPE_SET_CREDIT, check_hours(hours)?, false),
            Self::Unlock => (TYPE_SET_CREDIT, UNLOCK_HOURS, false),
            Self::WipeState(flags) => (TYPE_WIPE_STATE, flags as u32, false),
            Self::FactoryAllowTest => (TYPE_FACTORY_ALLOW_TEST, 0, true),
            Self::FactoryOqcTest => (TYPE_FACTORY_OQC_TEST, 0, true),
            Self::FactoryDisplayPaygId => (TYPE_FACTORY_DISPLAY_PAYG_ID, 0, true),
        })
    }
}

/// The 6 MAC digits over (id, type, body) as a number below 10^6.
fn mac(key: &[u8; 16], id: u32, type_code: u8, body: u32) -> u32 {
    let mut input = [0u8; 9];
    input[..4].copy_from_slice(&id.to_le_bytes());
    input[4] = type_code;
    input[5..].copy_from_slice(&body.to_le_bytes());
    ((siphash24(key, &input) & 0xffff_ffff) % 1_000_000) as u32
}

/// Shifts the 8 body digits by the pseudorandom amounts the MAC seeds;
/// `forward` obscures, otherwise it reverses the shift.
fn shift_body(digits: &mut [u8; 14], mac_value: u32, forward: bool) {
    let amounts = pseudorandom_bytes(&mac_value.to_le_bytes());
    for (digit, amount) in digits.iter_mut().zip(amounts) {
        let amount = amount % 10;
        *digit = if forward {
            (*digit + amount) % 10
        } else {
            (*digit + 10 - amount) % 10
        };
    }
}

/// Generates the keycode for `message` with message id `id` (ignored for
/// factory messages, which always use id 0 and the all-zero key).
pub fn encode(id: u32, message: FullMessage, key: &SecretKey) -> Result<FullKeycode, NexusError> {
    let (type_code, body, factory) = message.parts()?;
    let digits = if factory {
        format!("{type_code}{:06}", mac(&FIXED_00_KEY, 0, type_code, 0))
    } else {
        let mac_value = mac(key.as_bytes(), id, type_code, body);
        let plain = format!("{type_code}{:02}{body:05}{mac_value:06}", id & 0x3f);
        let mut bytes = [0u8; 14];
        for (slot, c) in bytes.iter_mut().zip(plain.bytes()) {
            *slot = c - b'0';
        }
        shift_body(&mut bytes, mac_value, true);
        bytes.iter().map(|d| char::from(b'0' + d)).collect()
    };
    let rendered = format!("*{}#", group_digits(&digits, 3));
    Ok(FullKeycode { digits, rendered })
}

/// Reads typed keycode text into its digits: an optional leading `*` and
/// trailing `#`, with spaces or dashes between groups. `None` when anything
/// else is present.
fn keycode_digits(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim();
    let trimmed = trimmed.strip_prefix('*').unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix('#').unwrap_or(trimmed);
    let mut digits = Vec::with_capacity(14);
    for c in trimmed.bytes() {
        match c {
            b'0'..=b'9' => digits.push(c - b'0'),
            b' ' | b'-' => {}
            _ => return None,
        }
    }
    Some(digits)
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(*d))
}

impl NexusReceiver {
    /// Authenticates and applies a full-protocol keycode as the firmware
    /// does, given the device's secret key and PAYG state. The caller carries
    /// out the returned action on its credit.
    pub fn receive_full(&mut self, key: &SecretKey, state: PaygState, keycode: &str) -> Received {
        let Some(digits) = keycode_digits(keycode) else {
            return Received::Invalid;
        };
        match digits.len() {
            14 => self.receive_full_activation(key, state, digits),
            7 => self.receive_full_factory(state, &digits),
            _ => Received::Invalid,
        }
    }

    fn receive_full_activation(
        &mut self,
        key: &SecretKey,
        state: PaygState,
        digits: Vec<u8>,
    ) -> Received {
        let mut bytes = [0u8; 14];
        bytes.copy_from_slice(&digits);
        let mac_value = number(&bytes[8..]);
        shift_body(&mut bytes, mac_value, false);
        let type_code = bytes[0];
        let compressed_id = number(&bytes[1..3]);
        if compressed_id > 63 {
            return Received::Invalid;
        }
        let id = self.window.infer_full_id(compressed_id as u8);
        let body = match type_code {
            TYPE_ADD_CREDIT | TYPE_SET_CREDIT | TYPE_DEMO => number(&bytes[3..8]),
            // Four reserved digits, then the target.
            TYPE_WIPE_STATE => u32::from(bytes[7]),
            _ => return Received::Invalid,
        };
        if mac(key.as_bytes(), id, type_code, body) != mac_value {
            return Received::Invalid;
        }
        if type_code == TYPE_DEMO {
            // Demo keycodes are reusable: no id is recorded.
            return Received::Applied(if state == PaygState::Unlocked {
                DeviceAction::None
            } else {
                DeviceAction::AddCredit {
                    seconds: u64::from(body) * 60,
                }
            });
        }
        if self.window.is_received(id) {
            return Received::Duplicate;
        }
        let seconds = u64::from(body) * 3_600;
        match type_code {
            TYPE_ADD_CREDIT => {
                self.window.mark_received(id);
                if state == PaygState::Unlocked {
                    return Received::Duplicate;
                }
                Received::Applied(DeviceAction::AddCredit { seconds })
            }
            TYPE_SET_CREDIT => {
                self.window.mark_received_up_to(id);
                Received::Applied(if body == UNLOCK_HOURS {
                    DeviceAction::Unlock
                } else {
                    DeviceAction::SetCredit { seconds }
                })
            }
            _ => {
                self.window.mark_received_up_to(id);
                Received::Applied(match body {
                    0 => DeviceAction::ZeroCredit,
                    1 => {
                        self.forget_ids();
                        DeviceAction::ZeroCredit
                    }
                    2 => {
                        self.forget_ids();
                        DeviceAction::None
                    }
                    3 => DeviceAction::None,
                    _ => return Received::Invalid,
                })
            }
        }
    }

    fn receive_full_factory(&mut self, state: PaygState, digits: &[u8]) -> Received {
        let type_code = digits[0];
        if !(TYPE_FACTORY_ALLOW_TEST..=TYPE_FACTORY_DISPLAY_PAYG_ID).contains(&type_code) {
            return Received::Invalid;
        }
        if mac(&FIXED_00_KEY, 0, type_code, 0) != number(&digits[1..]) {
            return Received::Invalid;
        }
        match type_code {
            TYPE_FACTORY_ALLOW_TEST => Self::short_test(state),
            TYPE_FACTORY_OQC_TEST => self.oqc_test(state),
            _ => Received::Applied(DeviceAction::DisplayPaygId),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme_key() -> SecretKey {
        SecretKey::from_hex("deadbeefdeadbeefdeadbeefdeadbeef").unwrap()
    }

    /// The reference package README's two examples.
    #[test]
    fn reproduces_the_reference_readme() {
        let add = encode(42, FullMessage::AddCredit { hours: 168 }, &readme_key()).unwrap();
        assert_eq!(add.rendered, "*599 791 493 194 43#");
        let unlock = encode(44, FullMessage::Unlock, &readme_key()).unwrap();
        assert_eq!(unlock.rendered, "*578 396 697 305 45#");
    }

    #[test]
    fn refuses_replays_and_forgeries() {
        let key = readme_key();
        let code = encode(5, FullMessage::AddCredit { hours: 24 }, &key).unwrap();
        let mut receiver = NexusReceiver::default();
        assert_eq!(
            receiver.receive_full(&key, PaygState::Disabled, &code.rendered),
            Received::Applied(DeviceAction::AddCredit { seconds: 86_400 })
        );
        assert_eq!(
            receiver.receive_full(&key, PaygState::Enabled, &code.rendered),
            Received::Duplicate
        );
        let mut forged = code.digits.clone().into_bytes();
        forged[13] = b'0' + (forged[13] - b'0' + 1) % 10;
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            receiver.receive_full(&key, PaygState::Enabled, &forged),
            Received::Invalid
        );
        assert_eq!(
            receiver.receive_full(&key, PaygState::Enabled, "*12a#"),
            Received::Invalid
        );
    }

    #[test]
    fn factory_and_test_keycodes_follow_the_firmware_limits() {
        use crate::nexus::small::{self, SmallMessage, Test};
        use crate::nexus::{MAX_OQC_TESTS, OQC_TEST_SECONDS, SHORT_TEST_SECONDS};
        let key = readme_key();
        let short = Received::Applied(DeviceAction::AddCredit {
            seconds: SHORT_TEST_SECONDS,
        });
        let oqc = Received::Applied(DeviceAction::AddCredit {
            seconds: OQC_TEST_SECONDS,
        });
        let full_short = encode(0, FullMessage::FactoryAllowTest, &key)
            .unwrap()
            .rendered;
        let full_oqc = encode(0, FullMessage::FactoryOqcTest, &key)
            .unwrap()
            .rendered;
        let small_short = small::encode(0, SmallMessage::Test(Test::ShortTest), &key)
            .unwrap()
            .rendered;
        let small_oqc = small::encode(0, SmallMessage::Test(Test::OqcTest), &key)
            .unwrap()
            .rendered;
        type Receive = fn(&mut NexusReceiver, &SecretKey, PaygState, &str) -> Received;
        let cases: [(Receive, &str, &str); 2] = [
            (NexusReceiver::receive_full, &full_short, &full_oqc),
            (NexusReceiver::receive_small, &small_short, &small_oqc),
        ];
        for (receive, short_code, oqc_code) in cases {
            let mut receiver = NexusReceiver::default();
            assert_eq!(
                receive(&mut receiver, &key, PaygState::Disabled, short_code),
                short
            );
            assert_eq!(
                receive(&mut receiver, &key, PaygState::Enabled, short_code),
                Received::Duplicate
            );
            for _ in 0..MAX_OQC_TESTS {
                assert_eq!(
                    receive(&mut receiver, &key, PaygState::Enabled, oqc_code),
                    oqc
                );
            }
            assert_eq!(
                receive(&mut receiver, &key, PaygState::Enabled, oqc_code),
                Received::Duplicate
            );
            receiver.forget_ids();
            assert_eq!(
                receive(&mut receiver, &key, PaygState::Unlocked, oqc_code),
                Received::Duplicate
            );
            assert_eq!(
                receive(&mut receiver, &key, PaygState::Enabled, oqc_code),
                oqc
            );
        }
        let display = encode(0, FullMessage::FactoryDisplayPaygId, &key)
            .unwrap()
            .rendered;
        assert_eq!(
            NexusReceiver::default().receive_full(&key, PaygState::Unlocked, &display),
            Received::Applied(DeviceAction::DisplayPaygId)
        );
    }
}
