//! `BatchService`: accepting a batch, working its chunks, and reading results.

use super::*;

/// Digest of a request body for idempotency checks: SipHash-2-4 under a
/// fixed key, twice with different keys (a fingerprint, not a MAC).
fn digest(bytes: &[u8]) -> String {
    let a = keycode::siphash24(&[0x5a; 16], bytes);
    let b = keycode::siphash24(&[0xa5; 16], bytes);
    format!("{a:016x}{b:016x}")
}

pub struct BatchService {
    batches: Arc<dyn BatchStore>,
    queue: Arc<dyn ChunkQueue>,
    codes: Arc<CodesService>,
    clock: Arc<dyn Clock>,
}

impl BatchService {
    pub fn new(
        batches: Arc<dyn BatchStore>,
        queue: Arc<dyn ChunkQueue>,
        codes: Arc<CodesService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        BatchService {
            batches,
            queue,
            codes,
            clock,
        }
    }

    /// Validates every item, stores the batch and queues its chunks. A retry
    /// with the same `Idempotency-Key` and body answers the first batch (and
    /// queues its chunks again, which the worker makes harmless).
    pub async fn create(
        &self,
        account: &AccountId,
        body: &[u8],
        orders: Vec<CodeOrder>,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Batch, BatchError> {
        check_size(orders.len())?;
        let idempotency_key = idempotency_key.map(IdempotencyKey::as_str);
        let request_digest = digest(body);
        if let Some(key) = idempotency_key {
            if let Some(existing) = self.existing(account, key, &request_digest).await? {
                return Ok(existing);
            }
        }
        let now = self.clock.now();
        let chunk_of = plan_chunks(&orders);
        let batch = Batch {
            id: BatchId::generate(),
            account: account.clone(),
            total: u32::try_from(orders.len()).expect("bounded by MAX_BATCH_ITEMS"),
            done: 0,
            failed: 0,
            created_at: now,
            updated_at: now,
            idempotency_key: idempotency_key.map(str::to_owned),
            request_digest,
            chunks: chunk_of.iter().max().map_or(0, |last| last + 1),
        };
        let items: Vec<BatchItem> = orders
            .into_iter()
            .zip(chunk_of)
            .enumerate()
            .map(|(index, (order, chunk))| BatchItem {
                item: BatchItemRef {
                    account: account.clone(),
                    batch_id: batch.id.clone(),
                    index: u32::try_from(index).expect("bounded by MAX_BATCH_ITEMS"),
                    chunk,
                },
                order,
                state: ItemState::Pending,
            })
            .collect();
        match self.batches.create_batch(&batch, &items).await {
            Ok(()) => {}
            // Another request with the same key won the race.
            Err(StoreError::AlreadyExists) => {
                let key = idempotency_key.unwrap_or_default();
                return self
                    .existing(account, key, &batch.request_digest)
                    .await?
                    .ok_or(BatchError::Store(StoreError::Conflict));
            }
            Err(other) => return Err(BatchError::Store(other)),
        }
        self.enqueue(&chunks_of(&items)).await?;
        Ok(batch)
    }

    async fn existing(
        &self,
        account: &AccountId,
        key: &str,
        request_digest: &str,
    ) -> Result<Option<Batch>, BatchError> {
        let Some(batch) = self
            .batches
            .find_by_idempotency_key(account, key)
            .await
            .map_err(BatchError::Store)?
        else {
            return Ok(None);
        };
        if batch.created_at.plus_secs(KEY_TTL_SECS) <= self.clock.now() {
            // The key has expired; the request is a new one.
            return Ok(None);
        }
        if batch.request_digest != request_digest {
            return Err(BatchError::IdempotencyKeyReused);
        }
        if batch.status() == BatchStatus::Pending {
            // The first request may have died before queueing; queueing
            // again costs at most a duplicate delivery.
            let items = self.all_items(account, &batch.id).await?;
            self.enqueue(&chunks_of(&items)).await?;
        }
        Ok(Some(batch))
    }

    async fn enqueue(&self, chunks: &[Chunk]) -> Result<(), BatchError> {
        self.queue.send(chunks).await.map_err(BatchError::Store)
    }

    pub async fn get(&self, account: &AccountId, id: &BatchId) -> Result<Batch, BatchError> {
        self.batches
            .get_batch(account, id)
            .await
            .map_err(BatchError::Store)?
            .ok_or(BatchError::NotFound)
    }

    pub async fn list(
        &self,
        account: &AccountId,
        limit: usize,
        after: Option<&BatchPosition>,
    ) -> Result<Page<Batch, BatchPosition>, BatchError> {
        self.batches
            .list_batches(account, limit, after)
            .await
            .map_err(BatchError::Store)
    }

    /// The batch and a page of its results, in item order.
    pub async fn detail(
        &self,
        account: &AccountId,
        id: &BatchId,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<BatchPage, BatchError> {
        let batch = self.get(account, id).await?;
        // Checked after the batch is found: an unknown batch is a 404 whatever its paging.
        let limit = page_limit("limit", limit)?;
        let from = match cursor {
            None => 0,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| *n < batch.total)
                .ok_or_else(|| BatchError::InvalidField {
                    field: "cursor".into(),
                    reason: "is not a cursor this API handed out".into(),
                })?,
        };
        let count = u32::try_from(limit).expect("page sizes are small");
        let items = self
            .batches
            .list_items(account, id, from, count)
            .await
            .map_err(BatchError::Store)?;
        let next = from + count;
        Ok(BatchPage {
            next_cursor: (next < batch.total).then(|| next.to_string()),
            batch,
            items,
        })
    }

    /// Every item of the batch, in item order (for the CSV answer).
    pub async fn all_items(
        &self,
        account: &AccountId,
        id: &BatchId,
    ) -> Result<Vec<BatchItem>, BatchError> {
        let batch = self.get(account, id).await?;
        let mut all = Vec::with_capacity(batch.total as usize);
        while (all.len() as u32) < batch.total {
            let from = u32::try_from(all.len()).expect("bounded by MAX_BATCH_ITEMS");
            let items = self
                .batches
                .list_items(account, id, from, 1000)
                .await
                .map_err(BatchError::Store)?;
            if items.is_empty() {
                break;
            }
            all.extend(items);
        }
        Ok(all)
    }

    /// The worker's step: issue every pending item of the chunk. On the
    /// final delivery a chunk that still cannot finish marks its remaining
    /// items failed, so the batch shows what went to the dead-letter queue.
    pub async fn process_chunk(&self, chunk: &Chunk, final_attempt: bool) -> ChunkOutcome {
        let items = match self
            .batches
            .chunk_items(&chunk.account, &chunk.batch_id, &chunk.indices)
            .await
        {
            Ok(items) => items,
            Err(err) => return ChunkOutcome::Retry(err.to_string()),
        };
        let pending: Vec<&BatchItem> = items
            .iter()
            .filter(|i| i.state == ItemState::Pending)
            .collect();
        let mut transient: Option<String> = None;
        for run in device_runs(&pending) {
            if transient.is_none() {
                match self.issue_run(&chunk.account, &run).await {
                    Ok(()) => continue,
                    Err(reason) => transient = Some(reason),
                }
            }
            if final_attempt {
                let reason = transient.as_deref().unwrap_or_default();
                for item in &run {
                    self.give_up(&item.item, reason).await;
                }
            }
        }
        match transient {
            Some(reason) => ChunkOutcome::Retry(reason),
            None => ChunkOutcome::Finished,
        }
    }

    /// Issues one run of a device's items: `Ok` once each has its code or
    /// its failure recorded, `Err` with the reason when the rest must wait
    /// for another delivery.
    async fn issue_run(&self, account: &AccountId, run: &[&BatchItem]) -> Result<(), String> {
        let orders: Vec<(&BatchItemRef, &CodeOrder)> =
            run.iter().map(|i| (&i.item, &i.order)).collect();
        match self
            .codes
            .issue_run(account, &run[0].order.serial, &orders)
            .await
        {
            Ok(refused) => {
                for (item, why) in refused {
                    self.fail(&item, &why.to_string()).await?;
                }
                Ok(())
            }
            Err(CodesError::AlreadyIssued) => {
                for item in run {
                    self.issue_one(account, item).await?;
                }
                Ok(())
            }
            Err(err) => {
                self.settle(&run.iter().map(|i| &i.item).collect::<Vec<_>>(), err)
                    .await
            }
        }
    }

    /// One item on its own, after its run found another delivery at work.
    async fn issue_one(&self, account: &AccountId, item: &BatchItem) -> Result<(), String> {
        match self
            .codes
            .issue(account, &item.order, Some(&item.item))
            .await
        {
            Ok(_) | Err(CodesError::AlreadyIssued) => Ok(()),
            Err(err) => self.settle(&[&item.item], err).await,
        }
    }

    /// Records `err` as the outcome of `items` when retrying cannot change
    /// it; otherwise answers it as the reason to retry.
    async fn settle(&self, items: &[&BatchItemRef], err: CodesError) -> Result<(), String> {
        match err {
            CodesError::DeviceNotFound
            | CodesError::CannotExpress(_)
            | CodesError::InvalidField { .. } => {
                for item in items {
                    self.fail(item, &err.to_string()).await?;
                }
                Ok(())
            }
            other => Err(other.to_string()),
        }
    }

    async fn fail(&self, item: &BatchItemRef, reason: &str) -> Result<(), String> {
        let now = self.clock.now();
        match self.batches.fail_item(item, reason, now).await {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(other) => Err(other.to_string()),
        }
    }

    async fn give_up(&self, item: &BatchItemRef, reason: &str) {
        let reason = format!("dead-lettered after repeated failures: {reason}");
        if let Err(err) = self.fail(item, &reason).await {
            tracing::error!(batch = %item.batch_id, index = item.index, error = %err,
                "could not mark a dead-lettered item failed");
        }
    }
}

/// A chunk's pending items as runs of one device each, devices in serial
/// order, each device's items in index order and at most `MAX_RUN` to a
/// run.
fn device_runs<'a>(pending: &[&'a BatchItem]) -> Vec<Vec<&'a BatchItem>> {
    let mut pending = pending.to_vec();
    by_device(&mut pending, |&item| &item.order.serial)
        .flat_map(|device| device.chunks(MAX_RUN).map(<[&BatchItem]>::to_vec))
        .collect()
}

