//! The storage conformance suite's M-Pesa half: callback registrations,
//! against both adapters with the same expectations, races included.

use api_tests::on_both_stores;
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::money::Currency;
use domain::mpesa::{MpesaCallback, ShortCode};
use domain::StoreError;
use futures_util::future::join_all;
use storage::Stores;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn registration(account: &str, short_code: &str, at: Timestamp) -> MpesaCallback {
    MpesaCallback::issue(
        &AccountId::parse(account).unwrap(),
        ShortCode::parse("shortCode", short_code).unwrap(),
        Currency::parse("currency", "KES").unwrap(),
        "conformance",
        at,
    )
    .record
}

async fn callbacks_are_found_by_hash_listed_and_revoked(stores: &Stores) {
    let a = AccountId::parse("ck_mpesa_a").unwrap();
    let first = registration("ck_mpesa_a", "600638", NOW);
    let second = registration("ck_mpesa_a", "174379", NOW.plus_secs(1));
    let other = registration("ck_mpesa_b", "600638", NOW);
    let store = stores.mpesa();
    for callback in [&second, &first, &other] {
        store.create_callback(callback).await.unwrap();
    }
    assert_eq!(
        store.create_callback(&first).await,
        Err(StoreError::AlreadyExists)
    );
    // The same id under the account again, whatever its hash.
    let same_id = MpesaCallback {
        hash: "0".repeat(64),
        ..first.clone()
    };
    assert_eq!(
        store.create_callback(&same_id).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.find_callback(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.find_callback(&"f".repeat(64)).await.unwrap(), None);
    assert_eq!(
        store.list_callbacks(&a).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store.revoke_callback(&a, &other.id).await,
        Err(StoreError::NotFound),
        "another account's registration id"
    );
    store.revoke_callback(&a, &first.id).await.unwrap();
    assert_eq!(store.find_callback(&first.hash).await.unwrap(), None);
    assert_eq!(
        store.revoke_callback(&a, &first.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.list_callbacks(&a).await.unwrap(), vec![second]);
    assert_eq!(store.find_callback(&other.hash).await.unwrap(), Some(other));
}

async fn racing_registrations_of_one_token_have_one_winner(stores: &Stores) {
    let callback = registration("ck_mpesa_race", "600638", NOW);
    let store = stores.mpesa();
    let outcomes = join_all((0..8).map(|_| store.create_callback(&callback))).await;
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| o.is_ok() || *o == Err(StoreError::AlreadyExists)));
    assert_eq!(
        store.list_callbacks(&callback.account).await.unwrap().len(),
        1
    );
}

on_both_stores!(
    callbacks_are_found_by_hash_listed_and_revoked,
    racing_registrations_of_one_token_have_one_winner,
);
