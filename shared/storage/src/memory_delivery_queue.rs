//! The delivery queue in process: jobs wait until their delay has passed
//! on the platform's clock (so a test's manual clock moves them), then the
//! local API's courier loop takes them.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use domain::clock::{Clock, Timestamp};
use domain::webhooks::DeliveryJob;
use domain::{DeliveryQueue, StoreError};

pub struct MemoryDeliveryQueue {
    waiting: Mutex<Vec<(Timestamp, DeliveryJob)>>,
    clock: Arc<dyn Clock>,
}

impl MemoryDeliveryQueue {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryDeliveryQueue {
            waiting: Mutex::new(Vec::new()),
            clock,
        }
    }

    /// Takes every job whose delay has passed, in the order they became
    /// visible.
    pub fn take_due(&self) -> Vec<DeliveryJob> {
        let now = self.clock.now();
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let (mut due, rest): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(at, _)| *at <= now);
        *waiting = rest;
        due.sort_by_key(|(at, _)| *at);
        due.into_iter().map(|(_, job)| job).collect()
    }

    /// How many jobs are waiting, due or not.
    pub fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl DeliveryQueue for MemoryDeliveryQueue {
    async fn enqueue(&self, job: &DeliveryJob, delay_secs: u32) -> Result<(), StoreError> {
        let visible_at = self.clock.now().plus_secs(i64::from(delay_secs.min(900)));
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((visible_at, job.clone()));
        Ok(())
    }
}
