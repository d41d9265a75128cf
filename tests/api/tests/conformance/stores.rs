//! The storage conformance suite: every port operation, against the
//! in-memory adapter and against DynamoDB Local, with the same expectations.

use std::collections::BTreeSet;
use std::sync::Arc;

use api_tests::on_both_stores;
use api_types::biolite::devices::NewDeviceBody;
use domain::batches::{Batch, BatchItem, BatchItemRef, BatchStatus, ItemState};
use domain::clients::{AccountId, Client, PublicKey, RegisteredKey};
use domain::clock::{SystemClock, Timestamp};
use domain::codes::{Advance, CodeOrder, CodePosition, CodeQuery, CodeRecord, MAX_RUN};
use domain::devices::{Credit, CreditState, Device, ExpiryQuery, Paid, PaymentPlan, SerialNumber};
use domain::ids::BatchId;
use domain::money::{Amount, Currency};
use domain::paging::SortOrder;
use domain::payments::{
    LedgerPosition, Payer, Payment, PaymentPosition, PaymentQuery, PaymentReference,
};
use domain::{CodesService, StoreError};
use keycode::CodeType;
use storage::Stores;

/// How many racers succeeded; every loser must have failed with `loss`.
async fn wins(
    racers: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
    loss: StoreError,
) -> usize {
    wins_among(racers, &[loss]).await
}

/// How many racers succeeded; every loser must have failed with one of
/// `losses`.
async fn wins_among(
    racers: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
    losses: &[StoreError],
) -> usize {
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => wins += 1,
            Err(err) if losses.contains(&err) => {}
            Err(other) => panic!("{other}"),
        }
    }
    wins
}

fn batch_id_of(text: &str) -> BatchId {
    BatchId::parse(text).expect("a batch id")
}

fn account_id(name: &str) -> AccountId {
    AccountId::parse(name).unwrap()
}

fn new_key() -> RegisteredKey {
    let key = domain::auth::P256SigningKey::generate().public_key();
    RegisteredKey::new(&key, Timestamp::from_secs(1_800_000_000))
}

fn client(name: &str) -> Client {
    Client {
        key: account_id(name),
        name: format!("{name} Ltd"),
        public_keys: vec![new_key()],
        created_at: Timestamp::from_millis(1_800_000_000_123),
    }
}

fn device(client: &str, serial: &str, protocol: &str) -> Device {
    let request: NewDeviceBody = serde_json::from_value(serde_json::json!({
        "serialNum": serial,
        "protocol": protocol,
        "secretKey": "bc41ec9530f6dac86b1a29ab82edc5fb",
    }))
    .unwrap();
    request
        .into_command()
        .unwrap()
        .into_device(&account_id(client), Timestamp::from_secs(1_800_000_000))
        .unwrap()
}

async fn clients_are_created_once_and_read_back(stores: &Stores) {
    let acme = client("ck_acme");
    stores.clients().create_client(&acme).await.unwrap();
    assert_eq!(
        stores.clients().get_client(&acme.key).await.unwrap(),
        Some(acme.clone())
    );
    let mut again = client("ck_acme");
    again.name = "impostor".into();
    assert_eq!(
        stores.clients().create_client(&again).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        stores
            .clients()
            .get_client(&acme.key)
            .await
            .unwrap()
            .unwrap()
            .name,
        "ck_acme Ltd"
    );
    assert_eq!(
        stores
            .clients()
            .get_client(&account_id("ck_nobody"))
            .await
            .unwrap(),
        None
    );
}

async fn public_keys_are_added_once(stores: &Stores) {
    let acme = client("ck_acme");
    stores.clients().create_client(&acme).await.unwrap();
    let second = RegisteredKey {
        added_at: Timestamp::from_secs(1_800_000_100),
        ..new_key()
    };
    stores
        .clients()
        .add_public_key(&acme.key, &second)
        .await
        .unwrap();
    let stored = stores
        .clients()
        .get_client(&acme.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.public_keys,
        vec![acme.public_keys[0].clone(), second.clone()]
    );
    let public = PublicKey::parse(&second.spki).unwrap();
    assert!(stored.has_key(&public));
    assert_eq!(
        stores.clients().add_public_key(&acme.key, &second).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        stores
            .clients()
            .add_public_key(&account_id("ck_nobody"), &second)
            .await,
        Err(StoreError::NotFound)
    );
}

async fn token_ids_are_single_use_until_they_expire(stores: &Stores) {
    let (acme, other) = (account_id("ck_acme"), account_id("ck_other"));
    let now = Timestamp::from_secs(1_800_000_000);
    let expires = now.plus_secs(300);
    stores
        .clients()
        .claim_token_id(&acme, "jti-1", now, expires)
        .await
        .unwrap();
    assert_eq!(
        stores
            .clients()
            .claim_token_id(&acme, "jti-1", now.plus_secs(299), expires)
            .await,
        Err(StoreError::AlreadyExists)
    );
    // Token ids are per client.
    stores
        .clients()
        .claim_token_id(&other, "jti-1", now, expires)
        .await
        .unwrap();
    // Once expired, the id may be recorded again (the iat rule guards it then).
    stores
        .clients()
        .claim_token_id(&acme, "jti-1", expires, expires.plus_secs(300))
        .await
        .unwrap();

    let racers: Vec<_> = (0..16)
        .map(|_| {
            let clients = stores.clients();
            let acme = acme.clone();
            tokio::spawn(async move { clients.claim_token_id(&acme, "raced", now, expires).await })
        })
        .collect();
    assert_eq!(
        wins(racers, StoreError::AlreadyExists).await,
        1,
        "exactly one of the racing claims wins"
    );
}

