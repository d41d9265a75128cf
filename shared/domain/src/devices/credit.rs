//! A device's credit as the platform issued it: what every code it was sent
//! adds up to. The device keeps its own count; this is the operator's view
//! of the same thing, moved in the same atomic write as each code
//! (`docs/payg.md`).

use keycode::CodeType;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::field::FieldError;

/// Whether the device works, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditState {
    /// No credit: never any, run out, or ended by a code.
    Locked,
    /// Paid until `until`.
    Active,
    /// Paid off: works for good until a `set_time` or a reset.
    Unlocked,
}

/// The credit codes have given a device. Its serde form is both the stored
/// record and what the API shows (`{"state", "until", "updatedAt"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credit {
    pub state: CreditState,
    /// Active: when the credit runs out. Locked: when it ended, if it ever
    /// began. Unlocked: none.
    pub until: Option<Timestamp>,
    /// When a code (or registration) last changed it.
    pub updated_at: Timestamp,
}

impl Credit {
    /// A device with no credit, as registered by default.
    pub fn locked(at: Timestamp) -> Self {
        Credit {
            state: CreditState::Locked,
            until: None,
            updated_at: at,
        }
    }

    /// The credit as it stands at `now`: active credit whose time has come
    /// shows as locked since then. Nothing is written when that happens;
    /// every reader sees the same thing.
    pub fn as_of(self, now: Timestamp) -> Self {
        match (self.state, self.until) {
            (CreditState::Active, Some(until)) if until <= now => Credit {
                state: CreditState::Locked,
                ..self
            },
            _ => self,
        }
    }

    /// The credit after a code of `code_type` with `arg` is issued at `at`.
    /// The one place the eight types' meaning for credit is written down;
    /// single, batch and every later code path call it. It follows what a
    /// device does with the code (`keycode::simulator`): time given to an
    /// unlocked device is ignored, and `set_time` relocks it.
    pub fn after(self, code_type: CodeType, arg: u32, at: Timestamp) -> Self {
        let current = self.as_of(at);
        let extend = |secs: i64| match current.state {
            CreditState::Unlocked => current.state_at(CreditState::Unlocked, None, at),
            CreditState::Locked => Self::active_until(at.plus_secs(secs), at),
            CreditState::Active => {
                let from = current.until.map_or(at, |until| until.max(at));
                Self::active_until(from.plus_secs(secs), at)
            }
        };
        match code_type {
            CodeType::AddTime => extend(i64::from(arg) * SECS_PER_DAY),
            CodeType::OneHour => extend(3_600),
            CodeType::OneMinute => extend(60),
            CodeType::SetTime if arg == 0 => Self::ended(at),
            CodeType::SetTime => {
                Self::active_until(at.plus_secs(i64::from(arg) * SECS_PER_DAY), at)
            }
            CodeType::CreditReset => Self::ended(at),
            CodeType::HistoryReset => self,
            CodeType::FullReset => Credit::locked(at),
            CodeType::Unlock => current.state_at(CreditState::Unlocked, None, at),
        }
    }

    fn active_until(until: Timestamp, at: Timestamp) -> Self {
        Credit {
            state: CreditState::Active,
            until: Some(until),
            updated_at: at,
        }
    }

    /// Locked from `at` on: the credit ended then.
    fn ended(at: Timestamp) -> Self {
        Credit {
            state: CreditState::Locked,
            until: Some(at),
            updated_at: at,
        }
    }

    fn state_at(self, state: CreditState, until: Option<Timestamp>, at: Timestamp) -> Self {
        Credit {
            state,
            until,
            updated_at: at,
        }
    }

