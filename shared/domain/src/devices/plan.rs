//! A device's payment plan and the money paid on it, kept on the device so
//! that a payment, its code and the device's count, credit and balance are
//! one atomic write (`docs/payg.md`).

use serde::{Deserialize, Serialize};

use crate::field::FieldError;
use crate::money::{Amount, Currency};

/// What a customer pays for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPlan {
    pub currency: Currency,
    /// The price of one day of credit; more than zero.
    pub daily_rate: Amount,
    /// The whole price: once the amounts paid reach it, the device is
    /// unlocked for good. `None` for a plan that never ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_price: Option<Amount>,
    /// Paid when the device was sold: it counts toward the price, buys no
    /// days (the installer's first code does that).
    #[serde(default)]
    pub down_payment: Amount,
    /// Payments below this are kept in the balance and buy no code.
    #[serde(default)]
    pub minimum_payment: Amount,
}

impl PaymentPlan {
    /// Checks the plan's amounts against each other.
    pub fn checked(self) -> Result<Self, FieldError> {
        if self.daily_rate.is_zero() {
            return Err(FieldError::new("dailyRate", "must be more than zero"));
        }
        if let Some(total) = self.total_price {
            if total.is_zero() {
                return Err(FieldError::new("totalPrice", "must be more than zero"));
            }
            if self.down_payment > total {
                return Err(FieldError::new(
                    "downPayment",
                    "is more than the total price",
                ));
            }
        }
        Ok(self)
    }
}

/// The money a device's payments left: what they have added up to, and
/// what is carried toward the next day of credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paid {
    /// The sum of every payment taken (the down payment is the plan's).
    pub payments: Amount,
    /// Paid but not yet turned into days.
    pub balance: Amount,
}

impl Paid {
    /// All paid toward the plan's price: the down payment and every
    /// payment.
    pub fn total(&self, plan: &PaymentPlan) -> Amount {
        plan.down_payment.plus(self.payments)
    }
}
