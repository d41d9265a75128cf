//! The storage conformance suite's activation-challenge half, and the
//! cleanup run, against both adapters with the same expectations.

use std::sync::Arc;

use api_tests::on_both_stores;
use domain::challenges::*;
use domain::clients::AccountId;
use domain::clock::{Clock, ManualClock, Timestamp};
use domain::events::EventType;
use domain::ids::ChallengeId;
use domain::StoreError;
use storage::Stores;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const DAY: i64 = 86_400;
const RETENTION: i64 = 30 * DAY;

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn challenge(account_name: &str, person: &str, at: Timestamp) -> Challenge {
    Challenge {
        account: account(account_name),
        id: ChallengeId::generate(at.millis()),
        person_id: person.to_owned(),
        code: generate_code(),
        created_at: at,
        expires_at: at.plus_secs(14 * DAY),
        origin: Origin::MobileApp,
        purpose: Purpose::DeviceBinding,
        delivery_method: DeliveryMethod::Snailmail,
        usage_count: 0,
        max_usage_count: 5,
        ended: None,
        failed_attempts: 0,
        attempt_window_start: at,
        event_count: 0,
        marked_expired: false,
    }
}

async fn race<F, Fut>(count: usize, make: F) -> (usize, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
{
    let racers: Vec<_> = (0..count).map(|_| tokio::spawn(make())).collect();
    let (mut wins, mut conflicts) = (0, 0);
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict) => conflicts += 1,
            Err(other) => panic!("{other}"),
        }
    }
    (wins, conflicts)
}

async fn a_live_challenge_holds_its_slot_and_code(stores: &Stores) {
    let store = &stores.challenges();
    let first = challenge("ck_slots", "p1", NOW);
    store
        .create_challenge(&first, None, RETENTION)
        .await
        .unwrap();
    let rival = challenge("ck_slots", "p1", NOW);
    assert_eq!(
        store.create_challenge(&rival, None, RETENTION).await,
        Err(StoreError::AlreadyExists)
    );
    let mut same_code = challenge("ck_slots", "p2", NOW);
    same_code.code = first.code.clone();
    assert_eq!(
        store.create_challenge(&same_code, None, RETENTION).await,
        Err(StoreError::Conflict)
    );
    // Another account has its own slots and codes.
    let mut elsewhere = challenge("ck_slots_b", "p1", NOW);
    elsewhere.code = first.code.clone();
    store
        .create_challenge(&elsewhere, None, RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store
            .live_challenge(&first.account, "p1", Purpose::DeviceBinding, NOW)
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_challenge(&account("ck_other"), &first.id).await,
        Ok(None)
    );

    // Replacing ends the old one and takes its slot in one step.
    let later = NOW.plus_secs(60);
    let second = challenge("ck_slots", "p1", later);
    store
        .create_challenge(&second, Some(&first), RETENTION)
        .await
        .unwrap();
    let old = store
        .get_challenge(&first.account, &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.ended, old.expires_at),
        (Some(EndReason::Invalidated), later)
    );
    assert_eq!(
        store
            .live_challenge(&first.account, "p1", Purpose::DeviceBinding, later)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(second.id.clone())
    );
    let third = challenge("ck_slots", "p1", later);
    assert_eq!(
        store
            .create_challenge(&third, Some(&first), RETENTION)
            .await,
        Err(StoreError::Conflict),
        "the replaced challenge no longer holds the slot"
    );
    // The old code is free again.
    let mut reuse = challenge("ck_slots", "p3", later);
    reuse.code = first.code.clone();
    store
        .create_challenge(&reuse, None, RETENTION)
        .await
        .unwrap();

    // Once expired, the slot and code can be taken without replacing.
    let after = second.expires_at;
    let mut fresh = challenge("ck_slots", "p1", after);
    fresh.code = second.code.clone();
    assert_eq!(
        store
            .live_challenge(&first.account, "p1", Purpose::DeviceBinding, after)
            .await,
        Ok(None)
    );
    store
        .create_challenge(&fresh, None, RETENTION)
        .await
        .unwrap();

    // Racing creates for one person: one wins.
    let (wins, _) = {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let c = challenge("ck_slots", "racer", NOW);
                tokio::spawn(async move { store.create_challenge(&c, None, RETENTION).await })
            })
            .collect();
        let mut wins = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(()) => wins += 1,
                Err(StoreError::AlreadyExists | StoreError::Conflict) => {}
                Err(other) => panic!("{other}"),
            }
        }
        (wins, ())
    };
    assert_eq!(wins, 1);
}

