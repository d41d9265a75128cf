//! Payment plans and payments: money paid for a device becomes days of
//! credit, and the code that carries them, exactly once per payment
//! (`docs/payg.md`).

pub mod port;

use std::sync::Arc;

use keycode::CodeType;
use serde::{Deserialize, Serialize};

use crate::clients::AccountId;
use crate::clock::{Clock, Timestamp};
use crate::codes::{
    Advance, CodePosition, CodeQuery, CodeRecord, CodesError, CodesService, MAX_ISSUE_ATTEMPTS,
};
use crate::devices::port::DeviceStore;
use crate::devices::{Credit, CreditState, Device, Paid, PaymentPlan, SerialNumber};
use crate::events::{Event, EventType};
use crate::field::FieldError;
use crate::ids::is_platform_id;
use crate::money::{Amount, Currency};
use crate::paging::{parse_timed_cursor, timed_cursor, Page, SortOrder};
use crate::random::random_hex;
use crate::store::StoreError;
use crate::CodeStore;
use port::PaymentStore;

/// Why a plan or payment request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentsError {
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no device with this serial number")]
    DeviceNotFound,
    #[error("the device has no payment plan")]
    PlanNotFound,
    /// A payment for a device without a plan (a 422).
    #[error("the device has no payment plan to pay into")]
    NoPlan,
    #[error("the payment is in {given}, the device's plan in {plan}")]
    WrongCurrency { plan: String, given: String },
    #[error("payments were taken in {0}; the plan's currency cannot change")]
    CurrencyLocked(String),
    /// The reference names an earlier payment of another device or amount.
    #[error("this reference was already used for another payment")]
    ReferenceConflict,
    #[error("the device is busy with other requests; retry")]
    DeviceBusy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<FieldError> for PaymentsError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        PaymentsError::InvalidField { field, reason }
    }
}

impl From<CodesError> for PaymentsError {
    fn from(err: CodesError) -> Self {
        match err {
            CodesError::InvalidField { field, reason } => {
                PaymentsError::InvalidField { field, reason }
            }
            CodesError::DeviceNotFound => PaymentsError::DeviceNotFound,
            CodesError::Store(e) => PaymentsError::Store(e),
            CodesError::DeviceBusy => PaymentsError::DeviceBusy,
            other => PaymentsError::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

/// A provider's transaction id: 1-64 characters of A-Z, a-z, 0-9, `.`,
/// `_`, `:` and `-`. Unique per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentReference(String);

impl PaymentReference {
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if valid {
            Ok(PaymentReference(text.to_owned()))
        } else {
            Err(FieldError::new(
                "reference",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PaymentReference {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        PaymentReference::parse(&text).map_err(|e| e.reason)
    }
}

impl From<PaymentReference> for String {
    fn from(reference: PaymentReference) -> String {
        reference.0
    }
}

/// Who paid, as the provider tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Payer {
    pub fn checked(self) -> Result<Self, FieldError> {
        if let Some(phone) = &self.phone {
            let valid = (1..=20).contains(&phone.len())
                && phone
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'+'));
            if !valid {
                return Err(FieldError::new(
                    "payer.phone",
                    "must be up to 20 digits, optionally after a '+'",
                ));
            }
        }
        if let Some(name) = &self.name {
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(FieldError::new(
                    "payer.name",
                    "must be 1-200 characters, none of them control characters",
                ));
            }
        }
        Ok(self)
    }
}

/// A validated `POST /payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub serial: SerialNumber,
    pub amount: Amount,
    pub currency: Currency,
    pub reference: PaymentReference,
    pub paid_at: Timestamp,
    pub payer: Payer,
}

/// A payment as recorded, with what it did. Its serde form is the stored
/// record, and a repeated delivery answers it again as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    pub reference: PaymentReference,
    pub serial_num: SerialNumber,
    pub amount: Amount,
    pub currency: Currency,
    pub paid_at: Timestamp,
    #[serde(default)]
    pub payer: Payer,
    pub received_at: Timestamp,
    /// The code the payment bought, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRecord>,
    /// Why it bought no code, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The device's credit, balance and total paid right after it.
    pub credit: Credit,
    pub balance: Amount,
    pub total_paid: Amount,
}

