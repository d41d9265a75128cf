//! The local stand-in for the outbox's transport: the table's stream and
//! the dispatcher Lambda, the delivery queue and the delivery Lambda, in
//! process. Over the memory store it follows the store's outbox; over
//! DynamoDB Local it reads the table's real stream, so both paths run the
//! same dispatcher and courier code as on AWS (`docs/delivery.md`).

use std::sync::Arc;
use std::time::Duration;

use domain::webhooks::{Courier, Dispatcher};
use storage::dynamo::stream::OutboxStream;
use storage::{DynamoStore, MemoryDeliveryQueue, MemoryStore};
use tokio::sync::Mutex;

/// Where the local dispatcher reads events from.
pub(crate) enum OutboxFeed {
    Memory {
        store: Arc<MemoryStore>,
        position: Mutex<usize>,
    },
    Dynamo {
        store: Arc<DynamoStore>,
        endpoint: Option<String>,
        stream: Mutex<Option<OutboxStream>>,
    },
}

/// How many outbox events one pass dispatches.
const EVENTS_PER_PASS: usize = 100;

/// How long a job whose store step failed waits before it comes back: the
/// local visibility timeout.
const RETRY_JOB_SECS: u32 = 1;

pub(crate) struct LocalWebhooks {
    pub(crate) feed: OutboxFeed,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) courier: Courier,
    pub(crate) queue: Arc<MemoryDeliveryQueue>,
}

impl LocalWebhooks {
    /// One pass: dispatch what the outbox gained, then attempt every job
    /// that is due. Answers how many events and jobs it handled.
    pub(crate) async fn run_once(&self) -> usize {
        let mut handled = self.dispatch_new().await;
        for job in self.queue.take_due() {
            handled += 1;
            if !webhook_delivery_function::handle_job(&self.courier, &job).await {
                let _ =
                    domain::DeliveryQueue::enqueue(self.queue.as_ref(), &job, RETRY_JOB_SECS).await;
            }
        }
        handled
    }

    async fn dispatch_new(&self) -> usize {
        match &self.feed {
            OutboxFeed::Memory { store, position } => {
                let mut position = position.lock().await;
                let (events, next) = store.outbox_after(*position, EVENTS_PER_PASS);
                match webhook_dispatcher_function::dispatch_all(&self.dispatcher, &events).await {
                    Ok(_) => {
                        *position = next;
                        events.len()
                    }
                    Err((index, err)) => {
                        tracing::warn!(error = %err, "dispatch stopped; the next pass resumes there");
                        *position += index;
                        index
                    }
                }
            }
            OutboxFeed::Dynamo {
                store,
                endpoint,
                stream,
            } => {
                let mut stream = stream.lock().await;
                if stream.is_none() {
                    match OutboxStream::open(store, endpoint.as_deref()).await {
                        Ok(opened) => *stream = Some(opened),
                        Err(err) => {
                            tracing::warn!(error = %err, "the table's stream is not readable yet");
                            return 0;
                        }
                    }
                }
                let Some(reader) = stream.as_mut() else {
                    return 0;
                };
                let events = match reader.poll().await {
                    Ok(events) => events,
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the table's stream failed");
                        return 0;
                    }
                };
                match webhook_dispatcher_function::dispatch_all(&self.dispatcher, &events).await {
                    Ok(_) => {
                        reader.commit();
                        events.len()
                    }
                    // The shard iterators stay where they were: the next
                    // pass reads these records again, as Lambda would.
                    Err((_, err)) => {
                        tracing::warn!(error = %err, "dispatch stopped; the stream hands the records again");
                        0
                    }
                }
            }
        }
    }

    /// Passes until one handles nothing: every event written so far is
    /// dispatched and every due attempt made.
    pub(crate) async fn settle(&self) {
        for _ in 0..100 {
            if self.run_once().await == 0 {
                return;
            }
        }
    }
}

pub(crate) async fn run_every(webhooks: Arc<LocalWebhooks>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        webhooks.run_once().await;
    }
}