async fn ending_a_challenge_frees_it_once(stores: &Stores) {
    let store = &stores.challenges();
    let c = challenge("ck_end", "p1", NOW);
    store.create_challenge(&c, None, RETENTION).await.unwrap();
    let at = NOW.plus_secs(10);
    store
        .end_challenge(&c, at, EndReason::Deleted, RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store
            .end_challenge(&c, at, EndReason::Deleted, RETENTION)
            .await,
        Err(StoreError::Conflict)
    );
    let stored = store
        .get_challenge(&c.account, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.ended, stored.expires_at),
        (Some(EndReason::Deleted), at)
    );
    assert_eq!(
        store
            .live_challenge(&c.account, "p1", Purpose::DeviceBinding, at)
            .await,
        Ok(None)
    );
    let mut next = challenge("ck_end", "p1", at);
    next.code = c.code.clone();
    store
        .create_challenge(&next, None, RETENTION)
        .await
        .unwrap();
    let missing = challenge("ck_end", "p9", NOW);
    assert_eq!(
        store
            .end_challenge(&missing, at, EndReason::Deleted, RETENTION)
            .await,
        Err(StoreError::NotFound)
    );
}

async fn uses_never_pass_the_maximum(stores: &Stores) {
    let store = &stores.challenges();
    let c = challenge("ck_use", "p1", NOW);
    store.create_challenge(&c, None, RETENTION).await.unwrap();
    let (wins, conflicts) = race(16, || {
        let (store, c) = (store.clone(), c.clone());
        async move { store.use_challenge(&c, NOW).await }
    })
    .await;
    assert_eq!((wins, conflicts), (5, 11));
    // The create and each of the five uses that won, and no more.
    let told = crate::webhooks::events_about(stores, &c.id.to_string()).await;
    assert_eq!(
        told,
        [
            vec![EventType::ChallengeCreated],
            vec![EventType::ChallengeVerified; 5]
        ]
        .concat()
    );
    assert_eq!(
        store
            .get_challenge(&c.account, &c.id)
            .await
            .unwrap()
            .unwrap()
            .usage_count,
        5
    );
    let other = challenge("ck_use", "p2", NOW);
    store
        .create_challenge(&other, None, RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store.use_challenge(&other, other.expires_at).await,
        Err(StoreError::Conflict),
        "expired"
    );
    store
        .end_challenge(&other, NOW, EndReason::Deleted, RETENTION)
        .await
        .unwrap();
    assert_eq!(
        store.use_challenge(&other, NOW).await,
        Err(StoreError::Conflict),
        "deleted"
    );
    assert_eq!(
        crate::webhooks::events_about(stores, &other.id.to_string()).await,
        [EventType::ChallengeCreated],
        "refused uses tell nothing"
    );
    assert_eq!(
        store
            .use_challenge(&challenge("ck_use", "p3", NOW), NOW)
            .await,
        Err(StoreError::NotFound)
    );
}

async fn failed_attempts_are_compare_and_set(stores: &Stores) {
    let store = &stores.challenges();
    let c = challenge("ck_attempts", "p1", NOW);
    store.create_challenge(&c, None, RETENTION).await.unwrap();
    let (wins, conflicts) = race(8, || {
        let (store, c) = (store.clone(), c.clone());
        async move { store.record_failed_attempt(&c, NOW, 1).await }
    })
    .await;
    assert_eq!((wins, conflicts), (1, 7));
    let stored = store
        .get_challenge(&c.account, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.failed_attempts, 1);
    let later = NOW.plus_secs(900);
    store
        .record_failed_attempt(&stored, later, 1)
        .await
        .unwrap();
    let stored = store
        .get_challenge(&c.account, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.attempt_window_start, stored.failed_attempts),
        (later, 1)
    );
}

