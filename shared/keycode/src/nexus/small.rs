//! The Nexus "small" protocol for 4-key keypads (keys 2-5, start key 1).
//!
//! A message is 28 bits: the 6 low bits of the message id, a 2-bit type, an
//! 8-bit body and a 12-bit MAC. The first 16 bits are XORed with
//! pseudorandom bits seeded by the MAC, and the 28 bits are typed as 14 keys,
//! two bits each, after the start key.

use super::{
    group_digits, pseudorandom_bytes, DeviceAction, NexusError, NexusReceiver, PaygState, Received,
    FIXED_FF_KEY,
};
use crate::{siphash24, SecretKey};

/// Largest number of days an ADD_CREDIT carries.
pub const MAX_ADD_CREDIT_DAYS: u32 = 405;
/// Largest number of days a SET_CREDIT carries.
pub const MAX_SET_CREDIT_DAYS: u32 = 960;

const TYPE_ADD_CREDIT: u8 = 0;
const TYPE_SET_CREDIT: u8 = 2;
const TYPE_MAINTENANCE_OR_TEST: u8 = 3;

const INCREMENT_UNLOCK: u8 = 255;
const INCREMENT_LOCK: u8 = 254;
const INCREMENT_CLEAR_RESTRICTED: u8 = 253;

/// Maintenance functions (authenticated with the device key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum Maintenance {
    /// Zero the credit; keep received ids.
    WipeState0 = 0,
    /// Zero the credit and forget every received id.
    WipeState1 = 1,
    /// Forget every received id.
    WipeIdsAll = 2,
}

/// Test functions (authenticated with the fixed all-0xff key, so any device
/// accepts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum Test {
    /// About two minutes of credit on a disabled device.
    ShortTest = 0,
    /// One hour of credit, up to 10 times per device.
    OqcTest = 1,
}

/// A small-protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmallMessage {
    /// ADD_CREDIT of 1-405 days (coarse steps of 3 above 180).
    AddCredit {
        /// Days to add.
        days: u32,
    },
    /// SET_CREDIT of 0-960 days (coarser steps above 90; 0 locks).
    SetCredit {
        /// Days to set.
        days: u32,
    },
    /// Unlock for good (an ADD_CREDIT with the unlock increment).
    Unlock,
    /// A maintenance function; always message id 0.
    Maintenance(Maintenance),
    /// A test function; always message id 0.
    Test(Test),
}

/// A generated small-protocol keycode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SmallKeycode {
    /// The keys as typed, start key included: `1` + 14 keys of 2-5.
    pub digits: String,
    /// The keycode as shown to a person, in groups of 3.
    pub rendered: String,
}

/// The increment id the reference sends for an ADD_CREDIT of `days`.
pub fn add_credit_increment(days: u32) -> Result<u8, NexusError> {
    match days {
        1..=180 => Ok((days - 1) as u8),
        181..=MAX_ADD_CREDIT_DAYS => Ok(((days - 181) / 3 + 180) as u8),
        _ => Err(NexusError::UnsupportedDays {
            days,
            message: "add credit",
            allowed: "1-405",
        }),
    }
}

/// The increment id the reference sends for a SET_CREDIT of `days`.
pub fn set_credit_increment(days: u32) -> Result<u8, NexusError> {
    let increment = match days {
        0 => u32::from(INCREMENT_LOCK),
        1..=90 => days - 1,
        91..=180 => (days - 91) / 2 + 90,
        181..=360 => (days - 181) / 4 + 135,
        361..=720 => (days - 361) / 8 + 180,
        721..=MAX_SET_CREDIT_DAYS => (days - 721) / 16 + 225,
        _ => {
            return Err(NexusError::UnsupportedDays {
                days,
                message: "set credit",
                allowed: "0-960",
            })
        }
    };
    Ok(increment as u8)
}

/// Days a device credits for an ADD_CREDIT increment id (firmware table).
pub fn add_credit_days(increment: u8) -> u32 {
    let increment = u32::from(increment);
    if increment < 180 {
        increment + 1
    } else {
        (increment - 179) * 3 + 180
    }
}