async fn devices_are_created_once_read_back_and_listed_in_pages(stores: &Stores) {
    let serials = ["SN-03", "SN-01", "SN-05", "SN-02", "SN-04"];
    for serial in serials {
        stores
            .devices()
            .create_device(&device("ck_acme", serial, "openpaygo"))
            .await
            .unwrap();
    }
    let nexus = device("ck_acme", "NX-1", "nexus_small");
    stores.devices().create_device(&nexus).await.unwrap();
    stores
        .devices()
        .create_device(&device("ck_other", "SN-01", "nexus_full"))
        .await
        .unwrap();
    assert_eq!(
        stores
            .devices()
            .create_device(&device("ck_acme", "SN-01", "nexus_full"))
            .await,
        Err(StoreError::AlreadyExists)
    );

    let acme = account_id("ck_acme");
    let read = stores
        .devices()
        .get_device(&acme, &SerialNumber::parse("NX-1").unwrap())
        .await
        .unwrap();
    assert_eq!(read, Some(nexus), "secrets, protocol and counts round-trip");
    let missing = SerialNumber::parse("SN-99").unwrap();
    assert_eq!(
        stores.devices().get_device(&acme, &missing).await.unwrap(),
        None
    );
    let theirs = stores
        .devices()
        .get_device(
            &account_id("ck_other"),
            &SerialNumber::parse("SN-01").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.secrets.protocol, keycode::DeviceProtocol::NexusFull);

    let mut listed = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = stores
            .devices()
            .list_devices(&acme, 2, after.as_ref())
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        listed.extend(page.items.iter().map(|d| d.serial.as_str().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        listed,
        ["NX-1", "SN-01", "SN-02", "SN-03", "SN-04", "SN-05"]
    );
}

fn code_for(device: &Device, id: &str, millis: i64, code_type: CodeType) -> CodeRecord {
    CodeRecord {
        id: id.to_owned(),
        serial_num: device.serial.clone(),
        code_type,
        arg: 7,
        code: format!("code-{id}"),
        count: device.count,
        created_at: Timestamp::from_millis(millis),
        account: device.account.clone(),
        batch_id: None,
        credit: None,
        payment_id: None,
    }
}

async fn recording_a_code_is_conditional_on_the_device_version(stores: &Stores) {
    let read = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&read).await.unwrap();
    let first = code_for(&read, "c1", 1_800_000_000_000, CodeType::AddTime);
    stores
        .codes()
        .record_code(&read, &moved(&read, 1), &first)
        .await
        .unwrap();

    let stored = stores
        .devices()
        .get_device(&read.account, &read.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.count, stored.version), (1, read.version + 1));

    // A second writer that read the same version loses and writes nothing.
    let stale = code_for(&read, "c2", 1_800_000_000_001, CodeType::AddTime);
    assert_eq!(
        stores
            .codes()
            .record_code(&read, &moved(&read, 1), &stale)
            .await,
        Err(StoreError::Conflict)
    );
    // The same position twice is refused (a retry picks a new id), device untouched.
    let twin = code_for(&stored, "c1", 1_800_000_000_000, CodeType::AddTime);
    assert_eq!(
        stores
            .codes()
            .record_code(&stored, &moved(&stored, 2), &twin)
            .await,
        Err(StoreError::Conflict)
    );
    // An unknown device cannot be advanced.
    let ghost = device("ck_acme", "SN-404", "nexus_full");
    let orphan = code_for(&ghost, "c3", 1_800_000_000_002, CodeType::AddTime);
    assert_eq!(
        stores
            .codes()
            .record_code(&ghost, &moved(&ghost, 1), &orphan)
            .await,
        Err(StoreError::Conflict)
    );
    // The code that was stored is told once; the refused ones never.
    assert_eq!(
        crate::webhooks::events_about(stores, "c1").await,
        [domain::events::EventType::CodeIssued]
    );
    for refused in ["c2", "c3"] {
        assert_eq!(crate::webhooks::events_about(stores, refused).await, []);
    }

    let listed = stores.codes().list_codes(&query("ck_acme")).await.unwrap();
    assert_eq!(listed.items, vec![first]);
    let after = stores
        .devices()
        .get_device(&read.account, &read.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, stored);
}

async fn racing_writers_on_one_version_have_one_winner(stores: &Stores) {
    let read = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&read).await.unwrap();
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let codes = stores.codes();
            let read = read.clone();
            tokio::spawn(async move {
                let code = code_for(
                    &read,
                    &format!("r{i}"),
                    1_800_000_000_000 + i,
                    CodeType::AddTime,
                );
                codes.record_code(&read, &moved(&read, 1), &code).await
            })
        })
        .collect();
    assert_eq!(wins(racers, StoreError::Conflict).await, 1);
    assert_eq!(
        stores
            .codes()
            .list_codes(&query("ck_acme"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn concurrent_issues_on_one_device_get_distinct_counts(stores: &Stores) {
    let read = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&read).await.unwrap();
    let service = Arc::new(CodesService::new(
        stores.devices(),
        stores.codes(),
        Arc::new(SystemClock),
    ));
    const RACERS: u32 = 24;
    let order = domain::codes::CodeOrder {
        serial: read.serial.clone(),
        code_type: CodeType::AddTime,
        arg: 1,
    };
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let service = service.clone();
            let order = order.clone();
            let client = read.account.clone();
            tokio::spawn(async move { service.issue(&client, &order).await })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        let code = task.await.unwrap().expect("every racer gets a code");
        assert!(
            counts.insert(code.count),
            "count {} issued twice",
            code.count
        );
    }
    assert_eq!(
        counts,
        (0..RACERS).collect::<BTreeSet<_>>(),
        "no count skipped or reused"
    );
    let stored = stores
        .devices()
        .get_device(&read.account, &read.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.count, RACERS, "the device advanced once per code");
    let mut all = query("ck_acme");
    all.limit = 100;
    assert_eq!(
        stores.codes().list_codes(&all).await.unwrap().items.len(),
        RACERS as usize
    );
}

fn query(client: &str) -> CodeQuery {
    CodeQuery {
        account: account_id(client),
        serial: None,
        code_type: None,
        batch_id: None,
        created_from: Timestamp::MIN,
        created_to: Timestamp::MAX,
        order: SortOrder::Ascending,
        limit: 50,
        after: None,
    }
}

/// Lists every page of `query` with its limit, returning the code ids.
async fn all_pages(stores: &Stores, mut query: CodeQuery) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..100 {
        let page = stores.codes().list_codes(&query).await.unwrap();
        assert!(page.items.len() <= query.limit, "pages are bounded");
        ids.extend(page.items.into_iter().map(|c| c.id));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return ids,
        }
    }
    panic!("paging did not end");
}