async fn delivery_events_are_counted_and_bounded(stores: &Stores) {
    let store = &stores.challenges();
    let c = challenge("ck_events", "p1", NOW);
    store.create_challenge(&c, None, RETENTION).await.unwrap();
    let event = |n: i64| DeliveryEvent {
        account: c.account.clone(),
        challenge_id: c.id.clone(),
        id: new_uuid_v7(NOW.plus_secs(n).millis()),
        kind: "DISPATCHED".into(),
        timestamp: NOW.plus_secs(n),
        provider: Some("DEUTSCHE POST".into()),
        additional_details: None,
        created_at: NOW,
    };
    let events: Vec<DeliveryEvent> = (0..3).map(event).collect();
    for e in &events {
        store.add_delivery_event(e, 3).await.unwrap();
    }
    assert_eq!(
        store.add_delivery_event(&event(4), 3).await,
        Err(StoreError::Conflict)
    );
    let mut listed = store.list_delivery_events(&c).await.unwrap();
    listed.sort_by_key(|e| e.timestamp);
    assert_eq!(listed, events);
    let mut orphan = event(5);
    orphan.challenge_id = ChallengeId::generate(NOW.millis());
    assert_eq!(
        store.add_delivery_event(&orphan, 3).await,
        Err(StoreError::NotFound)
    );
}

async fn listings_filter_and_number_their_pages(stores: &Stores) {
    let store = &stores.challenges();
    let mut made = Vec::new();
    for i in 0..7 {
        let mut c = challenge("ck_list", &format!("p{}", i % 2), NOW.plus_secs(i));
        if i == 3 {
            c.origin = Origin::Web;
        }
        if i == 5 {
            c.expires_at = NOW.plus_secs(100);
        }
        // Slots are per person; these are different purposes of nothing,
        // so write each as the only live one by ending its predecessor.
        if let Some(prev) = store
            .live_challenge(&c.account, &c.person_id, c.purpose, c.created_at)
            .await
            .unwrap()
        {
            store
                .create_challenge(&c, Some(&prev), RETENTION)
                .await
                .unwrap();
        } else {
            store.create_challenge(&c, None, RETENTION).await.unwrap();
        }
        made.push(c);
    }
    store
        .create_challenge(&challenge("ck_list_b", "p0", NOW), None, RETENTION)
        .await
        .unwrap();
    let at = NOW.plus_secs(1000);
    let query =
        |person: Option<&str>, include_expired: bool, skip: usize, size: usize| ChallengeQuery {
            account: account("ck_list"),
            person_id: person.map(str::to_owned),
            include_expired,
            origin: None,
            purpose: None,
            delivery_method: None,
            now: at,
            skip,
            size,
        };
    let ids = |list: Vec<Challenge>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    // Every create but the last two of each person ended its predecessor.
    let all = ids(store
        .list_challenges(&query(None, true, 0, 100))
        .await
        .unwrap());
    assert_eq!(
        all,
        made.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        "creation order"
    );
    let live = ids(store
        .list_challenges(&query(None, false, 0, 100))
        .await
        .unwrap());
    assert_eq!(
        live,
        vec![made[6].id.clone()],
        "the others were replaced, or expired at +100 s"
    );
    let p1 = ids(store
        .list_challenges(&query(Some("p1"), true, 0, 100))
        .await
        .unwrap());
    assert_eq!(
        p1,
        vec![made[1].id.clone(), made[3].id.clone(), made[5].id.clone()]
    );
    let page2 = ids(store
        .list_challenges(&query(None, true, 2, 2))
        .await
        .unwrap());
    assert_eq!(page2, vec![made[2].id.clone(), made[3].id.clone()]);
    let beyond = store
        .list_challenges(&query(None, true, 7, 2))
        .await
        .unwrap();
    assert!(beyond.is_empty());
    let mut web = query(None, true, 0, 100);
    web.origin = Some(Origin::Web);
    assert_eq!(
        ids(store.list_challenges(&web).await.unwrap()),
        vec![made[3].id.clone()]
    );
}

