//! Angaza Nexus Keycode, bit-exact with the `nexus-keycode` 1.5.1 reference
//! package, and the receiving side as the Nexus embedded firmware does it.
//!
//! Both protocols authenticate a message (32-bit message id, type, body)
//! with a truncated SipHash-2-4 MAC and transmit only the 6 low bits of the
//! id. The device expands them inside its receipt window (23 ids below its
//! highest received id "Pd", 40 above) and keeps one received flag per id
//! at or below Pd, which is what refuses replayed keycodes.

pub mod full;
pub mod small;
mod window;

pub use window::{ReceiptWindow, WINDOW_AFTER_PD, WINDOW_BEFORE_PD};

/// How many OQC test keycodes a device accepts in its life.
pub const MAX_OQC_TESTS: u8 = 10;
/// Seconds of credit the short test keycode (full: ALLOW_TEST) gives a
/// disabled device.
pub const SHORT_TEST_SECONDS: u64 = 127;
/// Seconds of credit an OQC test keycode adds.
pub const OQC_TEST_SECONDS: u64 = 3_600;

/// What a Nexus device remembers between keycodes: the receipt window and the
/// factory-test counter. Both protocols keep exactly this; the parsing lives
/// in [`NexusReceiver::receive_full`] and [`NexusReceiver::receive_small`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NexusReceiver {
    /// Received message ids.
    pub window: ReceiptWindow,
    /// OQC test keycodes accepted so far.
    pub oqc_tests_received: u8,
}

impl NexusReceiver {
    /// What WIPE_STATE 1 and WIPE_IDS_ALL do besides credit: forget every
    /// received id and the test count.
    pub(crate) fn forget_ids(&mut self) {
        *self = Self::default();
    }

    /// The short test applies only to a disabled device.
    pub(crate) fn short_test(state: PaygState) -> Received {
        if state == PaygState::Disabled {
            Received::Applied(DeviceAction::AddCredit {
                seconds: SHORT_TEST_SECONDS,
            })
        } else {
            Received::Duplicate
        }
    }

    /// The OQC test stacks, up to [`MAX_OQC_TESTS`] times, unless unlocked.
    pub(crate) fn oqc_test(&mut self, state: PaygState) -> Received {
        if state != PaygState::Unlocked && self.oqc_tests_received < MAX_OQC_TESTS {
            self.oqc_tests_received += 1;
            Received::Applied(DeviceAction::AddCredit {
                seconds: OQC_TEST_SECONDS,
            })
        } else {
            Received::Duplicate
        }
    }
}

/// Key the factory and obscuring steps use in place of a device key.
pub(crate) const FIXED_00_KEY: [u8; 16] = [0x00; 16];
/// Key small-protocol test messages are authenticated with.
pub(crate) const FIXED_FF_KEY: [u8; 16] = [0xff; 16];

/// Pseudorandom bytes derived from `seed` the way both the reference and the
/// firmware derive them: SipHash under the all-zero key of a zero counter
/// byte followed by the seed, little-endian. Only the first 8 bytes are ever
/// needed (8 body digits in the full protocol, 16 bits in the small one).
pub(crate) fn pseudorandom_bytes(seed: &[u8]) -> [u8; 8] {
    let mut input = [0u8; 5];
    input[1..=seed.len()].copy_from_slice(seed);
    crate::siphash24(&FIXED_00_KEY, &input[..=seed.len()]).to_le_bytes()
}

/// Joins characters into groups of `group` separated by single spaces, the
/// way the reference renders keycodes.
pub(crate) fn group_digits(digits: &str, group: usize) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / group);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % group == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// What the device should do after a keycode was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "action", rename_all = "snake_case"))]
pub enum DeviceAction {
    /// Add credit, in seconds.
    AddCredit {
        /// Seconds of credit to add.
        seconds: u64,
    },
    /// Replace the credit, in seconds (ends an unlocked state).
    SetCredit {
        /// Seconds of credit to set.
        seconds: u64,
    },
    /// Unlock for good.
    Unlock,
    /// Zero the credit (ends an unlocked state).
    ZeroCredit,
    /// Nothing changes in credit (ids wiped, flag cleared, or PAYG id shown).
    None,
    /// Show the device's PAYG id.
    DisplayPaygId,
}

/// The device's verdict on a keycode, the firmware's four feedback kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "result", rename_all = "snake_case"))]
pub enum Received {
    /// Authenticated and applied; the device must carry out the action.
    Applied(DeviceAction),
    /// Authenticated but already received (or with no effect right now).
    Duplicate,
    /// Does not authenticate, is malformed, or is outside the window.
    Invalid,
}

/// What PAYG state the device is in, which decides whether some keycodes
/// apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PaygState {
    /// No credit left.
    Disabled,
    /// Credit remaining.
    Enabled,
    /// Unlocked for good.
    Unlocked,
}

/// Why a Nexus message could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NexusError {
    /// Credit in hours above the 5-digit body.
    #[error("{hours} hours does not fit the 5-digit body (at most 99999)")]
    HoursTooLarge {
        /// Hours asked for.
        hours: u32,
    },
    /// Days the small protocol cannot carry at all.
    #[error("the small protocol cannot carry {days} days for {message} (allowed: {allowed})")]
    UnsupportedDays {
        /// Days asked for.
        days: u32,
        /// "add credit" or "set credit".
        message: &'static str,
        /// The range the reference accepts.
        allowed: &'static str,
    },
    /// A small SET_CREDIT of 1 day at an id whose 6 low bits are 63 reads as
    /// an old test code on devices; the reference refuses it.
    #[error("a small-protocol SET_CREDIT of 1 day cannot use message id {id} (6 low bits are 63); use the next id")]
    PossibleMessageCollision {
        /// The refused id.
        id: u32,
    },
}
