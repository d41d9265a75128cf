//! The SQS adapter against a local SQS-compatible server (moto, started by
//! the test command): batches of messages, redelivery after the visibility
//! timeout, the dead-letter redrive, and a batch carried end to end from
//! `POST /batch`'s queue to the worker's handler.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use api_types::biolite::batch::BatchRequest;
use api_types::biolite::devices::NewDeviceBody;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use domain::batches::{chunks_of, BatchStatus, Chunk};
use domain::clients::AccountId;
use domain::clock::SystemClock;
use domain::ChunkQueue;
use domain::{BatchService, CodesService};
use serde_json::json;
use storage::{sqs_client, MemoryStore, SqsQueue, StoreBudget, Stores};

async fn client() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var("SQS_ENDPOINT")
        .expect("SQS_ENDPOINT is not set: run scripts/test.sh, which starts a local SQS server");
    sqs_client(Some(&endpoint), StoreBudget::BACKGROUND).await
}

async fn queue(
    sqs: &aws_sdk_sqs::Client,
    visibility_secs: u32,
    redrive: Option<(&str, u32)>,
) -> String {
    let name = format!("q-{}", domain::random::random_hex(6));
    let mut request = sqs.create_queue().queue_name(name).attributes(
        QueueAttributeName::VisibilityTimeout,
        visibility_secs.to_string(),
    );
    if let Some((dlq_arn, max)) = redrive {
        request = request.attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max}).to_string(),
        );
    }
    request.send().await.unwrap().queue_url.unwrap()
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

fn chunks(n: u32) -> Vec<Chunk> {
    (0..n)
        .map(|i| Chunk {
            account: AccountId::parse("ck_sqs").unwrap(),
            batch_id: domain::ids::BatchId::parse("b1").unwrap(),
            number: i,
        })
        .collect()
}