async fn codes_are_filtered_sorted_and_paged(stores: &Stores) {
    let mut a = device("ck_acme", "SN-A", "nexus_full");
    let mut b = device("ck_acme", "SN-B", "nexus_full");
    let mut theirs = device("ck_other", "SN-A", "nexus_full");
    for d in [&a, &b, &theirs] {
        stores.devices().create_device(d).await.unwrap();
    }
    let base = 1_800_000_000_000;
    // Ten codes: even ones on A, odd on B; every third an unlock; 7 and 8
    // share an instant.
    let mut expected = Vec::new();
    for i in 0..10i64 {
        let target = if i % 2 == 0 { &mut a } else { &mut b };
        let code_type = if i % 3 == 0 {
            CodeType::Unlock
        } else {
            CodeType::AddTime
        };
        let millis = if i == 8 {
            base + 7_000
        } else {
            base + i * 1_000
        };
        let mut code = code_for(target, &format!("id{i}"), millis, code_type);
        if i >= 5 {
            code.batch_id = Some(batch_id_of("batch1"));
        }
        stores
            .codes()
            .record_code(target, &moved(target, target.count + 1), &code)
            .await
            .unwrap();
        target.count += 1;
        target.version += 1;
        expected.push(code);
    }
    let foreign = code_for(&theirs, "foreign", base, CodeType::AddTime);
    stores
        .codes()
        .record_code(&theirs, &moved(&theirs, 1), &foreign)
        .await
        .unwrap();
    theirs.count += 1;

    let mut by_position = expected.clone();
    by_position.sort_by_key(CodeRecord::position);
    let ids = |codes: &[CodeRecord]| codes.iter().map(|c| c.id.clone()).collect::<Vec<_>>();

    let everything = stores.codes().list_codes(&query("ck_acme")).await.unwrap();
    assert_eq!(
        everything.items, by_position,
        "records round-trip, oldest first"
    );
    assert_eq!(everything.next, None);

    for limit in [1, 3, 4, 10] {
        let mut paged = query("ck_acme");
        paged.limit = limit;
        assert_eq!(
            all_pages(stores, paged.clone()).await,
            ids(&by_position),
            "limit {limit}"
        );
        paged.order = SortOrder::Descending;
        let mut newest_first = ids(&by_position);
        newest_first.reverse();
        assert_eq!(
            all_pages(stores, paged).await,
            newest_first,
            "limit {limit} descending"
        );
    }

    let mut on_b = query("ck_acme");
    on_b.serial = Some(b.serial.clone());
    on_b.limit = 2;
    let want: Vec<_> = by_position
        .iter()
        .filter(|c| c.serial_num == b.serial)
        .cloned()
        .collect();
    assert_eq!(all_pages(stores, on_b.clone()).await, ids(&want));

    let mut unlocks = query("ck_acme");
    unlocks.code_type = Some(CodeType::Unlock);
    unlocks.limit = 2;
    let want: Vec<_> = by_position
        .iter()
        .filter(|c| c.code_type == CodeType::Unlock)
        .cloned()
        .collect();
    assert_eq!(all_pages(stores, unlocks.clone()).await, ids(&want));

    let mut window = query("ck_acme");
    window.created_from = Timestamp::from_millis(base + 2_000);
    window.created_to = Timestamp::from_millis(base + 7_000);
    window.limit = 2;
    let want: Vec<_> = by_position
        .iter()
        .filter(|c| (base + 2_000..=base + 7_000).contains(&c.created_at.millis()))
        .cloned()
        .collect();
    assert_eq!(want.len(), 7);
    assert_eq!(all_pages(stores, window.clone()).await, ids(&want));
    window.order = SortOrder::Descending;
    let mut reversed = ids(&want);
    reversed.reverse();
    assert_eq!(all_pages(stores, window.clone()).await, reversed);

    let mut in_batch = on_b.clone();
    in_batch.batch_id = Some(batch_id_of("batch1"));
    let want: Vec<_> = by_position
        .iter()
        .filter(|c| c.serial_num == b.serial && c.batch_id.is_some())
        .cloned()
        .collect();
    assert_eq!(all_pages(stores, in_batch).await, ids(&want));

    // A cursor outside the time window ends or starts the listing cleanly.
    let mut late = window.clone();
    late.order = SortOrder::Ascending;
    late.after = Some(CodePosition {
        created_at: Timestamp::from_millis(base + 60_000),
        id: "zz".into(),
    });
    assert!(stores
        .codes()
        .list_codes(&late)
        .await
        .unwrap()
        .items
        .is_empty());
    late.after = Some(CodePosition {
        created_at: Timestamp::from_millis(base - 60_000),
        id: "aa".into(),
    });
    assert_eq!(
        all_pages(stores, late).await,
        ids(&window_items(&by_position, base))
    );

    let theirs_only = stores.codes().list_codes(&query("ck_other")).await.unwrap();
    assert_eq!(theirs_only.items, vec![foreign]);
    assert!(stores
        .codes()
        .list_codes(&query("ck_nobody"))
        .await
        .unwrap()
        .items
        .is_empty());
}

fn window_items(codes: &[CodeRecord], base: i64) -> Vec<CodeRecord> {
    codes
        .iter()
        .filter(|c| (base + 2_000..=base + 7_000).contains(&c.created_at.millis()))
        .cloned()
        .collect()
}

/// A batch of `total` items placed as `POST /batch` places them: items
/// take turns over the serials in `serials`.
fn new_batch_over(
    client: &str,
    id: &str,
    millis: i64,
    total: u32,
    key: Option<&str>,
    serials: &[&str],
) -> (Batch, Vec<BatchItem>) {
    let orders: Vec<CodeOrder> = (0..total)
        .map(|index| CodeOrder {
            serial: SerialNumber::parse(serials[index as usize % serials.len()]).unwrap(),
            code_type: CodeType::AddTime,
            arg: index % 10,
        })
        .collect();
    let placements = domain::batches::plan_chunks(&orders);
    let batch = Batch {
        id: batch_id_of(id),
        account: account_id(client),
        total,
        done: 0,
        failed: 0,
        created_at: Timestamp::from_millis(millis),
        updated_at: Timestamp::from_millis(millis),
        idempotency_key: key.map(str::to_owned),
        request_digest: format!("digest-{id}"),
        chunks: placements.iter().map(|p| p.chunk + 1).max().unwrap_or(0),
    };
    let items = orders
        .into_iter()
        .zip(placements)
        .enumerate()
        .map(|(index, (order, placement))| BatchItem {
            item: BatchItemRef {
                account: account_id(client),
                batch_id: batch_id_of(id),
                index: u32::try_from(index).unwrap(),
                chunk: placement.chunk,
                run: placement.run,
            },
            order,
            state: ItemState::Pending,
        })
        .collect();
    (batch, items)
}

/// `new_batch_over` one device, SN-1.
fn new_batch(
    client: &str,
    id: &str,
    millis: i64,
    total: u32,
    key: Option<&str>,
) -> (Batch, Vec<BatchItem>) {
    new_batch_over(client, id, millis, total, key, &["SN-1"])
}

/// Enough devices that every index shard holds some, so pages cross shard
/// boundaries; the other tenant's devices interleave with them by serial.
async fn many_devices(stores: &Stores, client: &str, count: usize) -> Vec<Device> {
    let mut devices = Vec::new();
    for i in 0..count {
        let made = device(client, &format!("SN-{i:03}"), "nexus_full");
        stores.devices().create_device(&made).await.unwrap();
        devices.push(made);
    }
    devices
}

