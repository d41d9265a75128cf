//! `device.credit_expiring`: each account hears, N days before a device's
//! active credit ends (N per account, 3 unless set), that it is about to.
//! A scheduled run finds the devices through the per-account expiry index
//! (never a table scan) and writes one event per device and end of credit,
//! however many runs see it (`docs/delivery.md`).

pub mod port;

use std::sync::Arc;

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::devices::port::DeviceStore;
use crate::devices::ExpiryQuery;
use crate::store::StoreError;
use crate::webhooks::port::WebhookStore;
use port::NoticeStore;

/// Days before the end of credit an account hears of it, unless it set
/// another number.
pub const DEFAULT_NOTICE_DAYS: u32 = 3;

/// The most days an account may ask for.
pub const MAX_NOTICE_DAYS: u32 = 30;

/// How far back a run looks for notices that fell due: four runs of the
/// fifteen-minute schedule, so a run or two that fail lose nothing, and
/// the repeats write nothing new.
pub const LOOKBACK_SECS: i64 = 3_600;

const PAGE: usize = 100;

/// An account and the notice days it set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeAccount {
    pub account: AccountId,
    pub days: Option<u32>,
}

impl NoticeAccount {
    pub fn days(&self) -> u32 {
        self.days.unwrap_or(DEFAULT_NOTICE_DAYS)
    }
}

/// Checks an account's notice days: 1 to `MAX_NOTICE_DAYS`.
pub fn check_days(days: u32) -> Result<u32, String> {
    if (1..=MAX_NOTICE_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(format!(
            "notice days must be 1 to {MAX_NOTICE_DAYS}, got {days}"
        ))
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeReport {
    pub accounts: usize,
    /// Events written by this run.
    pub told: usize,
    /// Devices an earlier run had told already.
    pub already_told: usize,
}

pub struct NoticeService {
    store: Arc<dyn NoticeStore>,
    devices: Arc<dyn DeviceStore>,
    events: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
}

impl NoticeService {
    pub fn new(
        store: Arc<dyn NoticeStore>,
        devices: Arc<dyn DeviceStore>,
        events: Arc<dyn WebhookStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        NoticeService {
            store,
            devices,
            events,
            clock,
        }
    }

    /// Writes `device.credit_expiring` for every device whose notice time
    /// (its credit's end less the account's days) fell in the last
    /// `LOOKBACK_SECS`.
    pub async fn run(&self) -> Result<NoticeReport, StoreError> {
        let now = self.clock.now();
        let mut report = NoticeReport::default();
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.store.notice_accounts(after.as_ref(), PAGE).await?;
            for account in &page.items {
                report.accounts += 1;
                self.tell(account, now, &mut report).await?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(report),
            }
        }
    }

    async fn tell(
        &self,
        account: &NoticeAccount,
        now: Timestamp,
        report: &mut NoticeReport,
    ) -> Result<(), StoreError> {
        let ahead = i64::from(account.days()) * 86_400;
        let mut query = ExpiryQuery {
            account: account.account.clone(),
            // Ending after the window opened, N days on...
            now: now.plus_secs(ahead - LOOKBACK_SECS),
            // ...and no later than now, N days on.
            before: now.plus_secs(ahead).plus_millis(1),
            limit: PAGE,
            after: None,
        };
        loop {
            let page = self.devices.list_expiring(&query).await?;
            for device in &page.items {
                let Some(event) = device.credit_notice_event(account.days(), now) else {
                    continue;
                };
                match self.events.record_event(&event).await {
                    Ok(()) => report.told += 1,
                    Err(StoreError::AlreadyExists) => report.already_told += 1,
                    Err(other) => return Err(other),
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_days_are_one_to_thirty_and_three_by_default() {
        assert_eq!(check_days(1), Ok(1));
        assert_eq!(check_days(30), Ok(30));
        assert!(check_days(0).is_err());
        assert!(check_days(31).is_err());
        let account = NoticeAccount {
            account: AccountId::parse("ck_n").unwrap(),
            days: None,
        };
        assert_eq!(account.days(), 3);
    }
}
