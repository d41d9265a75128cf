//! A batch's chunks worked at once, on both adapters: each item is issued
//! exactly once and the batch's counts are exact, with no record that all
//! chunks write (`docs/storage.md`).

use std::sync::Arc;

use api_tests::on_both_stores;
use async_trait::async_trait;
use domain::batches::{chunks_of, Batch, BatchStatus, Chunk, ChunkOutcome, ItemState, CHUNK_SIZE};
use domain::clients::AccountId;
use domain::clock::{SystemClock, Timestamp};
use domain::codes::CodeOrder;
use domain::devices::{NewDevice, ProtocolName, SerialNumber};
use domain::events::EventType;
use domain::ids::BatchId;
use domain::{BatchService, ChunkQueue, CodesService, StoreError};
use keycode::CodeType;
use storage::Stores;

use crate::webhooks::outbox_with_id;

/// How many chunks race: one device each, so only the batch is shared.
const CHUNKS: u32 = 16;

struct Discard;

#[async_trait]
impl ChunkQueue for Discard {
    async fn send(&self, _chunks: &[Chunk]) -> Result<(), StoreError> {
        Ok(())
    }
}

fn serial(chunk: u32) -> SerialNumber {
    SerialNumber::parse(&format!("RACE-{chunk:02}")).unwrap()
}

async fn racing_chunks_of_one_batch_count_every_item_once(stores: &Stores) {
    let account = AccountId::parse("ck_chunks").unwrap();
    let codes = Arc::new(CodesService::new(
        stores.devices(),
        stores.codes(),
        Arc::new(SystemClock),
    ));
    for chunk in 0..CHUNKS {
        let device = NewDevice {
            serial: serial(chunk),
            protocol: ProtocolName::NexusFull,
            extended: None,
            restricted_digit_set: None,
            time_divider: None,
            secret_key: Some("bc41ec9530f6dac86b1a29ab82edc5fb".into()),
            starting_code: None,
            count: None,
            credit: None,
        };
        codes.register_device(&account, device).await.unwrap();
    }
    let batches = Arc::new(BatchService::new(
        stores.batches(),
        Arc::new(Discard),
        codes,
        Arc::new(SystemClock),
    ));
    // Item i belongs to chunk i / CHUNK_SIZE, whose device it codes.
    let orders: Vec<CodeOrder> = (0..CHUNKS * CHUNK_SIZE)
        .map(|i| CodeOrder {
            serial: serial(i / CHUNK_SIZE),
            code_type: CodeType::AddTime,
            arg: 1,
        })
        .collect();
    let batch = batches
        .create(&account, b"race", orders, None)
        .await
        .unwrap();
    let chunks = chunks_of(&batch);
    assert_eq!(chunks.len(), CHUNKS as usize);

    let workers: Vec<_> = chunks
        .clone()
        .into_iter()
        .map(|chunk| {
            let batches = batches.clone();
            tokio::spawn(async move { batches.process_chunk(&chunk, false).await })
        })
        .collect();
    for worker in workers {
        assert_eq!(
            worker.await.unwrap(),
            ChunkOutcome::Finished {
                items: CHUNK_SIZE as usize
            }
        );
    }

    let finished = batches.get(&account, &batch.id).await.unwrap();
    assert_eq!(
        (finished.done, finished.failed),
        (CHUNKS * CHUNK_SIZE, 0),
        "counts are not exact"
    );
    assert_eq!(finished.status(), BatchStatus::Completed);
    let items = batches.all_items(&account, &batch.id).await.unwrap();
    assert_eq!(items.len(), (CHUNKS * CHUNK_SIZE) as usize);
    let mut issued = std::collections::BTreeSet::new();
    for item in &items {
        match &item.state {
            ItemState::Done { code_id, .. } => assert!(issued.insert(code_id.clone())),
            other => panic!("item {} is {other:?}", item.item.index),
        }
    }
    for chunk in 0..CHUNKS {
        let device = stores
            .devices()
            .get_device(&account, &serial(chunk))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            device.count, CHUNK_SIZE,
            "device {chunk} was not coded once per item"
        );
    }

    // A redelivered chunk changes nothing, counts included.
    let again = chunks[3].clone();
    assert_eq!(
        batches.process_chunk(&again, false).await,
        ChunkOutcome::Finished {
            items: CHUNK_SIZE as usize
        }
    );
    let after = batches.get(&account, &batch.id).await.unwrap();
    assert_eq!((after.done, after.failed), (CHUNKS * CHUNK_SIZE, 0));

    // However many chunks saw the batch finished, it completed once.
    let completed = after.completed_event(Timestamp::from_millis(0));
    let told = outbox_with_id(stores, &completed.id).await;
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(
        (told[0].event_type, told[0].subject.as_str()),
        (EventType::BatchCompleted, batch.id.as_str())
    );
}

/// `record_completion` writes the event once, races included.
async fn a_batch_completes_once(stores: &Stores) {
    let account = AccountId::parse("ck_completes").unwrap();
    let batch = Batch {
        id: BatchId::generate(),
        account: account.clone(),
        total: 1,
        done: 1,
        failed: 0,
        created_at: Timestamp::from_millis(1_000),
        updated_at: Timestamp::from_millis(1_000),
        idempotency_key: None,
        request_digest: String::new(),
        chunks: 1,
    };
    let at = Timestamp::from_millis(2_000);
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, batch) = (stores.batches(), batch.clone());
            tokio::spawn(async move { store.record_completion(&batch, at).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::AlreadyExists) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(
        stores.batches().record_completion(&batch, at).await,
        Err(StoreError::AlreadyExists)
    );
    let told = outbox_with_id(stores, &batch.completed_event(at).id).await;
    assert_eq!(told, vec![batch.completed_event(at)]);
}

on_both_stores!(
    racing_chunks_of_one_batch_count_every_item_once,
    a_batch_completes_once,
);