impl Payment {
    pub fn position(&self) -> PaymentPosition {
        PaymentPosition {
            paid_at: self.paid_at,
            id: self.id.clone(),
        }
    }

    /// Whether `request` is this payment delivered again.
    fn is_repeat_of(&self, request: &NewPayment) -> bool {
        self.serial_num == request.serial
            && self.amount == request.amount
            && self.currency == request.currency
    }
}

/// Where a payment sits in a device's listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PaymentPosition {
    pub paid_at: Timestamp,
    pub id: String,
}

impl PaymentPosition {
    pub fn to_cursor(&self) -> String {
        timed_cursor(self.paid_at, &self.id)
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, FieldError> {
        let (paid_at, id) = parse_timed_cursor(cursor, is_platform_id)?;
        Ok(PaymentPosition { paid_at, id })
    }
}

/// A validated `GET /payments` query: the account's payments, or one
/// device's, by `paidAt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentQuery {
    pub account: AccountId,
    pub serial: Option<SerialNumber>,
    /// Inclusive bounds on `paid_at`.
    pub from: Timestamp,
    pub to: Timestamp,
    pub limit: usize,
    pub after: Option<PaymentPosition>,
}

impl PaymentQuery {
    pub fn selects(&self, payment: &Payment) -> bool {
        payment.account == self.account
            && self
                .serial
                .as_ref()
                .is_none_or(|s| *s == payment.serial_num)
            && (self.from..=self.to).contains(&payment.paid_at)
            && self.after.as_ref().is_none_or(|a| payment.position() > *a)
    }
}

/// Where an entry sits in a device's ledger: the time the platform took
/// it (a code's creation, a payment's receipt), ties by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LedgerPosition {
    pub at: Timestamp,
    pub id: String,
}

impl LedgerPosition {
    pub fn to_cursor(&self) -> String {
        timed_cursor(self.at, &self.id)
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, FieldError> {
        let (at, id) = parse_timed_cursor(cursor, is_platform_id)?;
        Ok(LedgerPosition { at, id })
    }
}

impl Payment {
    /// The `payment.received` event the store writes with the payment.
    /// Its id follows from what makes the payment one (its account and
    /// reference), so the event is one thing however often it is made.
    pub fn received_event(&self) -> Event {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(
            format!("payment:{}:{}", self.account, self.reference.as_str()).as_bytes(),
        );
        Event {
            id: format!("evt_{}", crate::hex::encode(&digest[..12])),
            account: self.account.clone(),
            event_type: EventType::PaymentReceived,
            occurred_at: self.received_at,
            subject: self.reference.as_str().to_owned(),
            snapshot: None,
        }
    }

    pub fn ledger_position(&self) -> LedgerPosition {
        LedgerPosition {
            at: self.received_at,
            id: self.id.clone(),
        }
    }
}

/// One line of a device's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    /// A payment, with the code it bought and the device after it.
    Payment(Box<Payment>),
    /// A code no payment bought (`POST /codes`, a batch, desired state),
    /// with the balance carried at that point; its credit after it is on
    /// the code.
    Code { code: CodeRecord, balance: Amount },
}

impl LedgerEntry {
    pub fn position(&self) -> LedgerPosition {
        match self {
            LedgerEntry::Payment(payment) => payment.ledger_position(),
            LedgerEntry::Code { code, .. } => LedgerPosition {
                at: code.created_at,
                id: code.id.clone(),
            },
        }
    }
}

/// What a payment buys, before it is written.
struct Purchase {
    /// The code, with the device's count after it.
    code: Option<(CodeRecord, u32)>,
    reason: Option<String>,
    /// The balance left after the code.
    balance: Amount,
}

/// Plans and payments of every client.
pub struct PaymentsService {
    codes: CodesService,
    payments: Arc<dyn PaymentStore>,
    clock: Arc<dyn Clock>,
}

impl PaymentsService {
    pub fn new(
        devices: Arc<dyn DeviceStore>,
        codes: Arc<dyn CodeStore>,
        payments: Arc<dyn PaymentStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        PaymentsService {
            codes: CodesService::new(devices, codes, clock.clone()),
            payments,
            clock,
        }
    }