    /// The credit a registration or import states, checked: `active` needs
    /// its `until`, `unlocked` takes none.
    pub fn stated(
        state: CreditState,
        until: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<Self, FieldError> {
        match (state, until) {
            (CreditState::Active, None) => Err(FieldError::new(
                "credit.until",
                "is required when the state is active",
            )),
            (CreditState::Unlocked, Some(_)) => Err(FieldError::new(
                "credit.until",
                "must be left out when the state is unlocked",
            )),
            _ => Ok(Credit {
                state,
                until,
                updated_at: at,
            }),
        }
    }
}

pub const SECS_PER_DAY: i64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn days(n: i64) -> Timestamp {
        NOW.plus_secs(n * SECS_PER_DAY)
    }

    fn active(until: Timestamp) -> Credit {
        Credit::active_until(until, NOW)
    }

    fn unlocked() -> Credit {
        Credit::locked(NOW).after(CodeType::Unlock, 0, NOW)
    }

    #[test]
    fn add_time_extends_from_the_later_of_now_and_until() {
        let locked = Credit::locked(NOW);
        assert_eq!(locked.after(CodeType::AddTime, 7, NOW), active(days(7)));
        assert_eq!(
            active(days(3)).after(CodeType::AddTime, 7, NOW),
            active(days(10))
        );
        // Credit that ran out two days ago: the seven days start now.
        assert_eq!(
            active(days(-2)).after(CodeType::AddTime, 7, NOW),
            active(days(7))
        );
        assert_eq!(
            active(days(1)).after(CodeType::OneHour, 0, NOW),
            active(days(1).plus_secs(3_600))
        );
        assert_eq!(
            locked.after(CodeType::OneMinute, 0, NOW),
            active(NOW.plus_secs(60))
        );
    }

    #[test]
    fn set_time_sets_from_now_and_zero_locks() {
        assert_eq!(
            active(days(30)).after(CodeType::SetTime, 5, NOW),
            active(days(5))
        );
        let zero = active(days(30)).after(CodeType::SetTime, 0, NOW);
        assert_eq!((zero.state, zero.until), (CreditState::Locked, Some(NOW)));
        // set_time relocks an unlocked device onto time.
        assert_eq!(unlocked().after(CodeType::SetTime, 5, NOW), active(days(5)));
    }

    #[test]
    fn resets_and_unlock() {
        let ended = active(days(30)).after(CodeType::CreditReset, 0, NOW);
        assert_eq!((ended.state, ended.until), (CreditState::Locked, Some(NOW)));
        assert_eq!(
            active(days(30)).after(CodeType::FullReset, 0, NOW),
            Credit::locked(NOW)
        );
        assert_eq!(
            unlocked().after(CodeType::CreditReset, 0, NOW).state,
            CreditState::Locked
        );
        let before = active(days(30));
        assert_eq!(before.after(CodeType::HistoryReset, 0, days(1)), before);
        let open = before.after(CodeType::Unlock, 0, NOW);
        assert_eq!((open.state, open.until), (CreditState::Unlocked, None));
    }

    #[test]
    fn time_given_to_an_unlocked_device_is_ignored() {
        for code_type in [CodeType::AddTime, CodeType::OneHour, CodeType::OneMinute] {
            let after = unlocked().after(code_type, 7, NOW);
            assert_eq!((after.state, after.until), (CreditState::Unlocked, None));
        }
    }

    #[test]
    fn active_credit_shows_locked_once_its_time_has_come() {
        let credit = active(days(1));
        assert_eq!(credit.as_of(NOW), credit);
        let later = credit.as_of(days(1));
        assert_eq!(
            (later.state, later.until),
            (CreditState::Locked, Some(days(1)))
        );
    }

    #[test]
    fn stated_credit_is_checked() {
        assert!(Credit::stated(CreditState::Active, None, NOW).is_err());
        assert!(Credit::stated(CreditState::Unlocked, Some(NOW), NOW).is_err());
        assert_eq!(
            Credit::stated(CreditState::Active, Some(days(3)), NOW),
            Ok(active(days(3)))
        );
        assert_eq!(
            Credit::stated(CreditState::Locked, None, NOW),
            Ok(Credit::locked(NOW))
        );
    }
}