async fn a_tenants_devices_are_listed_in_serial_order_across_shards(stores: &Stores) {
    let ours = many_devices(stores, "ck_acme", 48).await;
    many_devices(stores, "ck_other", 20).await;
    let acme = account_id("ck_acme");
    let expected: Vec<String> = ours.iter().map(|d| d.serial.as_str().to_owned()).collect();
    for limit in [1, 5, 48, 100] {
        let listed = every_page(limit, |after| {
            let devices = stores.devices();
            let acme = acme.clone();
            async move { devices.list_devices(&acme, limit, after.as_ref()).await }
        })
        .await;
        assert_eq!(listed, expected, "pages of {limit}");
    }
}

async fn a_tenants_codes_are_one_timeline_across_shards(stores: &Stores) {
    let mut ours = many_devices(stores, "ck_acme", 48).await;
    let mut theirs = many_devices(stores, "ck_other", 4).await;
    let base = 1_800_000_000_000;
    let mut expected = Vec::new();
    for i in 0..192usize {
        // Instants repeat across devices, so ties break on the id, and
        // consecutive codes land on different devices and shards.
        let millis = base + i64::try_from((i * 37) % 61).unwrap() * 10;
        let code_type = if i % 23 == 0 {
            CodeType::Unlock
        } else {
            CodeType::AddTime
        };
        let target = &mut ours[(i * 5) % 48];
        let code = code_for(target, &format!("c{i:03}"), millis, code_type);
        stores
            .codes()
            .record_code(target, &moved(target, target.count + 1), &code)
            .await
            .unwrap();
        target.count += 1;
        target.version += 1;
        expected.push(code);
        if i % 16 == 0 {
            let other = &mut theirs[i % 4];
            let foreign = code_for(other, &format!("x{i:03}"), millis, CodeType::AddTime);
            stores
                .codes()
                .record_code(other, &moved(other, other.count + 1), &foreign)
                .await
                .unwrap();
            other.count += 1;
            other.version += 1;
        }
    }
    expected.sort_by_key(|c| (c.created_at, c.id.clone()));
    let ids = |codes: &mut dyn Iterator<Item = &CodeRecord>| -> Vec<String> {
        codes.map(|c| c.id.clone()).collect()
    };
    let ascending = ids(&mut expected.iter());
    let descending = ids(&mut expected.iter().rev());
    for limit in [3, 17, 100] {
        let mut q = query("ck_acme");
        q.limit = limit;
        assert_eq!(
            all_pages(stores, q.clone()).await,
            ascending,
            "pages of {limit}"
        );
        q.order = SortOrder::Descending;
        assert_eq!(
            all_pages(stores, q).await,
            descending,
            "pages of {limit}, newest first"
        );
    }

    // A filter that few codes pass, over every shard.
    let mut unlocks = query("ck_acme");
    unlocks.code_type = Some(CodeType::Unlock);
    unlocks.limit = 2;
    let expected_unlocks = ids(&mut expected.iter().filter(|c| c.code_type == CodeType::Unlock));
    assert_eq!(expected_unlocks.len(), 9);
    assert_eq!(all_pages(stores, unlocks).await, expected_unlocks);

    // A window inside the timeline, newest first.
    let mut window = query("ck_acme");
    window.created_from = Timestamp::from_millis(base + 150);
    window.created_to = Timestamp::from_millis(base + 420);
    window.order = SortOrder::Descending;
    window.limit = 7;
    let in_window = ids(&mut expected
        .iter()
        .rev()
        .filter(|c| (window.created_from..=window.created_to).contains(&c.created_at)));
    assert!(in_window.len() > 20);
    assert_eq!(all_pages(stores, window).await, in_window);

    // One device's codes come from its own partition, in the same order.
    let mut one = query("ck_acme");
    one.serial = Some(ours[5].serial.clone());
    one.limit = 2;
    let of_device = ids(&mut expected.iter().filter(|c| c.serial_num == ours[5].serial));
    assert_eq!(of_device.len(), 4);
    assert_eq!(all_pages(stores, one).await, of_device);
}