#[tokio::test]
async fn chunks_arrive_once_each_and_come_back_after_the_visibility_timeout() {
    let sqs = client().await;
    let url = queue(&sqs, 1, None).await;
    let sent = chunks(25);
    SqsQueue::new(sqs.clone(), &url).send(&sent).await.unwrap();

    let mut received = Vec::new();
    for _ in 0..10 {
        let messages = receive(&sqs, &url).await;
        if messages.is_empty() {
            break;
        }
        received.extend(messages);
    }
    let bodies: BTreeSet<u32> = received
        .iter()
        .map(|m| {
            serde_json::from_str::<Chunk>(m.body().unwrap())
                .unwrap()
                .number
        })
        .collect();
    assert_eq!(received.len(), 25, "25 chunks in 3 SendMessageBatch calls");
    assert_eq!(bodies, sent.iter().map(|c| c.number).collect());

    // Delete all but one; the kept one is delivered again with a higher count.
    let kept = received[0].message_id().unwrap().to_owned();
    for message in &received[1..] {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(message.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = receive(&sqs, &url).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id(), Some(kept.as_str()));
    let count = again[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .unwrap();
    assert_eq!(count, "2");
}

#[tokio::test]
async fn a_message_received_too_often_moves_to_the_dead_letter_queue() {
    let sqs = client().await;
    let dlq = queue(&sqs, 30, None).await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    let url = queue(&sqs, 1, Some((&dlq_arn, 2))).await;
    SqsQueue::new(sqs.clone(), &url)
        .send(&chunks(1))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(receive(&sqs, &url).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert!(receive(&sqs, &url).await.is_empty(), "gone from the queue");
    let dead = receive(&sqs, &dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        serde_json::from_str::<Chunk>(dead[0].body().unwrap()).unwrap(),
        chunks(1)[0]
    );
}

#[tokio::test]
async fn a_batch_travels_through_sqs_to_the_worker_exactly_once() {
    let sqs = client().await;
    let url = queue(&sqs, 2, None).await;
    let stores = Stores::from(Arc::new(MemoryStore::new()));
    let account = AccountId::parse("ck_sqs").unwrap();
    let codes = Arc::new(CodesService::new(
        stores.devices(),
        stores.codes(),
        Arc::new(SystemClock),
    ));
    let device: NewDeviceBody =
        serde_json::from_value(json!({"serialNum": "N1", "protocol": "nexus_small"})).unwrap();
    codes
        .register_device(&account, device.into_command().unwrap())
        .await
        .unwrap();
    let queue = Arc::new(SqsQueue::new(sqs.clone(), &url));
    let batches = BatchService::new(
        stores.batches(),
        queue.clone(),
        codes,
        Arc::new(SystemClock),
    );
    let request: BatchRequest = serde_json::from_value(json!({
        "items": vec![json!({"serialNum": "N1", "codeType": "add_time", "arg": 1}); 250]
    }))
    .unwrap();
    let batch = batches
        .create(&account, b"body", request.into_orders().unwrap(), None)
        .await
        .unwrap();
    // Every chunk sent a second time: at-least-once delivery at its worst.
    queue.send(&chunks_of(&batch)).await.unwrap();

    // The event source mapping's loop: receive, invoke, delete what succeeded.
    for _ in 0..20 {
        let messages = receive(&sqs, &url).await;
        if messages.is_empty() {
            break;
        }
        let records = messages
            .iter()
            .map(|m| SqsMessage {
                message_id: m.message_id().map(str::to_owned),
                body: m.body().map(str::to_owned),
                attributes: [("ApproximateReceiveCount".to_owned(), "1".to_owned())].into(),
                ..Default::default()
            })
            .collect();
        let response = batch_worker_function::handle(&batches, SqsEvent { records }, 5).await;
        assert!(response.batch_item_failures.is_empty());
        for message in &messages {
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let done = batches.get(&account, &batch.id).await.unwrap();
    assert_eq!(
        (done.done, done.failed, done.status()),
        (250, 0, BatchStatus::Completed)
    );
    let serial = domain::devices::SerialNumber::parse("N1").unwrap();
    let device = stores
        .devices()
        .get_device(&account, &serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        device.count, 250,
        "six deliveries of three chunks, one code per item"
    );
}

/// The delivery queue on both adapters: a job comes out as it went in,
/// and not before its delay.
#[tokio::test]
async fn delivery_jobs_wait_out_their_delay_on_both_queues() {
    use domain::clock::{Clock, ManualClock};
    use domain::webhooks::DeliveryJob;
    use domain::DeliveryQueue;
    use storage::MemoryDeliveryQueue;

    let job = |n: u32| DeliveryJob {
        account: AccountId::parse("ck_sqs").unwrap(),
        delivery_id: format!("dlv_{n:024x}"),
        due_at: domain::clock::Timestamp::from_millis(1_800_000_000_000),
    };
    let sqs = client().await;
    let url = queue(&sqs, 30, None).await;
    let on_sqs = SqsQueue::new(sqs.clone(), &url);
    on_sqs.enqueue(&job(1), 0).await.unwrap();
    on_sqs.enqueue(&job(2), 2).await.unwrap();
    let now: Vec<DeliveryJob> = receive(&sqs, &url)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(now, vec![job(1)]);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let later: Vec<DeliveryJob> = receive(&sqs, &url)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(later, vec![job(2)]);

    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let in_memory = MemoryDeliveryQueue::new(clock.clone());
    in_memory.enqueue(&job(1), 0).await.unwrap();
    in_memory.enqueue(&job(2), 2).await.unwrap();
    assert_eq!(in_memory.take_due(), vec![job(1)]);
    assert!(in_memory.take_due().is_empty());
    clock.advance_secs(2);
    assert_eq!(in_memory.take_due(), vec![job(2)]);
    // No delay is longer than SQS's fifteen minutes.
    in_memory.enqueue(&job(3), 86_400).await.unwrap();
    clock.advance_secs(900);
    assert_eq!(in_memory.take_due(), vec![job(3)]);
}