/// Days a device sets for a SET_CREDIT increment id below 240 (firmware
/// table); ids from 240 up are commands, and give 0.
pub fn set_credit_days(increment: u8) -> u32 {
    let increment = u32::from(increment);
    match increment {
        0..=89 => increment + 1,
        90..=134 => (increment - 89) * 2 + 90,
        135..=179 => (increment - 134) * 4 + 180,
        180..=224 => (increment - 179) * 8 + 360,
        225..=239 => (increment - 224) * 16 + 720,
        _ => 0,
    }
}

/// The 12-bit MAC over (id as little-endian u32, type, body).
fn mac(key: &[u8; 16], id: u32, type_code: u8, body: u8) -> u16 {
    let mut input = [0u8; 6];
    input[..4].copy_from_slice(&id.to_le_bytes());
    input[4] = type_code;
    input[5] = body;
    (siphash24(key, &input) >> 52) as u16
}

/// The 16 pseudorandom bits that obscure the id, type and body.
fn obscuring_bits(mac_value: u16) -> u32 {
    let bytes = pseudorandom_bytes(&mac_value.to_be_bytes());
    (u32::from(bytes[0]) << 8) | u32::from(bytes[1])
}

/// Generates the keycode for `message` with message id `id` (maintenance and
/// test messages always use id 0).
pub fn encode(id: u32, message: SmallMessage, key: &SecretKey) -> Result<SmallKeycode, NexusError> {
    let (id, type_code, body, mac_key) = match message {
        SmallMessage::AddCredit { days } => (
            id,
            TYPE_ADD_CREDIT,
            add_credit_increment(days)?,
            key.as_bytes(),
        ),
        SmallMessage::SetCredit { days } => {
            if id & 0x3f == 63 && days == 1 {
                return Err(NexusError::PossibleMessageCollision { id });
            }
            (
                id,
                TYPE_SET_CREDIT,
                set_credit_increment(days)?,
                key.as_bytes(),
            )
        }
        SmallMessage::Unlock => (id, TYPE_ADD_CREDIT, INCREMENT_UNLOCK, key.as_bytes()),
        SmallMessage::Maintenance(function) => (
            0,
            TYPE_MAINTENANCE_OR_TEST,
            function as u8 | 0x80,
            key.as_bytes(),
        ),
        SmallMessage::Test(function) => {
            (0, TYPE_MAINTENANCE_OR_TEST, function as u8, &FIXED_FF_KEY)
        }
    };
    let mac_value = mac(mac_key, id, type_code, body);
    let header = ((id & 0x3f) << 10) | (u32::from(type_code) << 8) | u32::from(body);
    let bits = ((header ^ obscuring_bits(mac_value)) << 12) | u32::from(mac_value);
    let mut digits = String::with_capacity(15);
    digits.push('1');
    for i in (0..14).rev() {
        digits.push(char::from(b'2' + ((bits >> (2 * i)) & 0b11) as u8));
    }
    let rendered = group_digits(&digits, 3);
    Ok(SmallKeycode { digits, rendered })
}

/// Reads typed keycode text into its 28 bits: the start key `1` is optional,
/// spaces and dashes between groups are ignored. `None` for anything else.
fn keycode_bits(text: &str) -> Option<u32> {
    let keys: Vec<u8> = text.bytes().filter(|c| *c != b' ' && *c != b'-').collect();
    let keys = match keys.len() {
        15 if keys[0] == b'1' => &keys[1..],
        14 => &keys[..],
        _ => return None,
    };
    keys.iter().try_fold(0u32, |acc, c| match c {
        b'2'..=b'5' => Some((acc << 2) | u32::from(c - b'2')),
        _ => None,
    })
}

