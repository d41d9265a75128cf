//! The storage conformance suite's `Idempotency-Key` and rate-limit half,
//! against both adapters with the same expectations.

use std::sync::Arc;

use api_tests::on_both_stores;
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::idempotency::*;
use domain::StoreError;
use storage::Stores;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn claim(account: &AccountId, key: &str, claim_id: &str, at: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        account: account.clone(),
        key: key.to_owned(),
        fingerprint: format!("print-of-{key}"),
        state: KeyState::Claimed {
            claim_id: claim_id.to_owned(),
            lease_until: at.plus_secs(CLAIM_LEASE_SECS),
        },
        expires_at: at.plus_secs(KEY_TTL_SECS),
    }
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        location: Some("/things/1".into()),
        body: body.to_owned(),
    }
}

async fn a_key_is_claimed_completed_and_replayed(stores: &Stores) {
    let store = &stores.idempotency();
    let account = AccountId::generate();
    let first = claim(&account, "k1", "c1", NOW);
    assert_eq!(
        store.claim_idempotency_key(&first, NOW).await,
        Ok(ClaimOutcome::Claimed)
    );
    let second = claim(&account, "k1", "c2", NOW);
    assert_eq!(
        store.claim_idempotency_key(&second, NOW).await,
        Ok(ClaimOutcome::Taken(first.clone()))
    );
    assert_eq!(
        store
            .complete_idempotency_key(&account, "k1", "c2", response("{}"))
            .await,
        Err(StoreError::Conflict),
        "only the claim's holder completes it"
    );
    store
        .complete_idempotency_key(&account, "k1", "c1", response("{\"id\":1}"))
        .await
        .unwrap();
    let Ok(ClaimOutcome::Taken(done)) = store.claim_idempotency_key(&second, NOW).await else {
        panic!("a completed key stays taken");
    };
    assert_eq!(done.fingerprint, first.fingerprint);
    assert_eq!(
        done.state,
        KeyState::Completed {
            response: response("{\"id\":1}")
        }
    );
    assert_eq!(
        store.release_idempotency_key(&account, "k1", "c1").await,
        Err(StoreError::Conflict),
        "a completed key is not released"
    );
    // Another account's key of the same name is its own.
    let other = claim(&AccountId::generate(), "k1", "c3", NOW);
    assert_eq!(
        store.claim_idempotency_key(&other, NOW).await,
        Ok(ClaimOutcome::Claimed)
    );
    // After the TTL the key is free again, even before the store drops it.
    let later = NOW.plus_secs(KEY_TTL_SECS);
    assert_eq!(
        store
            .claim_idempotency_key(&claim(&account, "k1", "c4", later), later)
            .await,
        Ok(ClaimOutcome::Claimed)
    );
}

async fn a_released_or_lapsed_claim_frees_its_key(stores: &Stores) {
    let store = &stores.idempotency();
    let account = AccountId::generate();
    store
        .claim_idempotency_key(&claim(&account, "k", "c1", NOW), NOW)
        .await
        .unwrap();
    store
        .release_idempotency_key(&account, "k", "c1")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(&account, "k", "c2", NOW), NOW)
            .await,
        Ok(ClaimOutcome::Claimed)
    );
    // c2's holder died; once its lease lapses, c3 takes the key over and
    // c2 can no longer complete or release it.
    let lapsed = NOW.plus_secs(CLAIM_LEASE_SECS);
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(&account, "k", "c3", NOW), lapsed.plus_secs(-1))
            .await,
        Ok(ClaimOutcome::Taken(_))
    ));
    assert_eq!(
        store
            .claim_idempotency_key(&claim(&account, "k", "c3", lapsed), lapsed)
            .await,
        Ok(ClaimOutcome::Claimed)
    );
    assert_eq!(
        store
            .complete_idempotency_key(&account, "k", "c2", response("late"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.release_idempotency_key(&account, "k", "c2").await,
        Err(StoreError::Conflict)
    );
    store
        .complete_idempotency_key(&account, "k", "c3", response(""))
        .await
        .unwrap();
}

async fn racing_claims_of_one_key_have_one_winner(stores: &Stores) {
    let account = AccountId::generate();
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let store = stores.idempotency();
            let record = claim(&account, "raced", &format!("c{i}"), NOW);
            tokio::spawn(async move { store.claim_idempotency_key(&record, NOW).await })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            ClaimOutcome::Claimed => winners += 1,
            ClaimOutcome::Taken(record) => assert_eq!(record.key, "raced"),
        }
    }
    assert_eq!(winners, 1);
}

async fn a_rate_window_admits_exactly_its_limit(stores: &Stores) {
    let end = NOW.plus_secs(60);
    let bucket = format!("test#{}#0", AccountId::generate());
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let store = stores.rate_limits();
            let bucket = bucket.clone();
            tokio::spawn(async move { store.count_request(&bucket, 5, end).await })
        })
        .collect();
    let mut admitted = 0;
    for racer in racers {
        if racer.await.unwrap().unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    let store: Arc<dyn domain::RateLimitStore> = stores.rate_limits();
    assert!(!store.count_request(&bucket, 5, end).await.unwrap());
    assert!(
        store
            .count_request(&format!("{bucket}1"), 5, end)
            .await
            .unwrap(),
        "another bucket counts on its own"
    );
}

on_both_stores!(
    a_key_is_claimed_completed_and_replayed,
    a_released_or_lapsed_claim_frees_its_key,
    racing_claims_of_one_key_have_one_winner,
    a_rate_window_admits_exactly_its_limit,
);
