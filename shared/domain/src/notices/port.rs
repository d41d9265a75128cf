//! The storage port of credit notices: which accounts there are, and how
//! many days before a device's credit ends each wants to hear of it.

use async_trait::async_trait;

use super::NoticeAccount;
use crate::clients::AccountId;
use crate::paging::Page;
use crate::store::StoreError;

#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Sets the account's notice days; `NotFound` when there is no such
    /// account.
    async fn set_notice_days(&self, account: &AccountId, days: u32) -> Result<(), StoreError>;

    /// Every account with its notice days (`None`: the default), in key
    /// order, after `after`.
    async fn notice_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Page<NoticeAccount, AccountId>, StoreError>;
}
