//! Devices and their codes: registration, `POST /codes` and `GET /codes`.

pub mod port;

use std::sync::Arc;
use std::time::Duration;

use keycode::{CodeError, CodeType};
use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::devices::port::DeviceStore;
use crate::devices::{Credit, Device, ExpiryPosition, ExpiryQuery, NewDevice, Paid, SerialNumber};
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::ids::{is_platform_id, BatchId};
use crate::paging::{parse_timed_cursor, timed_cursor, Page, SortOrder};
use crate::random::{random_16, random_hex};
use crate::store::StoreError;
use port::CodeStore;

/// Why a device or code request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodesError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no device with this serial number")]
    DeviceNotFound,
    #[error("a device with this serial number already exists")]
    DeviceExists,
    /// The device's protocol cannot carry this code (a 422).
    #[error(transparent)]
    CannotExpress(CodeError),
    /// The batch item already has its code (a repeated delivery).
    #[error("the batch item already has its code")]
    AlreadyIssued,
    /// No code of the device's protocol brings its credit to the target
    /// asked for (a 422), with why.
    #[error("no code of this device's protocol reaches that credit: {0}")]
    CreditUnreachable(String),
    /// Too many other codes were issued for the device at the same moment.
    #[error("the device is busy with other code requests; retry")]
    DeviceBusy,
    #[error(transparent)]
    Store(StoreError),
}

impl CodesError {
    pub fn invalid(field: &str, reason: &str) -> Self {
        FieldError::new(field, reason).into()
    }
}

impl From<FieldError> for CodesError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        CodesError::InvalidField { field, reason }
    }
}

/// The batch item a code fulfils: the write of its run's codes settles it
/// in the same atomic step. It lives with codes, which know nothing else of
/// batches, so that `batches` builds on `codes` and not the other way round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItemRef {
    pub account: AccountId,
    pub batch_id: BatchId,
    pub index: u32,
    /// The chunk it is worked in, whose progress record counts it.
    pub chunk: u32,
    /// Its run within the chunk: the items settled together, one device's,
    /// fixed when the batch is stored (`batches::plan_chunks`).
    pub run: u32,
}

/// Where a write moves its device: the protocol's next count, the credit
/// its code leaves it with, and the money paid on it (which only a
/// payment changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    pub count: u32,
    pub credit: Credit,
    pub paid: Paid,
}

/// Where `PUT /devices/{serialNum}/credit` asks a device's credit to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditTarget {
    /// Paid until this time; a time already past means locked.
    Until(Timestamp),
    Unlocked,
}

/// What bringing a device to a target took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditChange {
    /// The one code issued; `None` when the device was there already.
    pub code: Option<CodeRecord>,
    /// The credit after it.
    pub credit: Credit,
    /// For a code of days: the whole days the target needs, and the days
    /// the code carries, more when the protocol cannot carry the exact
    /// count.
    pub days: Option<PlannedDays>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedDays {
    pub requested: u32,
    pub issued: u32,
}

/// The code a target needs from a device's current credit: its type and,
/// for `add_time` and `set_time`, the whole days; `None` when the credit
/// is there already. Add when the target extends the current end (or,
/// with no credit, starts from now); set when it shortens it or the
/// device is unlocked, whose added time would be ignored.
pub fn plan_credit(
    current: Credit,
    target: CreditTarget,
    now: Timestamp,
) -> Option<(CodeType, u32)> {
    use crate::devices::CreditState as State;
    let whole_days = |from: Timestamp, to: Timestamp| -> u32 {
        let millis = to.millis().saturating_sub(from.millis()).max(0);
        let day = crate::devices::credit::SECS_PER_DAY * 1000;
        u32::try_from((millis + day - 1) / day).unwrap_or(u32::MAX)
    };
    let current = current.as_of(now);
    match target {
        CreditTarget::Unlocked if current.state == State::Unlocked => None,
        CreditTarget::Unlocked => Some((CodeType::Unlock, 0)),
        CreditTarget::Until(until) if until <= now => {
            (current.state != State::Locked).then_some((CodeType::SetTime, 0))
        }
        CreditTarget::Until(until) => {
            let end = match current.state {
                State::Active => current.until,
                State::Locked => Some(now),
                State::Unlocked => None,
            };
            match end {
                Some(end) if until == end => None,
                Some(end) if until > end => Some((CodeType::AddTime, whole_days(end, until))),
                _ => Some((CodeType::SetTime, whole_days(now, until))),
            }
        }
    }
}