impl NexusReceiver {
    /// Authenticates and applies a small-protocol keycode as the firmware does.
    pub fn receive_small(&mut self, key: &SecretKey, state: PaygState, keycode: &str) -> Received {
        let Some(bits) = keycode_bits(keycode) else {
            return Received::Invalid;
        };
        let mac_value = (bits & 0xfff) as u16;
        let header = (bits >> 12) ^ obscuring_bits(mac_value);
        let compressed_id = ((header >> 10) & 0x3f) as u8;
        let type_code = ((header >> 8) & 0b11) as u8;
        let body = (header & 0xff) as u8;
        let id = if type_code < TYPE_MAINTENANCE_OR_TEST {
            self.window.infer_full_id(compressed_id)
        } else {
            u32::from(compressed_id)
        };
        let is_test = type_code == TYPE_MAINTENANCE_OR_TEST && body <= 127;
        let mac_key = if is_test {
            &FIXED_FF_KEY
        } else {
            key.as_bytes()
        };
        if mac(mac_key, id, type_code, body) != mac_value {
            return Received::Invalid;
        }
        match type_code {
            TYPE_ADD_CREDIT | TYPE_SET_CREDIT => {
                self.receive_small_activation(state, id, type_code, body)
            }
            TYPE_MAINTENANCE_OR_TEST if is_test => self.receive_small_test(state, body),
            TYPE_MAINTENANCE_OR_TEST => self.receive_small_maintenance(body),
            _ => Received::Invalid,
        }
    }

    fn receive_small_activation(
        &mut self,
        state: PaygState,
        id: u32,
        type_code: u8,
        body: u8,
    ) -> Received {
        if self.window.is_received(id) {
            return Received::Duplicate;
        }
        if type_code == TYPE_SET_CREDIT {
            self.window.mark_received_up_to(id);
            return Received::Applied(match body {
                INCREMENT_UNLOCK => DeviceAction::Unlock,
                INCREMENT_LOCK => DeviceAction::ZeroCredit,
                INCREMENT_CLEAR_RESTRICTED => DeviceAction::None,
                _ => DeviceAction::SetCredit {
                    seconds: u64::from(set_credit_days(body)) * 86_400,
                },
            });
        }
        self.window.mark_received(id);
        if state == PaygState::Unlocked {
            return Received::Duplicate;
        }
        Received::Applied(if body == INCREMENT_UNLOCK {
            DeviceAction::Unlock
        } else {
            DeviceAction::AddCredit {
                seconds: u64::from(add_credit_days(body)) * 86_400,
            }
        })
    }

    fn receive_small_maintenance(&mut self, body: u8) -> Received {
        Received::Applied(match body & 0x7f {
            0 => DeviceAction::ZeroCredit,
            1 => {
                self.forget_ids();
                DeviceAction::ZeroCredit
            }
            2 => {
                self.forget_ids();
                DeviceAction::None
            }
            _ => return Received::Invalid,
        })
    }

    fn receive_small_test(&mut self, state: PaygState, body: u8) -> Received {
        match body {
            0 => Self::short_test(state),
            1 => self.oqc_test(state),
            _ => Received::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference docstring's example (id 33, ADD_CREDIT increment 10,
    /// all-zero key). Its printed output predates the 2-5 key mapping; this is
    /// what `nexus-keycode` 1.5.1 itself renders.
    #[test]
    fn reproduces_the_reference_docstring_message() {
        let key = SecretKey::from_bytes([0; 16]);
        let code = encode(33, SmallMessage::AddCredit { days: 11 }, &key).unwrap();
        assert_eq!(code.rendered, "124 424 523 542 333");
        let mut receiver = NexusReceiver::default();
        assert_eq!(
            receiver.receive_small(&key, PaygState::Disabled, &code.rendered),
            Received::Applied(DeviceAction::AddCredit {
                seconds: 11 * 86_400
            })
        );
    }

    #[test]
    fn device_tables_invert_the_reference_encoding_where_exact() {
        for days in 1..=180 {
            assert_eq!(add_credit_days(add_credit_increment(days).unwrap()), days);
        }
        for days in 1..=90 {
            assert_eq!(set_credit_days(set_credit_increment(days).unwrap()), days);
        }
        assert_eq!(add_credit_days(add_credit_increment(183).unwrap()), 183);
        assert_eq!(add_credit_days(add_credit_increment(181).unwrap()), 183);
    }
}
