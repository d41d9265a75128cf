//! The storage conformance suite's webhook half: endpoints under their
//! per-account limit, versioned updates that may carry an event,
//! deliveries and their listing, and the outbox, against both adapters
//! with the same expectations, races included. The DynamoDB outbox is also
//! read back through the table's own stream.

use api_tests::on_both_stores;
use domain::clients::AccountId;
use domain::clock::Timestamp;
use domain::events::{Event, EventType};
use domain::webhooks::port::EndpointCreated;
use domain::webhooks::{Delivery, DeliveryStatus, Endpoint, WebhookSecret};
use domain::StoreError;
use futures_util::future::join_all;
use storage::dynamo::stream::OutboxStream;
use storage::Stores;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn account(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn hook_id(n: u32) -> String {
    format!("wh_{n:024x}")
}

fn endpoint(account_name: &str, n: u32) -> Endpoint {
    Endpoint {
        id: hook_id(n),
        account: account(account_name),
        url: format!("https://hooks.example.com/{n}"),
        events: vec![EventType::PaymentReceived],
        description: String::new(),
        include_codes: false,
        secret: WebhookSecret::generate(),
        previous_secret: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: NOW.plus_secs(i64::from(n)),
        updated_at: NOW,
        version: 1,
    }
}

fn delivery(account_name: &str, endpoint_id: &str, event: &str, at: Timestamp) -> Delivery {
    Delivery {
        id: Delivery::id_for(event, endpoint_id),
        account: account(account_name),
        endpoint_id: endpoint_id.to_owned(),
        event_id: event.to_owned(),
        event_type: EventType::PaymentReceived,
        body: r#"{"type":"payment.received","data":{"payer":{}}}"#.to_owned(),
        created_at: at,
        status: DeliveryStatus::Pending,
        reason: None,
        attempts: Vec::new(),
        next_attempt_at: Some(at),
        version: 1,
    }
}

/// Whether `event` is in the store's outbox: the memory store's log, or
/// the DynamoDB item the stream carries.
pub async fn in_outbox(stores: &Stores, event: &Event) -> bool {
    if let Some(memory) = stores.memory() {
        let (events, _) = memory.outbox_after(0, usize::MAX);
        return events.contains(event);
    }
    let dynamo = stores.dynamo().expect("memory or DynamoDB");
    dynamo.outbox_event(&event.id).await.unwrap().as_ref() == Some(event)
}

/// Every event the store has written, in the order written: the memory
/// store's log, or the table's stream read from its start (each case has
/// a table of its own), where an item written twice would show twice.
pub async fn outbox_events(stores: &Stores) -> Vec<Event> {
    if let Some(memory) = stores.memory() {
        return memory.outbox_after(0, usize::MAX).0;
    }
    let dynamo = stores.dynamo().expect("memory or DynamoDB");
    let mut stream = OutboxStream::open(&dynamo, Some(&api_tests::dynamodb_endpoint()))
        .await
        .unwrap();
    let mut all = Vec::new();
    // A poll may read a page of other records and no event; only a poll
    // that reads nothing at all means the end.
    loop {
        all.extend(stream.poll().await.unwrap());
        stream.commit();
        if stream.caught_up() {
            return all;
        }
    }
}

/// The events written with this id.
pub async fn outbox_with_id(stores: &Stores, id: &str) -> Vec<Event> {
    let mut events = outbox_events(stores).await;
    events.retain(|e| e.id == id);
    events
}

/// The types of every event written about `subject`, in order.
pub async fn events_about(stores: &Stores, subject: &str) -> Vec<EventType> {
    outbox_events(stores)
        .await
        .into_iter()
        .filter(|e| e.subject == subject)
        .map(|e| e.event_type)
        .collect()
}

async fn endpoints_stay_under_the_limit_and_update_by_version(stores: &Stores) {
    let store = stores.webhooks();
    let a = account("ck_hooks_a");
    for n in 1..=3 {
        assert_eq!(
            store.create_endpoint(&endpoint("ck_hooks_a", n), 3).await,
            Ok(EndpointCreated::Created)
        );
    }
    assert_eq!(
        store.create_endpoint(&endpoint("ck_hooks_a", 4), 3).await,
        Ok(EndpointCreated::LimitReached)
    );
    assert_eq!(
        store.create_endpoint(&endpoint("ck_hooks_b", 1), 3).await,
        Ok(EndpointCreated::Created),
        "the limit is per account"
    );
    let listed = store.list_endpoints(&a).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [hook_id(1), hook_id(2), hook_id(3)]);
    let first = listed[0].clone();
    assert_eq!(
        store.endpoint(&a, &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .endpoint(&account("ck_hooks_b"), &hook_id(2))
            .await
            .unwrap(),
        None
    );

    let next = Endpoint {
        description: "changed".into(),
        version: 2,
        ..first.clone()
    };
    store.update_endpoint(&next, None).await.unwrap();
    assert_eq!(
        store.update_endpoint(&next, None).await,
        Err(StoreError::Conflict)
    );
    let gone = Endpoint {
        id: format!("wh_{:024x}", 99),
        ..next.clone()
    };
    assert_eq!(
        store.update_endpoint(&gone, None).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.endpoint(&a, &first.id).await.unwrap(),
        Some(next.clone())
    );

    // An update that carries an event writes it with the change, and a
    // refused one writes neither.
    let disabled = Endpoint {
        enabled: false,
        version: 3,
        ..next.clone()
    };
    let event = Event::new(&a, EventType::WebhookDisabled, &first.id, NOW);
    let stale_event = Event::new(&a, EventType::WebhookDisabled, &first.id, NOW);
    assert_eq!(
        store
            .update_endpoint(
                &Endpoint {
                    version: 2,
                    ..disabled.clone()
                },
                Some(&stale_event)
            )
            .await,
        Err(StoreError::Conflict)
    );
    store
        .update_endpoint(&disabled, Some(&event))
        .await
        .unwrap();
    assert!(in_outbox(stores, &event).await);
    assert!(!in_outbox(stores, &stale_event).await);

    // Deleting frees a place; deleting twice is NotFound.
    store.delete_endpoint(&a, &first.id).await.unwrap();
    assert_eq!(
        store.delete_endpoint(&a, &first.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .delete_endpoint(&account("ck_hooks_b"), &hook_id(2))
            .await,
        Err(StoreError::NotFound),
        "another account's endpoint"
    );
    assert_eq!(
        store.create_endpoint(&endpoint("ck_hooks_a", 5), 3).await,
        Ok(EndpointCreated::Created)
    );
    assert_eq!(store.list_endpoints(&a).await.unwrap().len(), 3);

    let test = Event::new(&a, EventType::WebhookTest, hook_id(2), NOW);
    store.record_event(&test).await.unwrap();
    assert!(in_outbox(stores, &test).await);
    // An event with an id already written is refused and changes nothing.
    let again = Event {
        occurred_at: NOW.plus_secs(60),
        ..test.clone()
    };
    assert_eq!(
        store.record_event(&again).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(outbox_with_id(stores, &test.id).await, vec![test]);
}

async fn racing_creates_never_pass_the_limit(stores: &Stores) {
    let store = stores.webhooks();
    let outcomes = join_all((0..16).map(|n| {
        let store = store.clone();
        async move {
            store
                .create_endpoint(&endpoint("ck_hooks_race", n), 5)
                .await
        }
    }))
    .await;
    let created = outcomes
        .iter()
        .filter(|o| **o == Ok(EndpointCreated::Created))
        .count();
    assert_eq!(created, 5, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Ok(EndpointCreated::Created | EndpointCreated::LimitReached)
    )));
    assert_eq!(
        store
            .list_endpoints(&account("ck_hooks_race"))
            .await
            .unwrap()
            .len(),
        5
    );
}

async fn deliveries_are_single_and_update_by_version(stores: &Stores) {
    let store = stores.webhooks();
    let a = account("ck_hooks_d");
    let hook = endpoint("ck_hooks_d", 1).id;
    let first = delivery("ck_hooks_d", &hook, "evt_1", NOW);
    store.create_delivery(&first).await.unwrap();
    assert_eq!(
        store.create_delivery(&first).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.delivery(&a, &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .delivery(&account("ck_hooks_x"), &first.id)
            .await
            .unwrap(),
        None
    );

    // Racing attempts at one version: exactly one is recorded.
    let outcomes = join_all((0..8).map(|n| {
        let store = store.clone();
        let next = Delivery {
            reason: Some(format!("attempt {n}")),
            version: 2,
            ..first.clone()
        };
        async move { store.update_delivery(&next).await }
    }))
    .await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| o.is_ok() || *o == Err(StoreError::Conflict)));
    let unknown = Delivery {
        id: Delivery::id_for("evt_none", &hook),
        version: 2,
        ..first.clone()
    };
    assert_eq!(
        store.update_delivery(&unknown).await,
        Err(StoreError::NotFound)
    );

    // Listed newest first, a page at a time, per endpoint.
    for n in 2..=5 {
        store
            .create_delivery(&delivery(
                "ck_hooks_d",
                &hook,
                &format!("evt_{n}"),
                NOW.plus_secs(n),
            ))
            .await
            .unwrap();
    }
    let other = endpoint("ck_hooks_d", 2).id;
    store
        .create_delivery(&delivery("ck_hooks_d", &other, "evt_9", NOW))
        .await
        .unwrap();
    let page = store.list_deliveries(&a, &hook, None, 3).await.unwrap();
    let events: Vec<&str> = page.items.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(events, ["evt_5", "evt_4", "evt_3"]);
    let rest = store
        .list_deliveries(&a, &hook, page.next.as_ref(), 3)
        .await
        .unwrap();
    let events: Vec<&str> = rest.items.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(events, ["evt_2", "evt_1"]);
    assert!(rest.next.is_none());
    assert!(store
        .list_deliveries(&account("ck_hooks_x"), &hook, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

on_both_stores!(
    endpoints_stay_under_the_limit_and_update_by_version,
    racing_creates_never_pass_the_limit,
    deliveries_are_single_and_update_by_version,
);

/// The DynamoDB outbox read back the way the dispatcher reads it: from the
/// table's stream, again and again until the reader commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_stream_hands_each_event_until_committed() {
    let store = api_tests::fresh_dynamo_store().await;
    let stores = Stores::from(std::sync::Arc::new(store.clone()));
    let a = account("ck_hooks_s");
    let events: Vec<Event> = (0..3)
        .map(|n| Event::new(&a, EventType::WebhookTest, format!("wh_{n}"), NOW))
        .collect();
    for event in &events {
        stores.webhooks().record_event(event).await.unwrap();
    }
    // Items of other kinds in the stream are not events.
    stores
        .webhooks()
        .create_endpoint(&endpoint("ck_hooks_s", 1), 20)
        .await
        .unwrap();
    let mut stream = OutboxStream::open(&store, Some(&api_tests::dynamodb_endpoint()))
        .await
        .unwrap();
    let first = stream.poll().await.unwrap();
    assert_eq!(first, events);
    // Not committed: a reader that stopped here loses nothing.
    assert_eq!(stream.poll().await.unwrap(), events);
    stream.commit();
    assert!(stream.poll().await.unwrap().is_empty());
    stream.commit();
    let later = Event::new(&a, EventType::WebhookTest, "wh_9", NOW);
    stores.webhooks().record_event(&later).await.unwrap();
    assert_eq!(stream.poll().await.unwrap(), vec![later]);
}