/// A validated code request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeOrder {
    pub serial: SerialNumber,
    pub code_type: CodeType,
    pub arg: u32,
}

/// The largest `arg` of `add_time` and `set_time`, in days.
pub const MAX_DAYS: i64 = 999;

/// An issued code. Its serde form is the stored record; the API shows it
/// through `api_types::biolite::codes::CodeView`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeRecord {
    pub id: String,
    pub serial_num: SerialNumber,
    #[serde(with = "code_type_name")]
    pub code_type: CodeType,
    pub arg: u32,
    pub code: String,
    pub count: u32,
    pub created_at: Timestamp,
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<BatchId>,
    /// The device's credit right after this code, for its ledger; codes
    /// stored before credit was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
    /// The payment that bought it, if one did: its ledger entry is that
    /// payment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

mod code_type_name {
    use keycode::CodeType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(code_type: &CodeType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(code_type.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CodeType, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl CodeRecord {
    /// The `code.issued` event the store writes with a code issued on its
    /// own (`record_code`); it carries the code, which never changes.
    pub fn issued_event(&self) -> Event {
        Event::new(
            &self.account,
            EventType::CodeIssued,
            &self.id,
            self.created_at,
        )
        .carrying(self)
    }

    pub fn position(&self) -> CodePosition {
        CodePosition {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

/// Where a code sits in creation order; listings resume after one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodePosition {
    pub created_at: Timestamp,
    pub id: String,
}

impl CodePosition {
    /// The opaque cursor clients pass back.
    pub fn to_cursor(&self) -> String {
        timed_cursor(self.created_at, &self.id)
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, CodesError> {
        let (created_at, id) = parse_timed_cursor(cursor, is_platform_id)?;
        Ok(CodePosition { created_at, id })
    }
}

/// A validated `GET /codes` query, scoped to one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeQuery {
    pub account: AccountId,
    pub serial: Option<SerialNumber>,
    pub code_type: Option<CodeType>,
    pub batch_id: Option<BatchId>,
    /// Inclusive bounds on the creation time.
    pub created_from: Timestamp,
    pub created_to: Timestamp,
    pub order: SortOrder,
    pub limit: usize,
    pub after: Option<CodePosition>,
}

impl CodeQuery {
    pub fn matches(&self, code: &CodeRecord) -> bool {
        code.account == self.account
            && self.serial.as_ref().is_none_or(|s| *s == code.serial_num)
            && self.code_type.is_none_or(|t| t == code.code_type)
            && self
                .batch_id
                .as_ref()
                .is_none_or(|b| code.batch_id.as_ref() == Some(b))
            && (self.created_from..=self.created_to).contains(&code.created_at)
    }
}

/// How many times `issue_code` re-reads a device whose count moved under it
/// before answering `DeviceBusy`. Each lost race means another request won,
/// so this many racers on one device always finish.
pub const MAX_ISSUE_ATTEMPTS: u32 = 64;

/// The most batch items one run settles in one atomic step: a DynamoDB
/// transaction holds 100 writes, and a run takes one for its device, one
/// for the record of its items' results, one for its chunk's count and one
/// for each item's code.
pub const MAX_RUN: usize = 97;

/// Devices and codes of every client.
pub struct CodesService {
    devices: Arc<dyn DeviceStore>,
    codes: Arc<dyn CodeStore>,
    clock: Arc<dyn Clock>,
}

impl CodesService {
    pub fn new(
        devices: Arc<dyn DeviceStore>,
        codes: Arc<dyn CodeStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CodesService {
            devices,
            codes,
            clock,
        }
    }

    pub async fn register_device(
        &self,
        account: &AccountId,
        request: NewDevice,
    ) -> Result<Device, CodesError> {
        let now = self.clock.now();
        let device = request.into_device(account, now)?;
        match self.devices.create_device(&device).await {
            Ok(()) => Ok(as_of(device, now)),
            Err(StoreError::AlreadyExists) => Err(CodesError::DeviceExists),
            Err(other) => Err(CodesError::Store(other)),
        }
    }

    /// The device, its credit as of now.
    pub async fn device(&self, account: &AccountId, serial: &str) -> Result<Device, CodesError> {
        let serial = SerialNumber::parse(serial)?;
        let device = self.read_device(account, &serial).await?;
        Ok(as_of(device, self.clock.now()))
    }

    pub async fn list_devices(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&SerialNumber>,
    ) -> Result<Page<Device, SerialNumber>, CodesError> {
        let page = self
            .devices
            .list_devices(account, limit, after)
            .await
            .map_err(CodesError::Store)?;
        let now = self.clock.now();
        Ok(page.map(|device| as_of(device, now)))
    }

    /// The account's devices whose credit is active now and runs out
    /// before `before`, soonest first: whom to remind.
    pub async fn list_expiring(
        &self,
        account: &AccountId,
        before: Timestamp,
        limit: usize,
        after: Option<ExpiryPosition>,
    ) -> Result<Page<Device, ExpiryPosition>, CodesError> {
        let query = ExpiryQuery {
            account: account.clone(),
            now: self.clock.now(),
            before,
            limit,
            after,
        };
        self.devices
            .list_expiring(&query)
            .await
            .map_err(CodesError::Store)
    }

    /// Issues the one code that brings the device's credit to `target`,
    /// through the same atomic write as `issue`. Where the protocol cannot
    /// carry the exact days, the code carries the nearest count it can
    /// that is not shorter.
    pub async fn set_credit(
        &self,
        account: &AccountId,
        serial: &str,
        target: CreditTarget,
    ) -> Result<CreditChange, CodesError> {
        let serial = SerialNumber::parse(serial)?;
        for attempt in 0..MAX_ISSUE_ATTEMPTS {
            let device = self.read_device(account, &serial).await?;
            let now = self.clock.now();
            let Some((code_type, requested)) = plan_credit(device.credit, target, now) else {
                return Ok(CreditChange {
                    code: None,
                    credit: device.credit.as_of(now),
                    days: None,
                });
            };
            // The fewest days from those needed up that the protocol
            // carries: never shorter than asked.
            let candidates = if code_type.takes_days() {
                requested..=keycode::codes::MAX_DAYS_ARG.max(requested)
            } else {
                requested..=requested
            };
            let (mut record, next_count, issued) =
                self.first_carried(&device, code_type, candidates)?;
            let advance = Advance {
                count: next_count,
                credit: device.credit.after(code_type, issued, record.created_at),
                paid: device.paid,
            };
            record.credit = Some(advance.credit);
            match self.codes.record_code(&device, &advance, &record).await {
                Ok(()) => {
                    return Ok(CreditChange {
                        code: Some(record),
                        credit: advance.credit,
                        days: code_type
                            .takes_days()
                            .then_some(PlannedDays { requested, issued }),
                    })
                }
                Err(StoreError::Conflict) => tokio::time::sleep(backoff(attempt)).await,
                Err(other) => return Err(CodesError::Store(other)),
            }
        }
        Err(CodesError::DeviceBusy)
    }

    /// The code of `code_type` for the first of `candidates` (its `arg`)
    /// that the device's protocol carries, found by asking its encoder,
    /// with the count after it and the `arg` it carries.
    /// `CreditUnreachable` with the first refusal when it carries none.
    pub(crate) fn first_carried(
        &self,
        device: &Device,
        code_type: CodeType,
        candidates: impl IntoIterator<Item = u32>,
    ) -> Result<(CodeRecord, u32, u32), CodesError> {
        let id = random_hex(12);
        let mut first_refusal = None;
        for arg in candidates {
            let order = CodeOrder {
                serial: device.serial.clone(),
                code_type,
                arg,
            };
            match self.next_code(device, device.count, &order, id.clone(), None) {
                Ok((record, next_count)) => return Ok((record, next_count, arg)),
                Err(CodesError::CannotExpress(why)) => {
                    first_refusal.get_or_insert(why.to_string());
                }
                // Out of range: every further count is too.
                Err(CodesError::InvalidField { reason, .. }) => {
                    first_refusal.get_or_insert(reason);
                    break;
                }
                Err(other) => return Err(other),
            }
        }
        Err(CodesError::CreditUnreachable(first_refusal.unwrap_or_else(
            || "no count of days was asked for".to_owned(),
        )))
    }

    /// Generates the next code for the device and stores it, advancing the
    /// device's count exactly once per stored code even under racing calls.
    /// As a batch item, the item is marked done in the same atomic step.
    pub async fn issue(
        &self,
        account: &AccountId,
        order: &CodeOrder,
    ) -> Result<CodeRecord, CodesError> {
        for attempt in 0..MAX_ISSUE_ATTEMPTS {
            let device = self.read_device(account, &order.serial).await?;
            let (mut record, next_count) =
                self.next_code(&device, device.count, order, random_hex(12), None)?;
            let advance = Advance {
                count: next_count,
                credit: device
                    .credit
                    .after(order.code_type, order.arg, record.created_at),
                paid: device.paid,
            };
            record.credit = Some(advance.credit);
            match self.codes.record_code(&device, &advance, &record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict) => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(other) => return Err(CodesError::Store(other)),
            }
        }
        Err(CodesError::DeviceBusy)
    }

    /// Settles a run of one device's batch items, in order, as one atomic
    /// step: each item takes the count the one before it left, the device
    /// moves once, and the run's results are recorded together, the items
    /// whose code the protocol cannot express as failed with why. A batch
    /// worker's chunk goes out in such runs (`docs/batch.md`), so an item
    /// costs its code and a share of one device write and one record.
    ///
    /// `AlreadyIssued` when the run was settled already (another delivery
    /// of its chunk got there): nothing was written.
    pub async fn issue_run(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        run: &[(&BatchItemRef, &CodeOrder)],
    ) -> Result<(), CodesError> {
        debug_assert!(run.len() <= MAX_RUN && run.iter().all(|(_, o)| o.serial == *serial));
        for attempt in 0..MAX_ISSUE_ATTEMPTS {
            let device = self.read_device(account, serial).await?;
            let mut advance = Advance {
                count: device.count,
                credit: device.credit,
                paid: device.paid,
            };
            let mut issued = Vec::with_capacity(run.len());
            let mut refused = Vec::new();
            // One random stem and a sequence, so the run's codes, which
            // share an instant, list in the order they were issued.
            let stem = random_hex(10);
            for (sequence, (item, order)) in run.iter().enumerate() {
                let id = format!("{stem}{sequence:04x}");
                let batch = Some(item.batch_id.clone());
                match self.next_code(&device, advance.count, order, id, batch) {
                    Ok((mut record, next_count)) => {
                        advance = Advance {
                            count: next_count,
                            credit: advance.credit.after(
                                order.code_type,
                                order.arg,
                                record.created_at,
                            ),
                            paid: device.paid,
                        };
                        record.credit = Some(advance.credit);
                        issued.push((record, (*item).clone()));
                    }
                    Err(err) => refused.push(((*item).clone(), err.to_string())),
                }
            }
            match self
                .codes
                .record_code_run(&device, &advance, &issued, &refused, self.clock.now())
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::AlreadyExists) => return Err(CodesError::AlreadyIssued),
                Err(StoreError::Conflict) => tokio::time::sleep(backoff(attempt)).await,
                Err(other) => return Err(CodesError::Store(other)),
            }
        }
        Err(CodesError::DeviceBusy)
    }

    pub(crate) async fn read_device(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
    ) -> Result<Device, CodesError> {
        self.devices
            .get_device(account, serial)
            .await
            .map_err(CodesError::Store)?
            .ok_or(CodesError::DeviceNotFound)
    }

    /// The code `order` gives at `count`, and the count after it.
    fn next_code(
        &self,
        device: &Device,
        count: u32,
        order: &CodeOrder,
        id: String,
        batch_id: Option<BatchId>,
    ) -> Result<(CodeRecord, u32), CodesError> {
        let generated =
            keycode::codes::generate(&device.secrets, count, order.code_type, order.arg).map_err(
                |e| match e {
                    CodeError::ArgumentOutOfRange { .. } => {
                        CodesError::invalid("arg", &e.to_string())
                    }
                    other => CodesError::CannotExpress(other),
                },
            )?;
        let record = CodeRecord {
            id,
            serial_num: order.serial.clone(),
            code_type: order.code_type,
            arg: order.arg,
            code: generated.code,
            count: generated.count,
            created_at: self.clock.now(),
            account: device.account.clone(),
            batch_id,
            credit: None,
            payment_id: None,
        };
        Ok((record, generated.next_count))
    }

    /// One page of the codes `query` selects (it names its client).
    pub async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, CodesError> {
        self.codes
            .list_codes(query)
            .await
            .map_err(CodesError::Store)
    }
}

/// `device` with its credit as it stands at `now`.
fn as_of(mut device: Device, now: Timestamp) -> Device {
    device.credit = device.credit.as_of(now);
    device
}

/// A short random pause after a lost race, growing with the attempt, so
/// racers spread out instead of colliding again in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling_micros = 200u64 << attempt.min(6);
    let jitter = u64::from(random_16()[0]) * ceiling_micros / 255;
    Duration::from_micros(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn days(n: i64) -> Timestamp {
        NOW.plus_secs(n * 86_400)
    }

    fn active_until(until: Timestamp) -> Credit {
        Credit::locked(NOW).after(CodeType::AddTime, 0, NOW).after(
            CodeType::SetTime,
            u32::try_from((until.millis() - NOW.millis()) / 86_400_000).unwrap(),
            NOW,
        )
    }

    #[test]
    fn a_target_past_the_end_is_an_add_of_whole_days_and_before_it_a_set() {
        let credit = active_until(days(10));
        assert_eq!(
            plan_credit(credit, CreditTarget::Until(days(15)), NOW),
            Some((CodeType::AddTime, 5))
        );
        // Part of a day is a whole day: never shorter than asked.
        assert_eq!(
            plan_credit(credit, CreditTarget::Until(days(15).plus_secs(60)), NOW),
            Some((CodeType::AddTime, 6))
        );
        assert_eq!(
            plan_credit(credit, CreditTarget::Until(days(4)), NOW),
            Some((CodeType::SetTime, 4))
        );
        assert_eq!(
            plan_credit(credit, CreditTarget::Until(days(10)), NOW),
            None
        );
    }

    #[test]
    fn locked_devices_add_from_now_and_unlocked_ones_are_set() {
        let locked = Credit::locked(NOW);
        assert_eq!(
            plan_credit(locked, CreditTarget::Until(days(3)), NOW),
            Some((CodeType::AddTime, 3))
        );
        // Credit that ran out is locked: the add starts now.
        let ran_out = active_until(days(2));
        assert_eq!(
            plan_credit(ran_out, CreditTarget::Until(days(5)), days(3)),
            Some((CodeType::AddTime, 2))
        );
        let unlocked = locked.after(CodeType::Unlock, 0, NOW);
        assert_eq!(
            plan_credit(unlocked, CreditTarget::Until(days(3)), NOW),
            Some((CodeType::SetTime, 3))
        );
        assert_eq!(plan_credit(unlocked, CreditTarget::Unlocked, NOW), None);
        assert_eq!(
            plan_credit(locked, CreditTarget::Unlocked, NOW),
            Some((CodeType::Unlock, 0))
        );
    }

    #[test]
    fn a_target_in_the_past_locks() {
        let credit = active_until(days(10));
        assert_eq!(
            plan_credit(credit, CreditTarget::Until(days(-1)), NOW),
            Some((CodeType::SetTime, 0))
        );
        assert_eq!(
            plan_credit(Credit::locked(NOW), CreditTarget::Until(NOW), NOW),
            None
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let position = CodePosition {
            created_at: Timestamp::from_millis(1_763_800_000_123),
            id: "abc123".into(),
        };
        assert_eq!(
            CodePosition::from_cursor(&position.to_cursor()),
            Ok(position)
        );
        for bad in [
            "",
            "!!",
            "bm9kb3Q",
            &URL_SAFE_NO_PAD.encode("x.abc"),
            &URL_SAFE_NO_PAD.encode("1.a#b"),
        ] {
            assert!(CodePosition::from_cursor(bad).is_err(), "{bad}");
        }
    }
}