async fn the_cleanup_marks_then_purges_and_can_run_again(stores: &Stores) {
    let clock = Arc::new(ManualClock::new(NOW));
    let config = ChallengeConfig::default();
    let service = ChallengeService::new(stores.challenges(), clock.clone(), config);
    let a = account("ck_cleanup");
    let mut made = Vec::new();
    for i in 0..130 {
        let new = NewChallenge {
            person_id: format!("person{i}"),
            origin: Origin::Web,
            purpose: Purpose::DeviceBinding,
            delivery_method: DeliveryMethod::Snailmail,
            invalidate_existing: false,
        };
        made.push(service.create(&a, new).await.unwrap());
    }
    let deleted = &made[0];
    service.delete(&a, &deleted.id).await.unwrap();
    service
        .add_event(
            &a,
            &made[1].id,
            &NewDeliveryEvent {
                kind: Some("DISPATCHED".into()),
                timestamp: Some("2026-11-22T10:00:00Z".into()),
                provider: None,
                additional_details: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        service.cleanup().await.unwrap(),
        CleanupReport::default(),
        "nothing is due"
    );

    clock.advance_secs(config.lifetime_secs);
    // A run that crashed after marking a few: the next run does the rest.
    let due = stores
        .challenges()
        .expired_challenges(clock.now(), 3)
        .await
        .unwrap();
    assert_eq!(due.len(), 3);
    for r in &due {
        stores
            .challenges()
            .mark_expired(r, clock.now())
            .await
            .unwrap();
        assert_eq!(
            stores.challenges().mark_expired(r, clock.now()).await,
            Err(StoreError::Conflict)
        );
    }
    let report = service.cleanup().await.unwrap();
    assert_eq!(
        (report.marked_expired, report.purged),
        (126, 0),
        "129 expired, 3 marked before"
    );
    assert_eq!(
        service.cleanup().await.unwrap().marked_expired,
        0,
        "idempotent"
    );
    let marked = stores
        .challenges()
        .get_challenge(&a, &made[5].id)
        .await
        .unwrap()
        .unwrap();
    assert!(marked.marked_expired);
    // Its person may have a new challenge without invalidating anything.
    let again = NewChallenge {
        person_id: "person5".into(),
        origin: Origin::Web,
        purpose: Purpose::DeviceBinding,
        delivery_method: DeliveryMethod::Snailmail,
        invalidate_existing: false,
    };
    let renewed = service.create(&a, again).await.unwrap();

    // The deleted one's retention ends first; the rest 14 days later.
    clock.advance_secs(config.retention_secs - config.lifetime_secs);
    let report = service.cleanup().await.unwrap();
    assert_eq!(
        (report.marked_expired, report.purged),
        (1, 1),
        "the renewed challenge expired; the deleted one is purged"
    );
    assert_eq!(
        stores.challenges().get_challenge(&a, &deleted.id).await,
        Ok(None)
    );
    clock.advance_secs(config.lifetime_secs);
    let report = service.cleanup().await.unwrap();
    assert_eq!(report.purged, 129);
    assert_eq!(
        stores.challenges().get_challenge(&a, &made[1].id).await,
        Ok(None)
    );
    assert!(stores
        .challenges()
        .list_delivery_events(&made[1])
        .await
        .unwrap()
        .is_empty());
    assert!(
        stores
            .challenges()
            .get_challenge(&a, &renewed.id)
            .await
            .unwrap()
            .is_some(),
        "the renewed challenge is still within its retention"
    );
    let report = service.cleanup().await.unwrap();
    assert_eq!((report.marked_expired, report.purged), (0, 0));
}

on_both_stores!(
    a_live_challenge_holds_its_slot_and_code,
    ending_a_challenge_frees_it_once,
    uses_never_pass_the_maximum,
    failed_attempts_are_compare_and_set,
    delivery_events_are_counted_and_bounded,
    listings_filter_and_number_their_pages,
    the_cleanup_marks_then_purges_and_can_run_again,
);