async fn batches_are_stored_found_by_key_and_listed_newest_first(stores: &Stores) {
    let base = 1_800_000_000_000;
    let (first, first_items) = new_batch("ck_acme", "b1", base, 3, Some("key-1"));
    stores
        .batches()
        .create_batch(&first, &first_items)
        .await
        .unwrap();
    for (i, id) in ["b2", "b3", "b4"].iter().enumerate() {
        let (batch, items) = new_batch("ck_acme", id, base + 1_000 * (i as i64 + 1), 2, None);
        stores.batches().create_batch(&batch, &items).await.unwrap();
    }
    let (theirs, their_items) = new_batch("ck_other", "b9", base, 1, Some("key-1"));
    stores
        .batches()
        .create_batch(&theirs, &their_items)
        .await
        .unwrap();

    let acme = account_id("ck_acme");
    assert_eq!(
        stores
            .batches()
            .get_batch(&acme, &batch_id_of("b1"))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        stores
            .batches()
            .get_batch(&acme, &batch_id_of("b9"))
            .await
            .unwrap(),
        None,
        "scoped to the client"
    );
    assert_eq!(
        stores
            .batches()
            .find_by_idempotency_key(&acme, "key-1")
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        stores
            .batches()
            .find_by_idempotency_key(&acme, "key-2")
            .await
            .unwrap(),
        None
    );

    // A second batch under a used key is refused and leaves no trace.
    let (reuse, reuse_items) = new_batch("ck_acme", "b5", base + 9_000, 1, Some("key-1"));
    assert_eq!(
        stores.batches().create_batch(&reuse, &reuse_items).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        stores
            .batches()
            .get_batch(&acme, &batch_id_of("b5"))
            .await
            .unwrap(),
        None
    );

    let mut listed = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = stores
            .batches()
            .list_batches(&acme, 3, after.as_ref())
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        listed.extend(page.items.iter().map(|b| b.id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, ["b4", "b3", "b2", "b1"]);

    let items = stores
        .batches()
        .list_items(&acme, &batch_id_of("b1"), 1, 5)
        .await
        .unwrap();
    assert_eq!(items, first_items[1..].to_vec());
    assert!(stores
        .batches()
        .list_items(&acme, &batch_id_of("b9"), 0, 5)
        .await
        .unwrap()
        .is_empty());
}

/// The items of `items` in run `run` of chunk 0.
fn run_items(items: &[BatchItem], run: u32) -> Vec<BatchItem> {
    items
        .iter()
        .filter(|item| item.item.chunk == 0 && item.item.run == run)
        .cloned()
        .collect()
}

/// Codes for `run` at the device's count as `read`, in order.
fn run_codes(read: &Device, run: &[BatchItem], stem: &str) -> Vec<(CodeRecord, BatchItemRef)> {
    run.iter()
        .enumerate()
        .map(|(n, item)| {
            let mut at = read.clone();
            at.count = read.count + u32::try_from(n).unwrap();
            let mut code = code_for(
                &at,
                &format!("{stem}{:03}", item.item.index),
                1_800_000_000_500,
                CodeType::AddTime,
            );
            code.batch_id = Some(item.item.batch_id.clone());
            (code, item.item.clone())
        })
        .collect()
}

/// A run is settled once, whichever way: its codes with the failures
/// among them, or all failed; a second settling of any kind writes nothing.
async fn a_batch_run_is_settled_exactly_once(stores: &Stores) {
    for serial in ["SN-1", "SN-2"] {
        let made = device("ck_acme", serial, "nexus_full");
        stores.devices().create_device(&made).await.unwrap();
    }
    // Items take turns: SN-1 has 0, 2, 4 (run 0), SN-2 has 1, 3 (run 1).
    let (batch, items) = new_batch_over(
        "ck_acme",
        "b1",
        1_800_000_000_000,
        5,
        None,
        &["SN-1", "SN-2"],
    );
    stores.batches().create_batch(&batch, &items).await.unwrap();
    let acme = account_id("ck_acme");
    let first = run_items(&items, 0);
    assert_eq!(
        first.iter().map(|i| i.item.index).collect::<Vec<_>>(),
        [0, 2, 4]
    );
    let pending = stores
        .batches()
        .chunk_items(&acme, &batch_id_of("b1"), 0)
        .await
        .unwrap();
    assert_eq!(
        pending, items,
        "the chunk's items read back pending, in index order"
    );

    // Eight racers read the same device and settle run 0: items 0 and 2
    // issued, item 4 refused. One wins.
    let at = Timestamp::from_millis(1_800_000_001_000);
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (codes, devices) = (stores.codes(), stores.devices());
            let (client, run) = (acme.clone(), first.clone());
            tokio::spawn(async move {
                let serial = SerialNumber::parse("SN-1").unwrap();
                let read = devices.get_device(&client, &serial).await.unwrap().unwrap();
                let issued = run_codes(&read, &run[..2], &format!("r{i}"));
                let refused = [(run[2].item.clone(), "cannot express".to_owned())];
                codes
                    .record_code_run(&read, &moved(&read, read.count + 2), &issued, &refused, at)
                    .await
            })
        })
        .collect();
    let wins = wins_among(racers, &[StoreError::AlreadyExists, StoreError::Conflict]).await;
    assert_eq!(wins, 1, "one racer settles the run");
    let serial = SerialNumber::parse("SN-1").unwrap();
    let read = stores
        .devices()
        .get_device(&acme, &serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        read.count, 2,
        "the device advanced once, by the issued codes"
    );
    // Settled: on the current version too, and as all failed.
    let again = run_codes(&read, &first[..2], "late");
    assert_eq!(
        stores
            .codes()
            .record_code_run(&read, &moved(&read, read.count + 2), &again, &[], at)
            .await,
        Err(StoreError::AlreadyExists)
    );
    let refs: Vec<BatchItemRef> = first.iter().map(|i| i.item.clone()).collect();
    assert_eq!(
        stores.batches().fail_run(&refs, "late", at).await,
        Err(StoreError::AlreadyExists)
    );

    // Run 1 fails whole, once.
    let second: Vec<BatchItemRef> = run_items(&items, 1)
        .iter()
        .map(|i| i.item.clone())
        .collect();
    let later = Timestamp::from_millis(1_800_000_002_000);
    stores
        .batches()
        .fail_run(&second, "unknown device", later)
        .await
        .unwrap();
    assert_eq!(
        stores.batches().fail_run(&second, "again", later).await,
        Err(StoreError::AlreadyExists)
    );

    let stored = stores
        .batches()
        .get_batch(&acme, &batch_id_of("b1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.done, stored.failed, stored.status()),
        (2, 3, BatchStatus::CompletedWithErrors)
    );
    assert_eq!(stored.updated_at, later);
    let states: Vec<ItemState> = stores
        .batches()
        .list_items(&acme, &batch_id_of("b1"), 0, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.state)
        .collect();
    assert!(
        matches!(&states[0], ItemState::Done { count: 0, .. }),
        "{states:?}"
    );
    assert!(
        matches!(&states[2], ItemState::Done { count: 1, .. }),
        "{states:?}"
    );
    assert_eq!(
        states[4],
        ItemState::Failed {
            reason: "cannot express".into()
        }
    );
    for index in [1, 3] {
        assert_eq!(
            states[index],
            ItemState::Failed {
                reason: "unknown device".into()
            }
        );
    }
    // The worker's view of the chunk agrees with the listing's.
    let chunk: Vec<ItemState> = stores
        .batches()
        .chunk_items(&acme, &batch_id_of("b1"), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.state)
        .collect();
    assert_eq!(chunk, states);
    let codes = stores
        .codes()
        .list_codes(&query("ck_acme"))
        .await
        .unwrap()
        .items;
    assert_eq!(codes.len(), 2, "one code per issued item");
    assert!(codes.iter().all(|c| c.batch_id.as_deref() == Some("b1")));
}

