//! `PUT/GET /devices/{serialNum}/plan`, `POST /payments` and
//! `GET /payments`: the bodies as they arrive and what the API shows.

use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::devices::{Credit, Device, PaymentPlan, SerialNumber};
use domain::field::FieldError;
use domain::money::{Amount, Currency};
use domain::paging::{page_limit, Page};
use domain::payments::{
    LedgerEntry, LedgerPosition, NewPayment, Payer, Payment, PaymentPosition, PaymentQuery,
    PaymentReference,
};
use serde::{Deserialize, Serialize};

use crate::biolite::codes::CodeView;
use crate::{time, time_or};

/// The body of `PUT /devices/{serialNum}/plan`: amounts as decimal strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanBody {
    pub currency: String,
    pub daily_rate: AmountInput,
    pub total_price: Option<AmountInput>,
    pub down_payment: Option<AmountInput>,
    pub minimum_payment: Option<AmountInput>,
}

impl PlanBody {
    pub fn into_plan(self) -> Result<PaymentPlan, FieldError> {
        let amount =
            |field: &str, input: Option<&AmountInput>| input.map(|a| a.parse(field)).transpose();
        Ok(PaymentPlan {
            currency: Currency::parse("currency", &self.currency)?,
            daily_rate: self.daily_rate.parse("dailyRate")?,
            total_price: amount("totalPrice", self.total_price.as_ref())?,
            down_payment: amount("downPayment", self.down_payment.as_ref())?.unwrap_or_default(),
            minimum_payment: amount("minimumPayment", self.minimum_payment.as_ref())?
                .unwrap_or_default(),
        })
    }
}

/// An amount as it arrives: the API takes decimal strings only, and a JSON
/// number is refused by name, with why, rather than as a malformed body.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AmountInput {
    Text(String),
    Other(serde_json::Value),
}

impl AmountInput {
    pub fn parse(&self, field: &str) -> Result<Amount, FieldError> {
        match self {
            AmountInput::Text(text) => Amount::parse(field, text),
            AmountInput::Other(serde_json::Value::Number(_)) => Err(FieldError::new(
                field,
                "must be a decimal string such as \"175\", not a JSON number: money is never a float",
            )),
            AmountInput::Other(_) => Err(FieldError::new(
                field,
                "must be a decimal string such as \"175\"",
            )),
        }
    }
}

/// A device's plan with what was paid on it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    pub serial_num: String,
    #[serde(flatten)]
    pub plan: PaymentPlan,
    /// The down payment and every payment.
    pub total_paid: Amount,
    /// Paid but not yet turned into days.
    pub balance: Amount,
    /// What is left of the total price; `null` without one.
    pub remaining: Option<Amount>,
}

impl PlanView {
    /// `None` for a device without a plan.
    pub fn of(device: &Device) -> Option<Self> {
        let plan = device.plan.clone()?;
        let total_paid = device.paid.total(&plan);
        Some(PlanView {
            serial_num: device.serial.as_str().to_owned(),
            remaining: plan.total_price.map(|price| price.minus(total_paid)),
            total_paid,
            balance: device.paid.balance,
            plan,
        })
    }
}

/// The body of `POST /payments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentBody {
    pub serial_num: String,
    pub amount: AmountInput,
    pub currency: String,
    pub reference: String,
    pub paid_at: String,
    #[serde(default)]
    pub payer: Option<PayerBody>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayerBody {
    pub phone: Option<String>,
    pub name: Option<String>,
}

impl PaymentBody {
    pub fn validate(self) -> Result<NewPayment, FieldError> {
        let amount = self.amount.parse("amount")?;
        if amount.is_zero() {
            return Err(FieldError::new("amount", "must be more than zero"));
        }
        let payer = self.payer.map_or_else(Payer::default, |p| Payer {
            phone: p.phone,
            name: p.name,
        });
        Ok(NewPayment {
            serial: SerialNumber::parse(&self.serial_num)?,
            amount,
            currency: Currency::parse("currency", &self.currency)?,
            reference: PaymentReference::parse(&self.reference)?,
            paid_at: time("paidAt", &self.paid_at)?,
            payer: payer.checked()?,
        })
    }
}