    /// Sets the device's plan; the money already paid stays. The currency
    /// cannot change once payments were taken in it.
    pub async fn set_plan(
        &self,
        account: &AccountId,
        serial: &str,
        plan: PaymentPlan,
    ) -> Result<Device, PaymentsError> {
        let serial = SerialNumber::parse(serial)?;
        let plan = plan.checked()?;
        for _ in 0..MAX_ISSUE_ATTEMPTS {
            let device = self.codes.read_device(account, &serial).await?;
            if let Some(current) = &device.plan {
                if !device.paid.payments.is_zero() && current.currency != plan.currency {
                    return Err(PaymentsError::CurrencyLocked(
                        current.currency.as_str().to_owned(),
                    ));
                }
            }
            match self.payments.set_plan(&device, &plan).await {
                Ok(()) => {
                    return Ok(Device {
                        plan: Some(plan),
                        version: device.version + 1,
                        ..device
                    })
                }
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(PaymentsError::Store(other)),
            }
        }
        Err(PaymentsError::DeviceBusy)
    }

    /// The device with its plan; `PlanNotFound` when it has none.
    pub async fn plan(&self, account: &AccountId, serial: &str) -> Result<Device, PaymentsError> {
        let serial = SerialNumber::parse(serial)?;
        let device = self.codes.read_device(account, &serial).await?;
        if device.plan.is_none() {
            return Err(PaymentsError::PlanNotFound);
        }
        Ok(device)
    }

    /// Takes a payment: its amount and the carried balance buy whole days
    /// at the plan's rate (or the unlock that completes the plan), issued
    /// through the same atomic write as the payment record. The same
    /// reference again answers the first payment and issues nothing.
    pub async fn pay(
        &self,
        account: &AccountId,
        request: &NewPayment,
    ) -> Result<Payment, PaymentsError> {
        for attempt in 0..MAX_ISSUE_ATTEMPTS {
            if let Some(first) = self
                .payments
                .find_payment(account, request.reference.as_str())
                .await
                .map_err(PaymentsError::Store)?
            {
                return if first.is_repeat_of(request) {
                    Ok(first)
                } else {
                    Err(PaymentsError::ReferenceConflict)
                };
            }
            let device = self.codes.read_device(account, &request.serial).await?;
            let plan = device.plan.clone().ok_or(PaymentsError::NoPlan)?;
            if plan.currency != request.currency {
                return Err(PaymentsError::WrongCurrency {
                    plan: plan.currency.as_str().to_owned(),
                    given: request.currency.as_str().to_owned(),
                });
            }
            let now = self.clock.now();
            let payments = device.paid.payments.plus(request.amount);
            let total_paid = plan.down_payment.plus(payments);
            let purchase = self.purchase(&device, &plan, request.amount, total_paid, now)?;
            let (code, next_count) = match purchase.code {
                Some((record, next_count)) => (Some(record), next_count),
                None => (None, device.count),
            };
            let credit = match &code {
                Some(code) => device
                    .credit
                    .after(code.code_type, code.arg, code.created_at),
                None => device.credit,
            };
            let id = random_hex(12);
            let code = code.map(|code| CodeRecord {
                credit: Some(credit),
                payment_id: Some(id.clone()),
                ..code
            });
            let advance = Advance {
                count: next_count,
                credit,
                paid: Paid {
                    payments,
                    balance: purchase.balance,
                },
            };
            let payment = Payment {
                id,
                account: account.clone(),
                reference: request.reference.clone(),
                serial_num: request.serial.clone(),
                amount: request.amount,
                currency: request.currency.clone(),
                paid_at: request.paid_at,
                payer: request.payer.clone(),
                received_at: now,
                code: code.clone(),
                reason: purchase.reason,
                credit: credit.as_of(now),
                balance: purchase.balance,
                total_paid,
            };
            match self
                .payments
                .record_payment(&device, &advance, code.as_ref(), &payment)
                .await
            {
                Ok(()) => return Ok(payment),
                // Another delivery of this payment won: the next round
                // finds it and answers it.
                Err(StoreError::AlreadyExists) => continue,
                Err(StoreError::Conflict) => {
                    tokio::time::sleep(crate::codes::backoff(attempt)).await;
                }
                Err(other) => return Err(PaymentsError::Store(other)),
            }
        }
        Err(PaymentsError::DeviceBusy)
    }

