//! The credit notice settings on both adapters: every account is listed in
//! key order with the days it set, paged; setting days needs the account.

use api_tests::on_both_stores;
use domain::clients::{AccountId, Client};
use domain::clock::Timestamp;
use domain::notices::NoticeAccount;
use domain::StoreError;
use storage::Stores;

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

async fn every_account_is_listed_with_its_notice_days(stores: &Stores) {
    for name in ["ck_notice_c", "ck_notice_a", "ck_notice_b"] {
        stores
            .clients()
            .create_client(&Client {
                key: account(name),
                name: name.into(),
                public_keys: Vec::new(),
                created_at: Timestamp::from_millis(1_000),
            })
            .await
            .unwrap();
    }
    let notices = stores.notices();
    notices
        .set_notice_days(&account("ck_notice_b"), 5)
        .await
        .unwrap();
    notices
        .set_notice_days(&account("ck_notice_b"), 7)
        .await
        .unwrap();
    assert_eq!(
        notices.set_notice_days(&account("ck_notice_x"), 5).await,
        Err(StoreError::NotFound)
    );

    let first = notices.notice_accounts(None, 2).await.unwrap();
    assert_eq!(
        first.items,
        [
            NoticeAccount {
                account: account("ck_notice_a"),
                days: None
            },
            NoticeAccount {
                account: account("ck_notice_b"),
                days: Some(7)
            },
        ]
    );
    let rest = notices
        .notice_accounts(first.next.as_ref(), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.items,
        [NoticeAccount {
            account: account("ck_notice_c"),
            days: None
        }]
    );
    assert_eq!(rest.next, None);
    // The unknown account was not made by the refused setting.
    assert_eq!(
        notices.notice_accounts(None, 10).await.unwrap().items.len(),
        3
    );
}

on_both_stores!(every_account_is_listed_with_its_notice_days);
