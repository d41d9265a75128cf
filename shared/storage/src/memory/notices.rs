//! Credit notice settings in memory: beside the clients they belong to.

use super::*;

#[async_trait]
impl NoticeStore for MemoryStore {
    async fn set_notice_days(&self, account: &AccountId, days: u32) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.clients.contains_key(account) {
            return Err(StoreError::NotFound);
        }
        state.notice_days.insert(account.clone(), days);
        Ok(())
    }

    async fn notice_accounts(
        &self,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Page<NoticeAccount, AccountId>, StoreError> {
        let state = self.lock();
        // Clients are kept in key order already.
        let accounts: Vec<&AccountId> = state
            .clients
            .keys()
            .filter(|key| after.is_none_or(|after| *key > after))
            .collect();
        let more = accounts.len() > limit;
        let items: Vec<NoticeAccount> = accounts
            .into_iter()
            .take(limit)
            .map(|account| NoticeAccount {
                account: account.clone(),
                days: state.notice_days.get(account).copied(),
            })
            .collect();
        let next = more
            .then(|| items.last().map(|a| a.account.clone()))
            .flatten();
        Ok(Page { items, next })
    }
}
