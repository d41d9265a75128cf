//! The storage port of payment plans and payments.

use async_trait::async_trait;

use super::{LedgerPosition, Payment, PaymentPosition, PaymentQuery};
use crate::clients::AccountId;
use crate::codes::{Advance, CodeRecord};
use crate::devices::{Device, PaymentPlan, SerialNumber};
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Sets `device`'s plan, on condition that the device is still at the
    /// version it was read at; `Conflict` otherwise, with nothing written.
    async fn set_plan(&self, device: &Device, plan: &PaymentPlan) -> Result<(), StoreError>;

    /// Records `payment` and, as one atomic step, moves `device` to `next`
    /// and stores `code` if the payment bought one: on condition that the
    /// device is at the version it was read at and the account has no
    /// payment with the same reference. The payment's
    /// `received_event` goes into the outbox in the same step.
    ///
    /// `AlreadyExists` when the reference is taken (another delivery of
    /// the same payment got there); `Conflict` when the device moved.
    /// Either way nothing is written.
    async fn record_payment(
        &self,
        device: &Device,
        next: &Advance,
        code: Option<&CodeRecord>,
        payment: &Payment,
    ) -> Result<(), StoreError>;

    /// The account's payment with this provider reference.
    async fn find_payment(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError>;

    /// The account's payments, or one device's, in `paid_at` order (ties
    /// by id), within the query's bounds, after its position.
    async fn list_payments(
        &self,
        query: &PaymentQuery,
    ) -> Result<Page<Payment, PaymentPosition>, StoreError>;

    /// Up to `limit` of a device's payments in the order they were taken
    /// (`received_at`, ties by id), after `after`.
    async fn ledger_payments(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        after: Option<&LedgerPosition>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError>;

    /// The device's last payment taken at or before `at` (the payment at
    /// that very position included): where a ledger page after a cursor
    /// starts its running balance.
    async fn payment_at_or_before(
        &self,
        account: &AccountId,
        serial: &SerialNumber,
        at: &LedgerPosition,
    ) -> Result<Option<Payment>, StoreError>;
}