/// A run of one device's batch items is one atomic step: all of it or
/// nothing, on the device's version and on the run not being settled.
async fn a_run_of_batch_codes_is_written_whole_or_not_at_all(stores: &Stores) {
    let device = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&device).await.unwrap();
    let total = u32::try_from(MAX_RUN).unwrap() + 20;
    let (batch, items) = new_batch("ck_acme", "b1", 1_800_000_000_000, total, None);
    stores.batches().create_batch(&batch, &items).await.unwrap();
    let acme = account_id("ck_acme");
    let (first, second) = (run_items(&items, 0), run_items(&items, 1));
    assert_eq!((first.len(), second.len()), (MAX_RUN, 20));
    let at = Timestamp::from_millis(1_800_000_001_000);
    let next = |read: &Device, run: &[BatchItem]| {
        moved(read, read.count + u32::try_from(run.len()).unwrap())
    };

    // The longest run fits one step.
    stores
        .codes()
        .record_code_run(
            &device,
            &next(&device, &first),
            &run_codes(&device, &first, "a"),
            &[],
            at,
        )
        .await
        .unwrap();
    let read = stores
        .devices()
        .get_device(&acme, &device.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read.count as usize, read.version),
        (MAX_RUN, device.version + 1),
        "the device moved once"
    );

    // On the old version: nothing of the run is written.
    let stale = run_codes(&device, &second, "b");
    assert_eq!(
        stores
            .codes()
            .record_code_run(&device, &next(&device, &second), &stale, &[], at)
            .await,
        Err(StoreError::Conflict)
    );
    let unchanged = stores
        .devices()
        .get_device(&acme, &device.serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, read);

    // Eight racers take the same next run: one wins it.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let codes = stores.codes();
            let (read, run) = (read.clone(), run_codes(&read, &second, &format!("r{i}")));
            let next = next(&read, &second);
            tokio::spawn(async move { codes.record_code_run(&read, &next, &run, &[], at).await })
        })
        .collect();
    let wins = wins_among(racers, &[StoreError::AlreadyExists, StoreError::Conflict]).await;
    assert_eq!(wins, 1);

    let stored = stores
        .batches()
        .get_batch(&acme, &batch_id_of("b1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.done, stored.failed, stored.status()),
        (total, 0, BatchStatus::Completed)
    );
    let done = stores
        .batches()
        .list_items(&acme, &batch_id_of("b1"), 0, total)
        .await
        .unwrap();
    assert_eq!(done.len(), total as usize);
    for (index, item) in done.iter().enumerate() {
        assert!(
            matches!(&item.state, ItemState::Done { count, .. } if *count as usize == index),
            "{index}: {:?}",
            item.state
        );
    }
    let mut all = query("ck_acme");
    all.limit = 200;
    let codes = stores.codes().list_codes(&all).await.unwrap();
    assert_eq!(codes.items.len(), total as usize, "one code per item");
    assert_eq!(codes.next, None);
}

/// The serials of every page `fetch` gives, each asked for after the one
/// before, checking no page is over `limit`.
async fn every_page<P, F, Fut>(limit: usize, mut fetch: F) -> Vec<String>
where
    F: FnMut(Option<P>) -> Fut,
    Fut: std::future::Future<Output = Result<domain::Page<Device, P>, StoreError>>,
{
    let mut listed = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = fetch(after.take()).await.unwrap();
        assert!(page.items.len() <= limit);
        listed.extend(page.items.iter().map(|d| d.serial.as_str().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => return listed,
        }
    }
    panic!("the listing never ended");
}

/// Lists `account`'s devices by expiry, page after page, as serials.
async fn expiring_serials(
    stores: &Stores,
    account: &AccountId,
    now: Timestamp,
    before: Timestamp,
    limit: usize,
) -> Vec<String> {
    every_page(limit, |after| {
        let devices = stores.devices();
        let query = ExpiryQuery {
            account: account.clone(),
            now,
            before,
            limit,
            after,
        };
        async move { devices.list_expiring(&query).await }
    })
    .await
}

async fn credit_moves_with_each_code_and_lists_devices_by_expiry(stores: &Stores) {
    let now = Timestamp::from_millis(1_800_000_000_000);
    let hours = |n: i64| now.plus_secs(n * 3_600);
    let acme = account_id("ck_acme");
    let mut ours = many_devices(stores, "ck_acme", 40).await;
    let mut theirs = many_devices(stores, "ck_other", 6).await;
    // Active until a few hours on, with ties; every fifth locked, one
    // unlocked, one run out already.
    let credit_of = |i: usize| -> Credit {
        let base = Credit::locked(now);
        match i {
            _ if i.is_multiple_of(5) => base,
            7 => base.after(CodeType::Unlock, 0, now),
            9 => base.after(CodeType::OneHour, 0, hours(-3)),
            _ => base.after(CodeType::AddTime, 0, now).after(
                CodeType::OneHour,
                0,
                hours(i64::try_from(i % 9).unwrap()),
            ),
        }
    };
    for (i, target) in ours.iter_mut().chain(theirs.iter_mut()).enumerate() {
        let advance = Advance {
            credit: credit_of(i % 40),
            ..moved(target, target.count + 1)
        };
        let code = code_for(target, &format!("c{i:03}"), now.millis(), CodeType::AddTime);
        stores
            .codes()
            .record_code(target, &advance, &code)
            .await
            .unwrap();
        target.credit = advance.credit;
        target.version += 1;
        let read = stores
            .devices()
            .get_device(&target.account, &target.serial)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            read.credit, advance.credit,
            "the credit moved with the code"
        );
    }
    let expected = |before: Timestamp, devices: &[Device]| -> Vec<String> {
        let mut active: Vec<(Timestamp, String)> = devices
            .iter()
            .filter(|d| d.credit.state == CreditState::Active)
            .filter_map(|d| d.credit.until.map(|u| (u, d.serial.as_str().to_owned())))
            .filter(|(until, _)| now < *until && *until < before)
            .collect();
        active.sort();
        active.into_iter().map(|(_, serial)| serial).collect()
    };
    for before in [hours(5), hours(9), Timestamp::MAX] {
        let want = expected(before, &ours);
        assert!(!want.is_empty());
        for limit in [1, 7, 100] {
            assert_eq!(
                expiring_serials(stores, &acme, now, before, limit).await,
                want,
                "before {before}, pages of {limit}"
            );
        }
    }
    // Nothing ends before it begins.
    assert!(expiring_serials(stores, &acme, now, now, 10)
        .await
        .is_empty());

    // A device that moves leaves its old place: locked, it is gone; given
    // more time, it is listed once, at its new place.
    let (ended, extended) = (1, 2);
    for (at, credit) in [
        (
            ended,
            ours[ended].credit.after(CodeType::CreditReset, 0, now),
        ),
        (
            extended,
            ours[extended].credit.after(CodeType::AddTime, 3, now),
        ),
    ] {
        let target = &mut ours[at];
        let code = code_for(
            target,
            &format!("m{at}"),
            now.millis() + 1,
            CodeType::AddTime,
        );
        let advance = Advance {
            credit,
            ..moved(target, target.count + 1)
        };
        stores
            .codes()
            .record_code(target, &advance, &code)
            .await
            .unwrap();
        target.credit = credit;
        target.version += 1;
    }
    let listed = expiring_serials(stores, &acme, now, Timestamp::MAX, 5).await;
    assert_eq!(listed, expected(Timestamp::MAX, &ours));
    assert!(!listed.contains(&ours[ended].serial.as_str().to_owned()));
    assert_eq!(
        listed.last(),
        Some(&ours[extended].serial.as_str().to_owned())
    );

    // A device registered with credit is listed from the start.
    let mut moved_in = device("ck_acme", "SN-MOVED", "openpaygo");
    moved_in.credit = Credit::locked(now).after(CodeType::OneMinute, 0, now);
    stores.devices().create_device(&moved_in).await.unwrap();
    assert_eq!(
        expiring_serials(stores, &acme, now, hours(0).plus_secs(61), 10).await,
        vec!["SN-MOVED".to_owned()]
    );
}

