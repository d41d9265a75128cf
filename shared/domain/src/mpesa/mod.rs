//! M-Pesa C2B intake. Safaricom's Daraja calls an operator's validation URL
//! before a customer's paybill payment completes (the answer accepts or
//! cancels it) and the confirmation URL once it has; both carry the same
//! transaction. A confirmation becomes a payment of section 4, exactly once
//! per `TransID`, however often Safaricom repeats it (`docs/payg.md`).
//!
//! Daraja signs nothing, so the URLs hold a per-account secret token: a
//! registration made with the admin CLI, kept as a hash, tied to one short
//! code and the currency its payments are in.

pub mod port;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

use crate::clients::secrets::{self, Credential};
use crate::clients::AccountId;
use crate::clock::Timestamp;
use crate::devices::SerialNumber;
use crate::field::FieldError;
use crate::money::{Amount, Currency};
use crate::payments::{
    NewPayment, Payer, Payment, PaymentReference, PaymentsError, PaymentsService,
};
use crate::store::StoreError;
use port::MpesaStore;

/// What every callback token starts with.
const TOKEN_PREFIX: &str = "mpc";

/// East Africa Time, in which Daraja writes `TransTime`; Kenya keeps no
/// daylight saving.
const EAT_OFFSET_HOURS: i8 = 3;

/// A paybill or till number: 5 to 10 digits (Daraja's sandbox uses 600000
/// and 174379).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShortCode(String);

impl ShortCode {
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldError> {
        if (5..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(ShortCode(text.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "must be a short code of 5-10 digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShortCode {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        ShortCode::parse("shortCode", &text).map_err(|e| e.reason)
    }
}

impl From<ShortCode> for String {
    fn from(code: ShortCode) -> String {
        code.0
    }
}

/// An account's registration of one short code: everything but its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MpesaCallback {
    /// The public part of the token, `mpc_<id>_...`, for listing and revoking.
    pub id: String,
    #[serde(rename = "clientKey")]
    pub account: AccountId,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    pub short_code: ShortCode,
    /// What the short code's payments are in (KES for M-Pesa Kenya).
    pub currency: Currency,
    pub label: String,
    pub created_at: Timestamp,
}

/// A fresh registration: the token to put in the Daraja URLs, shown once,
/// and what is stored.
pub struct IssuedCallback {
    pub token: String,
    pub record: MpesaCallback,
}

impl std::fmt::Debug for IssuedCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCallback")
            .field("token", &"<redacted>")
            .field("record", &self.record)
            .finish()
    }
}

impl MpesaCallback {
    pub fn issue(
        account: &AccountId,
        short_code: ShortCode,
        currency: Currency,
        label: &str,
        now: Timestamp,
    ) -> IssuedCallback {
        let issued = secrets::issue(TOKEN_PREFIX);
        IssuedCallback {
            record: MpesaCallback {
                id: issued.id,
                account: account.clone(),
                hash: issued.hash,
                short_code,
                currency,
                label: label.to_owned(),
                created_at: now,
            },
            token: issued.text,
        }
    }
}

impl Credential for MpesaCallback {
    fn id(&self) -> &str {
        &self.id
    }
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

/// A C2B transaction's fields as Daraja sent them, each text or absent.
/// The fields it sends that the platform keeps nothing of
/// (`TransactionType`, `InvoiceNumber`, `OrgAccountBalance`,
/// `ThirdPartyTransID`) are not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct C2bFields {
    pub trans_id: Option<String>,
    pub trans_time: Option<String>,
    pub trans_amount: Option<String>,
    pub business_short_code: Option<String>,
    pub bill_ref_number: Option<String>,
    pub msisdn: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
}

/// A C2B transaction, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C2bTransaction {
    /// `TransID`: the payment's reference, unique per account.
    pub reference: PaymentReference,
    /// `TransTime`, from East Africa Time.
    pub paid_at: Timestamp,
    pub amount: Amount,
    pub short_code: String,
    /// `BillRefNumber`: the account number the customer typed, which names
    /// the device by its serial.
    pub account_number: String,
    pub payer: Payer,
}

fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str, FieldError> {
    match value.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(FieldError::new(field, "is required")),
    }
}

impl C2bTransaction {
    /// Errors name Daraja's own fields, so an operator can find the value.
    pub fn parse(fields: &C2bFields) -> Result<Self, FieldError> {
        let reference = PaymentReference::parse(required("TransID", &fields.trans_id)?)
            .map_err(|e| FieldError::new("TransID", e.reason))?;
        Ok(C2bTransaction {
            reference,
            paid_at: parse_trans_time(required("TransTime", &fields.trans_time)?)?,
            amount: Amount::parse(
                "TransAmount",
                required("TransAmount", &fields.trans_amount)?,
            )?,
            short_code: required("BusinessShortCode", &fields.business_short_code)?.to_owned(),
            account_number: required("BillRefNumber", &fields.bill_ref_number)?.to_owned(),
            payer: payer_of(fields),
        })
    }
}

/// `YYYYMMDDHHmmss` in East Africa Time (UTC+3), as Daraja writes it.
pub fn parse_trans_time(text: &str) -> Result<Timestamp, FieldError> {
    let bad = || {
        FieldError::new(
            "TransTime",
            "must be YYYYMMDDHHmmss in East Africa Time, e.g. 20261122130000",
        )
    };
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number = |from: usize, to: usize| text[from..to].parse::<u16>().map_err(|_| bad());
    let year = i32::from(number(0, 4)?);
    let month =
        Month::try_from(u8::try_from(number(4, 6)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let small = |from: usize| u8::try_from(number(from, from + 2)?).map_err(|_| bad());
    let date = Date::from_calendar_date(year, month, small(6)?).map_err(|_| bad())?;
    let time = Time::from_hms(small(8)?, small(10)?, small(12)?).map_err(|_| bad())?;
    let offset = UtcOffset::from_hms(EAT_OFFSET_HOURS, 0, 0).map_err(|_| bad())?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    let secs = at.unix_timestamp();
    let stamp = Timestamp::from_secs(secs);
    if stamp.secs() != secs {
        return Err(bad());
    }
    Ok(stamp)
}

/// Who paid, as far as Daraja tells it. Safaricom now masks or hashes
/// `MSISDN` (`2547 ***** 126`, a hex digest), so a phone is kept only when
/// it is digits; a name is kept when it is plain text. Neither ever refuses
/// a payment: the money has moved by the time the confirmation comes.
fn payer_of(fields: &C2bFields) -> Payer {
    let phone = fields
        .msisdn
        .as_deref()
        .map(str::trim)
        .filter(|p| (9..=15).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned);
    let parts: Vec<&str> = [&fields.first_name, &fields.middle_name, &fields.last_name]
        .into_iter()
        .filter_map(|part| part.as_deref().map(str::trim))
        .filter(|part| !part.is_empty())
        .collect();
    let name = Some(parts.join(" ")).filter(|name| {
        !name.is_empty() && name.chars().count() <= 200 && !name.chars().any(char::is_control)
    });
    Payer { phone, name }
}

/// Why a validation turns a payment away, in the terms of Daraja's
/// rejection codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `BillRefNumber` names no device of the account (C2B00012).
    UnknownAccountNumber,
    /// The amount is malformed or below the plan's minimum (C2B00013).
    InvalidAmount,
    /// The payment is to another short code than the token's (C2B00015).
    OtherShortCode,
    /// Anything else that keeps the payment from being taken (C2B00016).
    Other,
}

impl Rejection {
    /// The rejection a malformed field gives.
    fn of_field(field: &str) -> Self {
        match field {
            "TransAmount" => Rejection::InvalidAmount,
            "BillRefNumber" => Rejection::UnknownAccountNumber,
            "BusinessShortCode" => Rejection::OtherShortCode,
            _ => Rejection::Other,
        }
    }
}

/// A validation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected { why: Rejection, detail: String },
}

impl Verdict {
    /// The rejection of a transaction with a malformed field: Daraja reads
    /// a validation's answer, not its status.
    pub fn malformed(err: &FieldError) -> Self {
        Verdict::rejected(Rejection::of_field(&err.field), err.to_string())
    }