/// A batch holds 1-`MAX_BATCH_ITEMS` items.
pub fn check_size(items: usize) -> Result<(), BatchError> {
    if items == 0 || items > MAX_BATCH_ITEMS {
        Err(BatchError::WrongSize)
    } else {
        Ok(())
    }
}

/// The opaque cursor of a batch listing that continues after `position`.
pub fn batch_cursor(position: &BatchPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", position.created_at.millis(), position.id))
}

/// The position a batch listing cursor continues after.
pub fn decode_batch_cursor(cursor: &str) -> Result<BatchPosition, BatchError> {
    let bad = || BatchError::InvalidField {
        field: "cursor".into(),
        reason: "is not a cursor this API handed out".into(),
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (millis, id) = text.split_once('.').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    // Cursors name batches made here: letters and digits only.
    let id = BatchId::parse(id)
        .filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(bad)?;
    if Timestamp::from_millis(millis).millis() != millis {
        return Err(bad());
    }
    Ok(BatchPosition {
        created_at: Timestamp::from_millis(millis),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(total: u32, done: u32, failed: u32) -> Batch {
        Batch {
            id: BatchId::parse("b1").unwrap(),
            account: AccountId::parse("ck_test").unwrap(),
            total,
            done,
            failed,
            created_at: Timestamp::MIN,
            updated_at: Timestamp::MIN,
            idempotency_key: None,
            request_digest: String::new(),
            chunks: 1,
        }
    }

    #[test]
    fn status_follows_the_counts() {
        assert_eq!(batch(3, 0, 0).status(), BatchStatus::Pending);
        assert_eq!(batch(3, 1, 0).status(), BatchStatus::Running);
        assert_eq!(batch(3, 3, 0).status(), BatchStatus::Completed);
        assert_eq!(batch(3, 2, 1).status(), BatchStatus::CompletedWithErrors);
        assert_eq!(batch(3, 0, 3).status(), BatchStatus::Failed);
    }

    fn orders_over(devices: usize, items: usize) -> Vec<CodeOrder> {
        (0..items)
            .map(|i| CodeOrder {
                serial: SerialNumber::parse(&format!("D{:02}", i % devices)).unwrap(),
                code_type: keycode::CodeType::AddTime,
                arg: 1,
            })
            .collect()
    }

    #[test]
    fn chunks_cover_every_item_once_and_group_devices() {
        let orders = orders_over(5, 250);
        let chunk_of = plan_chunks(&orders);
        let account = AccountId::parse("ck_acme").unwrap();
        let items: Vec<BatchItem> = orders
            .iter()
            .zip(&chunk_of)
            .enumerate()
            .map(|(index, (order, &chunk))| BatchItem {
                item: BatchItemRef {
                    account: account.clone(),
                    batch_id: BatchId::parse("b1").unwrap(),
                    index: index as u32,
                    chunk,
                },
                order: order.clone(),
                state: ItemState::Pending,
            })
            .collect();
        let chunks = chunks_of(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.indices.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let mut every: Vec<u32> = chunks.iter().flat_map(|c| c.indices.clone()).collect();
        every.sort_unstable();
        assert_eq!(every, (0..250).collect::<Vec<_>>());
        // 50 items per device: D00 and D01 fill the first chunk, and so on.
        for (number, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.number as usize, number);
            assert!(chunk.indices.windows(2).all(|w| w[0] < w[1]));
            let devices: std::collections::BTreeSet<_> = chunk
                .indices
                .iter()
                .map(|&i| orders[i as usize].serial.clone())
                .collect();
            assert_eq!(devices.len(), if number < 2 { 2 } else { 1 }, "{devices:?}");
        }
    }

    #[test]
    fn a_device_is_never_split_between_chunks() {
        // 3 devices of 70 items: 70 + 70 > 100, so one device a chunk.
        let chunk_of = plan_chunks(&orders_over(3, 210));
        for device in 0..3 {
            let chunks: std::collections::BTreeSet<u32> =
                (device..210).step_by(3).map(|i| chunk_of[i]).collect();
            assert_eq!(chunks.len(), 1, "device {device} in {chunks:?}");
        }
        // One device of 250 items is one chunk; two small ones share one.
        let mut orders = orders_over(1, 250);
        orders.extend(orders_over(3, 3).into_iter().skip(1));
        let chunk_of = plan_chunks(&orders);
        assert!(chunk_of[..250].iter().all(|&c| c == 0));
        assert_eq!(chunk_of[250..], [1, 1]);
    }

    #[test]
    fn one_devices_items_run_in_index_order() {
        let orders = orders_over(2, 7);
        let account = AccountId::parse("ck_acme").unwrap();
        let items: Vec<BatchItem> = orders
            .iter()
            .enumerate()
            .map(|(index, order)| BatchItem {
                item: BatchItemRef {
                    account: account.clone(),
                    batch_id: BatchId::parse("b1").unwrap(),
                    index: index as u32,
                    chunk: 0,
                },
                order: order.clone(),
                state: ItemState::Pending,
            })
            .collect();
        let pending: Vec<&BatchItem> = items.iter().collect();
        let runs: Vec<Vec<u32>> = device_runs(&pending)
            .iter()
            .map(|run| run.iter().map(|i| i.item.index).collect())
            .collect();
        assert_eq!(runs, [vec![0, 2, 4, 6], vec![1, 3, 5]]);
    }
}
