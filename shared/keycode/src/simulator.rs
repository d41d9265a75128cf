//! A device that takes keycodes in order, the way a real one would: it runs
//! the protocol's device-side decoder and keeps credit and history.
//!
//! There is no clock: credit is a number of seconds that does not run down,
//! which is all the semantics of the code types need.

use crate::codes::{DeviceProtocol, DeviceSecrets};
use crate::nexus::{DeviceAction, NexusReceiver, PaygState, Received};
use crate::openpaygo::{self, Decoded, TokenType, MAX_ACTIVATION_VALUE, PAYG_DISABLE_VALUE};

/// What the device made of one keycode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Entry {
    /// Authenticated and taken.
    Accepted,
    /// Authenticated, but already used (or of no effect in this state).
    AlreadyUsed,
    /// Not a keycode for this device, or outside its window.
    Rejected,
}

/// Protocol-side memory of what was received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "protocol", rename_all = "snake_case"))]
pub enum History {
    /// OpenPAYGO: the last count and the used-count list.
    OpenPaygo {
        /// Highest count accepted.
        count: u32,
        /// Counts recorded as used.
        used_counts: Vec<u32>,
    },
    /// Nexus full: the receipt window.
    NexusFull(NexusReceiver),
    /// Nexus small: the receipt window.
    NexusSmall(NexusReceiver),
}

/// A simulated device.
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    secrets: DeviceSecrets,
    /// Seconds of credit.
    pub credit_seconds: u64,
    /// Unlocked for good (OpenPAYGO: PAYG disabled).
    pub unlocked: bool,
    /// What the protocol remembers.
    pub history: History,
}

impl SimulatedDevice {
    /// A new device as it leaves the factory. `starting_count` is the
    /// OpenPAYGO count the server starts from (ignored for Nexus).
    pub fn new(secrets: DeviceSecrets, starting_count: u32) -> Self {
        let history = match secrets.protocol {
            DeviceProtocol::OpenPaygo { .. } => History::OpenPaygo {
                count: starting_count,
                used_counts: Vec::new(),
            },
            DeviceProtocol::NexusFull => History::NexusFull(NexusReceiver::default()),
            DeviceProtocol::NexusSmall => History::NexusSmall(NexusReceiver::default()),
        };
        Self {
            secrets,
            credit_seconds: 0,
            unlocked: false,
            history,
        }
    }

    fn payg_state(&self) -> PaygState {
        if self.unlocked {
            PaygState::Unlocked
        } else if self.credit_seconds == 0 {
            PaygState::Disabled
        } else {
            PaygState::Enabled
        }
    }

    /// Types a keycode into the device.
    pub fn enter(&mut self, keycode: &str) -> Entry {
        let state = self.payg_state();
        let key = &self.secrets.key;
        let received = match (&mut self.history, self.secrets.protocol) {
            (
                History::OpenPaygo { count, used_counts },
                DeviceProtocol::OpenPaygo {
                    extended,
                    restricted_digit_set,
                    time_divider,
                },
            ) => {
                let config = self.secrets.token_config(extended, restricted_digit_set);
                let decoded = match openpaygo::decode_token(&config, keycode, *count, used_counts) {
                    Ok(decoded) => decoded,
                    Err(_) => return Entry::Rejected,
                };
                let Decoded::Valid {
                    value,
                    token_type,
                    count: found,
                    used_counts: updated,
                } = decoded
                else {
                    return if decoded == Decoded::AlreadyUsed {
                        Entry::AlreadyUsed
                    } else {
                        Entry::Rejected
                    };
                };
                if found > *count || token_type == TokenType::CounterSync {
                    *count = found;
                }
                *used_counts = updated;
                return self.apply_openpaygo(value, token_type, extended, time_divider);
            }
            (History::NexusFull(receiver), _) => receiver.receive_full(key, state, keycode),
            (History::NexusSmall(receiver), _) => receiver.receive_small(key, state, keycode),
            (History::OpenPaygo { .. }, _) => return Entry::Rejected,
        };
        match received {
            Received::Applied(action) => {
                self.apply_nexus(action);
                Entry::Accepted
            }
            Received::Duplicate => Entry::AlreadyUsed,
            Received::Invalid => Entry::Rejected,
        }
    }

    /// The OpenPAYGO reference simulator's rules: a value up to 995 is time
    /// (SET_TIME re-enables PAYG; time is ignored while PAYG is off), 998
    /// turns PAYG off, 999 only syncs the count.
    fn apply_openpaygo(
        &mut self,
        value: u32,
        token_type: TokenType,
        extended: bool,
        divider: u32,
    ) -> Entry {
        let is_time = if extended {
            matches!(token_type, TokenType::AddTime | TokenType::SetTime)
        } else {
            value <= MAX_ACTIVATION_VALUE
        };
        if is_time {
            if self.unlocked && token_type == TokenType::SetTime {
                self.unlocked = false;
            }
            if !self.unlocked {
                let seconds = u64::from(value) * 86_400 / u64::from(divider.max(1));
                if token_type == TokenType::SetTime {
                    self.credit_seconds = seconds;
                } else {
                    self.credit_seconds += seconds;
                }
            }
        } else if value == PAYG_DISABLE_VALUE {
            self.unlocked = true;
        }
        Entry::Accepted
    }

    fn apply_nexus(&mut self, action: DeviceAction) {
        match action {
            DeviceAction::AddCredit { seconds } => self.credit_seconds += seconds,
            DeviceAction::SetCredit { seconds } => {
                self.credit_seconds = seconds;
                self.unlocked = false;
            }
            DeviceAction::Unlock => self.unlocked = true,
            DeviceAction::ZeroCredit => {
                self.credit_seconds = 0;
                self.unlocked = false;
            }
            DeviceAction::None | DeviceAction::DisplayPaygId => {}
        }
    }
}