    fn rejected(why: Rejection, detail: impl Into<String>) -> Self {
        Verdict::Rejected {
            why,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MpesaError {
    /// The token is no registration's (or was revoked).
    #[error("no such callback")]
    UnknownCallback,
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("the payment is to short code {given}; this callback takes {expected}")]
    OtherShortCode { expected: String, given: String },
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<FieldError> for MpesaError {
    fn from(FieldError { field, reason }: FieldError) -> Self {
        MpesaError::InvalidField { field, reason }
    }
}

/// The C2B intake of every account.
pub struct MpesaService {
    callbacks: Arc<dyn MpesaStore>,
    payments: Arc<PaymentsService>,
}

impl MpesaService {
    pub fn new(callbacks: Arc<dyn MpesaStore>, payments: Arc<PaymentsService>) -> Self {
        MpesaService {
            callbacks,
            payments,
        }
    }

    /// The registration a callback URL's token names; `UnknownCallback` for
    /// any other text, revoked tokens included.
    pub async fn callback(&self, token: &str) -> Result<MpesaCallback, MpesaError> {
        let hash = secrets::lookup_hash(TOKEN_PREFIX, token).ok_or(MpesaError::UnknownCallback)?;
        self.callbacks
            .find_callback(&hash)
            .await
            .map_err(MpesaError::Store)?
            .ok_or(MpesaError::UnknownCallback)
    }

    /// Whether the payment may go ahead: to this token's short code, for a
    /// device of the account with a plan in the registration's currency,
    /// of at least the plan's minimum. Nothing is stored.
    pub async fn validate(
        &self,
        callback: &MpesaCallback,
        fields: &C2bFields,
    ) -> Result<Verdict, MpesaError> {
        let transaction = match C2bTransaction::parse(fields) {
            Ok(transaction) => transaction,
            Err(err) => return Ok(Verdict::malformed(&err)),
        };
        if transaction.short_code != callback.short_code.as_str() {
            return Ok(Verdict::rejected(
                Rejection::OtherShortCode,
                "the payment is to another short code",
            ));
        }
        let device = match self
            .payments
            .plan(&callback.account, &transaction.account_number)
            .await
        {
            Ok(device) => device,
            Err(PaymentsError::InvalidField { .. } | PaymentsError::DeviceNotFound) => {
                return Ok(Verdict::rejected(
                    Rejection::UnknownAccountNumber,
                    "no device has this account number",
                ))
            }
            Err(PaymentsError::PlanNotFound) => {
                return Ok(Verdict::rejected(
                    Rejection::Other,
                    "the device has no payment plan",
                ))
            }
            Err(other) => return Err(other.into()),
        };
        let plan = device.plan.expect("plan() answers devices with a plan");
        if plan.currency != callback.currency {
            return Ok(Verdict::rejected(
                Rejection::Other,
                "the device's plan is in another currency",
            ));
        }
        if transaction.amount.is_zero() || transaction.amount < plan.minimum_payment {
            return Ok(Verdict::rejected(
                Rejection::InvalidAmount,
                format!("the minimum payment is {}", plan.minimum_payment),
            ));
        }
        Ok(Verdict::Accepted)
    }

    /// Takes a confirmed payment as `POST /payments` does, with `TransID`
    /// as its reference: a repeated confirmation answers the first payment
    /// and issues nothing.
    pub async fn confirm(
        &self,
        callback: &MpesaCallback,
        fields: &C2bFields,
    ) -> Result<Payment, MpesaError> {
        let transaction = C2bTransaction::parse(fields)?;
        if transaction.short_code != callback.short_code.as_str() {
            return Err(MpesaError::OtherShortCode {
                expected: callback.short_code.as_str().to_owned(),
                given: transaction.short_code,
            });
        }
        // An account number that cannot be a serial is no device either.
        let serial = SerialNumber::parse(&transaction.account_number)
            .map_err(|_| PaymentsError::DeviceNotFound)?;
        let payment = NewPayment {
            serial,
            amount: transaction.amount,
            currency: callback.currency.clone(),
            reference: transaction.reference,
            paid_at: transaction.paid_at,
            payer: transaction.payer,
        };
        Ok(self.payments.pay(&callback.account, &payment).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> C2bFields {
        C2bFields {
            trans_id: Some("RKTQDM7W6S".into()),
            trans_time: Some("20261122130000".into()),
            trans_amount: Some("175.00".into()),
            business_short_code: Some("600638".into()),
            bill_ref_number: Some(" SN-0001 ".into()),
            msisdn: Some("254708374149".into()),
            first_name: Some("John".into()),
            middle_name: Some("".into()),
            last_name: Some("Doe".into()),
        }
    }

    #[test]
    fn trans_time_is_east_africa_time() {
        let at = parse_trans_time("20261122130000").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-22T10:00:00.000Z");
        // Just after midnight in Nairobi is the evening before in UTC.
        let at = parse_trans_time("20260101000500").unwrap();
        assert_eq!(at.to_rfc3339(), "2025-12-31T21:05:00.000Z");
        for bad in [
            "",
            "2026112213000",
            "202611221300000",
            "20261322130000",
            "20260230130000",
            "20261122250000",
            "20261122136000",
            "2026-11-22T13:0",
            "１２３４５６７８９０１２３４",
        ] {
            assert_eq!(
                parse_trans_time(bad).unwrap_err().field,
                "TransTime",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_transaction_reads_daraja_fields() {
        let read = C2bTransaction::parse(&fields()).unwrap();
        assert_eq!(read.reference.as_str(), "RKTQDM7W6S");
        assert_eq!(read.amount, Amount::parse("a", "175").unwrap());
        assert_eq!(read.account_number, "SN-0001");
        assert_eq!(read.short_code, "600638");
        assert_eq!(
            read.payer,
            Payer {
                phone: Some("254708374149".into()),
                name: Some("John Doe".into())
            }
        );
        for (field, change) in [
            (
                "TransID",
                (|f: &mut C2bFields| f.trans_id = None) as fn(&mut C2bFields),
            ),
            ("TransID", |f| f.trans_id = Some("RK TQ".into())),
            ("TransTime", |f| f.trans_time = Some("yesterday".into())),
            ("TransAmount", |f| f.trans_amount = Some("10.00001".into())),
            ("TransAmount", |f| f.trans_amount = Some("-5".into())),
            ("TransAmount", |f| f.trans_amount = None),
            ("BusinessShortCode", |f| {
                f.business_short_code = Some(" ".into())
            }),
            ("BillRefNumber", |f| f.bill_ref_number = None),
        ] {
            let mut bad = fields();
            change(&mut bad);
            assert_eq!(C2bTransaction::parse(&bad).unwrap_err().field, field);
        }
    }

    #[test]
    fn masked_phones_and_odd_names_are_dropped_not_refused() {
        for masked in [
            "2547 ***** 126",
            "2547*****126",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "",
        ] {
            let mut with = fields();
            with.msisdn = Some(masked.into());
            with.first_name = Some("Jo\u{7}hn".into());
            let read = C2bTransaction::parse(&with).unwrap();
            assert_eq!(read.payer, Payer::default(), "{masked}");
        }
    }

    #[test]
    fn a_malformed_field_maps_to_its_daraja_rejection() {
        assert_eq!(Rejection::of_field("TransAmount"), Rejection::InvalidAmount);
        assert_eq!(
            Rejection::of_field("BillRefNumber"),
            Rejection::UnknownAccountNumber
        );
        assert_eq!(
            Rejection::of_field("BusinessShortCode"),
            Rejection::OtherShortCode
        );
        assert_eq!(Rejection::of_field("TransTime"), Rejection::Other);
    }

    #[test]
    fn short_codes_are_digits() {
        assert!(ShortCode::parse("s", "600638").is_ok());
        for bad in ["6006", "60063a", "", "12345678901"] {
            assert!(ShortCode::parse("s", bad).is_err(), "{bad}");
        }
    }
}