    /// What `amount` buys on `device` now: the unlock that completes the
    /// plan, or the most whole days the balance pays for that the
    /// protocol carries in one code; the rest stays in the balance.
    fn purchase(
        &self,
        device: &Device,
        plan: &PaymentPlan,
        amount: Amount,
        total_paid: Amount,
        now: Timestamp,
    ) -> Result<Purchase, CodesError> {
        let carried = device.paid.balance.plus(amount);
        let nothing = |reason: String| Purchase {
            code: None,
            reason: Some(reason),
            balance: carried,
        };
        if amount < plan.minimum_payment {
            return Ok(nothing(format!(
                "below the plan's minimum payment of {}; kept in the balance",
                plan.minimum_payment
            )));
        }
        let unlocked = device.credit.as_of(now).state == CreditState::Unlocked;
        if plan.total_price.is_some_and(|price| total_paid >= price) {
            if unlocked {
                return Ok(nothing(
                    "the plan is paid off and the device already unlocked".into(),
                ));
            }
            return match self.codes.first_carried(device, CodeType::Unlock, [0]) {
                Ok((record, next_count, _)) => Ok(Purchase {
                    code: Some((record, next_count)),
                    reason: None,
                    balance: carried,
                }),
                Err(CodesError::CreditUnreachable(why)) => Ok(nothing(format!(
                    "the device's protocol cannot carry the code: {why}"
                ))),
                Err(other) => Err(other),
            };
        }
        if unlocked {
            return Ok(nothing(
                "the device is unlocked: days would be ignored; kept in the balance".into(),
            ));
        }
        let affordable = carried.whole_times(plan.daily_rate);
        if affordable == 0 {
            return Ok(nothing(format!(
                "less than one day at {} a day; kept in the balance",
                plan.daily_rate
            )));
        }
        let most = u32::try_from(affordable.min(u64::from(keycode::codes::MAX_DAYS_ARG)))
            .unwrap_or(keycode::codes::MAX_DAYS_ARG);
        // The largest count the protocol carries in one code, asked of its
        // own encoder from the affordable count down.
        match self
            .codes
            .first_carried(device, CodeType::AddTime, (1..=most).rev())
        {
            Ok((record, next_count, days)) => Ok(Purchase {
                code: Some((record, next_count)),
                reason: None,
                balance: carried.minus(Amount::times(plan.daily_rate, u64::from(days))),
            }),
            Err(CodesError::CreditUnreachable(_)) => Ok(nothing(
                "the device's protocol carries none of the days paid for; kept in the balance"
                    .into(),
            )),
            Err(other) => Err(other),
        }
    }

    /// One page of a device's ledger: its payments and the codes no payment
    /// bought, in the order the platform took them, with the balance
    /// running through them.
    pub async fn ledger(
        &self,
        account: &AccountId,
        serial: &str,
        limit: usize,
        after: Option<LedgerPosition>,
    ) -> Result<Page<LedgerEntry, LedgerPosition>, PaymentsError> {
        let serial = SerialNumber::parse(serial)?;
        self.codes.read_device(account, &serial).await?;
        let payments = self
            .payments
            .ledger_payments(account, &serial, after.as_ref(), limit + 1)
            .await
            .map_err(PaymentsError::Store)?;
        // No entry of this page lies past the last payment read when there
        // are more: codes are read only up to it, so a device whose codes
        // payments bought costs a page of codes, not its whole history.
        let window_end = match payments.last() {
            Some(last) if payments.len() > limit => last.received_at,
            _ => Timestamp::MAX,
        };
        // Codes a payment bought are that payment's entry; the rest are
        // read page by page until a ledger page's worth, or the window's
        // end.
        let mut codes = Vec::new();
        let mut code_after = after.as_ref().map(|p| CodePosition {
            created_at: p.at,
            id: p.id.clone(),
        });
        loop {
            let page = self
                .codes
                .list_codes(&CodeQuery {
                    account: account.clone(),
                    serial: Some(serial.clone()),
                    code_type: None,
                    batch_id: None,
                    created_from: Timestamp::MIN,
                    created_to: window_end,
                    order: SortOrder::Ascending,
                    limit: limit + 1,
                    after: code_after,
                })
                .await?;
            codes.extend(page.items.into_iter().filter(|c| c.payment_id.is_none()));
            match page.next {
                Some(next) if codes.len() <= limit => code_after = Some(next),
                _ => break,
            }
        }
        let mut balance = match &after {
            None => Amount::ZERO,
            Some(after) => self
                .payments
                .payment_at_or_before(account, &serial, after)
                .await
                .map_err(PaymentsError::Store)?
                .map_or(Amount::ZERO, |p| p.balance),
        };
        let mut merged: Vec<Result<Payment, CodeRecord>> = payments
            .into_iter()
            .map(Ok)
            .chain(codes.into_iter().map(Err))
            .collect();
        merged.sort_by_key(|entry| match entry {
            Ok(payment) => payment.ledger_position(),
            Err(code) => LedgerPosition {
                at: code.created_at,
                id: code.id.clone(),
            },
        });
        let more = merged.len() > limit;
        merged.truncate(limit);
        let entries: Vec<LedgerEntry> = merged
            .into_iter()
            .map(|entry| match entry {
                Ok(payment) => {
                    balance = payment.balance;
                    LedgerEntry::Payment(Box::new(payment))
                }
                Err(code) => LedgerEntry::Code { code, balance },
            })
            .collect();
        Ok(Page::new(entries, more, LedgerEntry::position))
    }