/// A payment as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: String,
    pub reference: String,
    pub serial_num: String,
    pub amount: Amount,
    pub currency: String,
    pub paid_at: Timestamp,
    pub payer: Payer,
    pub received_at: Timestamp,
}

/// What a payment did: the answer of `POST /payments`, and each entry of
/// `GET /payments`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOutcome {
    pub payment: PaymentView,
    pub code: Option<CodeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub credit: Credit,
    pub balance: Amount,
    pub total_paid: Amount,
}

impl From<&Payment> for PaymentOutcome {
    fn from(p: &Payment) -> Self {
        PaymentOutcome {
            payment: PaymentView {
                id: p.id.clone(),
                reference: p.reference.as_str().to_owned(),
                serial_num: p.serial_num.as_str().to_owned(),
                amount: p.amount,
                currency: p.currency.as_str().to_owned(),
                paid_at: p.paid_at,
                payer: p.payer.clone(),
                received_at: p.received_at,
            },
            code: p.code.as_ref().map(CodeView::from),
            reason: p.reason.clone(),
            credit: p.credit,
            balance: p.balance,
            total_paid: p.total_paid,
        }
    }
}

/// `GET /payments` parameters as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPaymentsParams {
    pub serial_num: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl ListPaymentsParams {
    pub fn into_query(self, account: &AccountId) -> Result<PaymentQuery, FieldError> {
        let from = time_or("from", self.from.as_deref(), Timestamp::MIN)?;
        let to = time_or("to", self.to.as_deref(), Timestamp::MAX)?;
        if from > to {
            return Err(FieldError::new("from", "is after to"));
        }
        Ok(PaymentQuery {
            account: account.clone(),
            serial: self
                .serial_num
                .as_deref()
                .map(SerialNumber::parse)
                .transpose()?,
            from,
            to,
            limit: page_limit("limit", self.limit.as_deref())?,
            after: self
                .cursor
                .as_deref()
                .map(PaymentPosition::from_cursor)
                .transpose()?,
        })
    }
}

/// One page of payments as the API answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentListing {
    pub payments: Vec<PaymentOutcome>,
    pub next_cursor: Option<String>,
}

impl From<Page<Payment, PaymentPosition>> for PaymentListing {
    fn from(page: Page<Payment, PaymentPosition>) -> Self {
        PaymentListing {
            payments: page.items.iter().map(PaymentOutcome::from).collect(),
            next_cursor: page.next.as_ref().map(PaymentPosition::to_cursor),
        }
    }
}

/// One line of `GET /devices/{serialNum}/ledger`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LedgerLine {
    /// A payment: what it bought and the device after it.
    #[serde(rename = "payment", rename_all = "camelCase")]
    Payment {
        at: Timestamp,
        #[serde(flatten)]
        outcome: PaymentOutcome,
    },
    /// A code no payment bought, with the credit after it (`null` for
    /// codes issued before credit was kept) and the balance carried.
    #[serde(rename = "code", rename_all = "camelCase")]
    Code {
        at: Timestamp,
        code: CodeView,
        credit: Option<Credit>,
        balance: Amount,
    },
}

impl From<&LedgerEntry> for LedgerLine {
    fn from(entry: &LedgerEntry) -> Self {
        match entry {
            LedgerEntry::Payment(payment) => LedgerLine::Payment {
                at: payment.received_at,
                outcome: PaymentOutcome::from(payment.as_ref()),
            },
            LedgerEntry::Code { code, balance } => LedgerLine::Code {
                at: code.created_at,
                code: CodeView::from(code),
                credit: code.credit,
                balance: *balance,
            },
        }
    }
}

/// One page of a device's ledger.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    pub serial_num: String,
    pub entries: Vec<LedgerLine>,
    pub next_cursor: Option<String>,
}

impl Ledger {
    pub fn new(serial: &str, page: &Page<LedgerEntry, LedgerPosition>) -> Self {
        Ledger {
            serial_num: serial.to_owned(),
            entries: page.items.iter().map(LedgerLine::from).collect(),
            next_cursor: page.next.as_ref().map(LedgerPosition::to_cursor),
        }
    }
}