fn plan(rate: &str) -> PaymentPlan {
    PaymentPlan {
        currency: Currency::parse("currency", "KES").unwrap(),
        daily_rate: Amount::parse("dailyRate", rate).unwrap(),
        total_price: None,
        down_payment: Amount::ZERO,
        minimum_payment: Amount::ZERO,
    }
}

fn payment_of(device: &Device, reference: &str, paid_at: i64, id: &str) -> Payment {
    Payment {
        id: id.to_owned(),
        account: device.account.clone(),
        reference: PaymentReference::parse(reference).unwrap(),
        serial_num: device.serial.clone(),
        amount: Amount::parse("amount", "100").unwrap(),
        currency: Currency::parse("currency", "KES").unwrap(),
        paid_at: Timestamp::from_millis(paid_at),
        payer: Payer::default(),
        received_at: Timestamp::from_millis(paid_at + 5),
        code: None,
        reason: Some("test".into()),
        credit: device.credit,
        balance: Amount::ZERO,
        total_paid: Amount::ZERO,
    }
}

async fn read_back(stores: &Stores, device: &Device) -> Device {
    stores
        .devices()
        .get_device(&device.account, &device.serial)
        .await
        .unwrap()
        .unwrap()
}

async fn plans_are_set_on_the_devices_version(stores: &Stores) {
    let device = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&device).await.unwrap();
    stores
        .payments()
        .set_plan(&device, &plan("50"))
        .await
        .unwrap();
    let read = read_back(stores, &device).await;
    assert_eq!(
        (read.plan, read.version),
        (Some(plan("50")), device.version + 1)
    );
    // On the version it had before: refused, nothing written.
    assert_eq!(
        stores.payments().set_plan(&device, &plan("60")).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(read_back(stores, &device).await.plan, Some(plan("50")));
}