    /// One page of the account's payments, or of one device's (404 for a
    /// device the account does not have).
    pub async fn list_payments(
        &self,
        query: &PaymentQuery,
    ) -> Result<Page<Payment, PaymentPosition>, PaymentsError> {
        if let Some(serial) = &query.serial {
            self.codes.read_device(&query.account, serial).await?;
        }
        self.payments
            .list_payments(query)
            .await
            .map_err(PaymentsError::Store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn references_are_provider_ids_without_separators() {
        for good in ["RKL51ZZ2XX", "mpesa:QK12-3.4_5", &"x".repeat(64)] {
            assert!(PaymentReference::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a#b", "a/b", &"x".repeat(65)] {
            assert!(PaymentReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payers_are_checked() {
        let payer = |phone: Option<&str>, name: Option<&str>| Payer {
            phone: phone.map(str::to_owned),
            name: name.map(str::to_owned),
        };
        assert!(payer(Some("+254708374149"), Some("John Doe"))
            .checked()
            .is_ok());
        assert!(payer(None, None).checked().is_ok());
        for bad in [
            payer(Some("07 08"), None),
            payer(Some("254+70"), None),
            payer(Some(""), None),
            payer(None, Some("")),
            payer(None, Some("line\nbreak")),
        ] {
            assert!(bad.clone().checked().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn payment_cursors_round_trip_and_refuse_forgeries() {
        let position = PaymentPosition {
            paid_at: Timestamp::from_millis(1_800_000_000_000),
            id: "0f9180874c16f295c9690902".into(),
        };
        assert_eq!(
            PaymentPosition::from_cursor(&position.to_cursor()),
            Ok(position)
        );
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("1.a#b"),
            &URL_SAFE_NO_PAD.encode("x.abc"),
        ] {
            assert!(PaymentPosition::from_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_check_their_amounts_against_each_other() {
        let amount = |text: &str| Amount::parse("a", text).unwrap();
        let plan = |rate: &str, total: Option<&str>, down: &str| PaymentPlan {
            currency: Currency::parse("currency", "KES").unwrap(),
            daily_rate: amount(rate),
            total_price: total.map(amount),
            down_payment: amount(down),
            minimum_payment: Amount::ZERO,
        };
        assert!(plan("50", Some("18000"), "1500").checked().is_ok());
        let field = |p: PaymentPlan| p.checked().unwrap_err().field;
        assert_eq!(field(plan("0", None, "0")), "dailyRate");
        assert_eq!(field(plan("50", Some("0"), "0")), "totalPrice");
        assert_eq!(field(plan("50", Some("100"), "101")), "downPayment");
        let paid = Paid {
            payments: amount("200"),
            balance: amount("25"),
        };
        assert_eq!(
            paid.total(&plan("50", Some("18000"), "1500")),
            amount("1700")
        );
    }
}