async fn a_payment_and_its_code_are_written_once_per_reference(stores: &Stores) {
    let mut device = device("ck_acme", "SN-1", "nexus_full");
    stores.devices().create_device(&device).await.unwrap();
    stores
        .payments()
        .set_plan(&device, &plan("50"))
        .await
        .unwrap();
    device = read_back(stores, &device).await;
    let paid = Paid {
        payments: Amount::parse("a", "100").unwrap(),
        balance: Amount::parse("b", "25").unwrap(),
    };
    let next = Advance {
        count: device.count + 1,
        credit: device.credit.after(
            CodeType::AddTime,
            1,
            Timestamp::from_millis(1_800_000_000_000),
        ),
        paid,
    };
    let code = code_for(&device, "c1", 1_800_000_000_000, CodeType::AddTime);
    let first = payment_of(&device, "REF-1", 1_800_000_000_000, "p1");
    stores
        .payments()
        .record_payment(&device, &next, Some(&code), &first)
        .await
        .unwrap();
    let moved_to = read_back(stores, &device).await;
    assert_eq!(
        (
            moved_to.count,
            moved_to.paid,
            moved_to.credit,
            moved_to.version
        ),
        (next.count, paid, next.credit, device.version + 1),
        "the device moved with the payment"
    );
    assert_eq!(
        stores
            .payments()
            .find_payment(&device.account, "REF-1")
            .await
            .unwrap(),
        Some(first.clone())
    );

    // The same reference again, on the device as it is now: refused whole.
    let again = payment_of(&moved_to, "REF-1", 1_800_000_000_500, "p2");
    let twin = code_for(&moved_to, "c2", 1_800_000_000_500, CodeType::AddTime);
    assert_eq!(
        stores
            .payments()
            .record_payment(
                &moved_to,
                &moved(&moved_to, moved_to.count + 1),
                Some(&twin),
                &again
            )
            .await,
        Err(StoreError::AlreadyExists)
    );
    // A new reference on the old version: refused whole too.
    let stale = payment_of(&device, "REF-2", 1_800_000_000_600, "p3");
    assert_eq!(
        stores
            .payments()
            .record_payment(&device, &next, None, &stale)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(read_back(stores, &device).await, moved_to);
    assert_eq!(
        stores
            .payments()
            .find_payment(&device.account, "REF-2")
            .await
            .unwrap(),
        None
    );
    // The payment's event went into the outbox with it; the refused ones
    // left none.
    assert!(crate::webhooks::in_outbox(stores, &first.received_event()).await);
    assert!(!crate::webhooks::in_outbox(stores, &again.received_event()).await);
    assert!(!crate::webhooks::in_outbox(stores, &stale.received_event()).await);
    let codes = stores
        .codes()
        .list_codes(&CodeQuery {
            account: device.account.clone(),
            serial: Some(device.serial.clone()),
            code_type: None,
            batch_id: None,
            created_from: Timestamp::MIN,
            created_to: Timestamp::MAX,
            order: SortOrder::Ascending,
            limit: 100,
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(codes.items, vec![code], "one code, the first payment's");

    // Eight deliveries of one new payment at once: one is recorded.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = stores.payments();
            let read = moved_to.clone();
            let payment = payment_of(&read, "REF-RACE", 1_800_000_001_000, &format!("r{i}"));
            let next = moved(&read, read.count);
            tokio::spawn(async move { store.record_payment(&read, &next, None, &payment).await })
        })
        .collect();
    let wins = wins_among(racers, &[StoreError::AlreadyExists, StoreError::Conflict]).await;
    assert_eq!(wins, 1);
}

async fn a_devices_payments_are_listed_by_paid_at_in_pages(stores: &Stores) {
    let mut ours = device("ck_acme", "SN-1", "nexus_full");
    let mut other_device = device("ck_acme", "SN-2", "nexus_full");
    let mut theirs = device("ck_other", "SN-1", "nexus_full");
    let base = 1_800_000_000_000;
    let mut expected = Vec::new();
    let mut also_ours = Vec::new();
    let ours_account = ours.account.clone();
    for target in [&mut ours, &mut other_device, &mut theirs] {
        stores.devices().create_device(target).await.unwrap();
    }
    for i in 0..25i64 {
        for (target, mine) in [
            (&mut ours, true),
            (&mut other_device, false),
            (&mut theirs, false),
        ] {
            // Out of order in time, with ties broken by id.
            let paid_at = base + ((i * 7) % 11) * 1000;
            let id = format!(
                "{}{i:03}",
                target.serial.as_str().to_lowercase().replace('-', "")
            );
            let payment = payment_of(
                target,
                &format!("R{}-{i}", target.serial.as_str()),
                paid_at,
                &id,
            );
            stores
                .payments()
                .record_payment(target, &moved(target, target.count), None, &payment)
                .await
                .unwrap();
            target.version += 1;
            match (mine, target.account == ours_account) {
                (true, _) => expected.push(payment),
                (false, true) => also_ours.push(payment),
                (false, false) => {}
            }
        }
    }
    expected.sort_by_key(Payment::position);
    let tenant_wide: Vec<String> = {
        let mut all: Vec<&Payment> = expected.iter().chain(also_ours.iter()).collect();
        all.sort_by_key(|p| p.position());
        all.iter().map(|p| p.id.clone()).collect()
    };
    for limit in [1, 7, 100] {
        let mut listed = Vec::new();
        let mut after = None;
        for _ in 0..100 {
            let page = stores
                .payments()
                .list_payments(&PaymentQuery {
                    account: ours.account.clone(),
                    serial: None,
                    from: Timestamp::MIN,
                    to: Timestamp::MAX,
                    limit,
                    after: after.take(),
                })
                .await
                .unwrap();
            listed.extend(page.items.iter().map(|p| p.id.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(
            listed, tenant_wide,
            "the tenant's payments in pages of {limit}"
        );
    }
    let query = |from: i64, to: i64, limit: usize, after: Option<PaymentPosition>| PaymentQuery {
        account: ours.account.clone(),
        serial: Some(ours.serial.clone()),
        from: Timestamp::from_millis(from),
        to: Timestamp::from_millis(to),
        limit,
        after,
    };
    for (from, to) in [(0, i64::MAX / 2), (base + 2000, base + 6000)] {
        let want: Vec<String> = expected
            .iter()
            .filter(|p| (from..=to).contains(&p.paid_at.millis()))
            .map(|p| p.id.clone())
            .collect();
        for limit in [1, 4, 100] {
            let mut listed = Vec::new();
            let mut after = None;
            for _ in 0..60 {
                let page = stores
                    .payments()
                    .list_payments(&query(from, to, limit, after.take()))
                    .await
                    .unwrap();
                assert!(page.items.len() <= limit);
                listed.extend(page.items.iter().map(|p| p.id.clone()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(listed, want, "{from}..{to} in pages of {limit}");
        }
    }
}

async fn a_devices_payments_are_found_in_the_order_they_were_taken(stores: &Stores) {
    let mut ours = device("ck_acme", "SN-1", "nexus_full");
    let mut other = device("ck_acme", "SN-2", "nexus_full");
    let mut theirs = device("ck_other", "SN-1", "nexus_full");
    for target in [&mut ours, &mut other, &mut theirs] {
        stores.devices().create_device(target).await.unwrap();
    }
    let base = 1_800_000_000_000;
    let mut taken = Vec::new();
    for i in 0..12i64 {
        for (target, mine) in [(&mut ours, true), (&mut other, false), (&mut theirs, false)] {
            // Paid in the reverse of the order they arrive in.
            let mut payment = payment_of(
                target,
                &format!("L{}-{i}", target.serial.as_str()),
                base - i * 1000,
                &format!("p{i:02}"),
            );
            payment.received_at = Timestamp::from_millis(base + (i / 2) * 1000);
            stores
                .payments()
                .record_payment(target, &moved(target, target.count), None, &payment)
                .await
                .unwrap();
            target.version += 1;
            if mine {
                taken.push(payment);
            }
        }
    }
    taken.sort_by_key(Payment::ledger_position);
    let ids = |found: &[Payment]| -> Vec<String> { found.iter().map(|p| p.id.clone()).collect() };
    let all = stores
        .payments()
        .ledger_payments(&ours.account, &ours.serial, None, 100)
        .await
        .unwrap();
    assert_eq!(ids(&all), ids(&taken));
    let after = taken[4].ledger_position();
    let rest = stores
        .payments()
        .ledger_payments(&ours.account, &ours.serial, Some(&after), 3)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ids(&taken[5..8]));
    assert_eq!(
        stores
            .payments()
            .payment_at_or_before(&ours.account, &ours.serial, &after)
            .await
            .unwrap()
            .map(|p| p.id),
        Some(taken[4].id.clone()),
        "the cursor's own payment counts"
    );
    let just_before = LedgerPosition {
        at: taken[4].received_at,
        id: "0".into(),
    };
    assert_eq!(
        stores
            .payments()
            .payment_at_or_before(&ours.account, &ours.serial, &just_before)
            .await
            .unwrap()
            .map(|p| p.id),
        taken[..4]
            .iter()
            .rev()
            .find(|p| p.ledger_position() < just_before)
            .map(|p| p.id.clone())
    );
    let first = LedgerPosition {
        at: Timestamp::MIN,
        id: "0".into(),
    };
    assert_eq!(
        stores
            .payments()
            .payment_at_or_before(&ours.account, &ours.serial, &first)
            .await
            .unwrap(),
        None
    );
}

on_both_stores!(
    a_devices_payments_are_found_in_the_order_they_were_taken,
    plans_are_set_on_the_devices_version,
    a_payment_and_its_code_are_written_once_per_reference,
    a_devices_payments_are_listed_by_paid_at_in_pages,
    credit_moves_with_each_code_and_lists_devices_by_expiry,
    batches_are_stored_found_by_key_and_listed_newest_first,
    a_batch_run_is_settled_exactly_once,
    a_run_of_batch_codes_is_written_whole_or_not_at_all,
    clients_are_created_once_and_read_back,
    public_keys_are_added_once,
    token_ids_are_single_use_until_they_expire,
    devices_are_created_once_read_back_and_listed_in_pages,
    recording_a_code_is_conditional_on_the_device_version,
    racing_writers_on_one_version_have_one_winner,
    concurrent_issues_on_one_device_get_distinct_counts,
    codes_are_filtered_sorted_and_paged,
    a_tenants_devices_are_listed_in_serial_order_across_shards,
    a_tenants_codes_are_one_timeline_across_shards,
);

/// `device` moved to `count`, its credit as it was.
fn moved(device: &Device, count: u32) -> Advance {
    Advance {
        count,
        credit: device.credit,
        paid: device.paid,
    }
}
