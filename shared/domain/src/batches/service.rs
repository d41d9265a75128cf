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
        let placements = plan_chunks(&orders);
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
            chunks: placements
                .iter()
                .map(|p| p.chunk)
                .max()
                .map_or(0, |last| last + 1),
        };
        let items: Vec<BatchItem> = orders
            .into_iter()
            .zip(placements)
            .enumerate()
            .map(|(index, (order, Placement { chunk, run }))| BatchItem {
                item: BatchItemRef {
                    account: account.clone(),
                    batch_id: batch.id.clone(),
                    index: u32::try_from(index).expect("bounded by MAX_BATCH_ITEMS"),
                    chunk,
                    run,
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
        self.enqueue(&chunks_of(&batch)).await?;
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
            self.enqueue(&chunks_of(&batch)).await?;
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

    /// Works one delivery of a chunk: settles each of its runs that is not
    /// settled yet. A transient failure stops the chunk and asks for it
    /// again; on the final attempt the runs still open are failed instead,
    /// so the batch finishes and says why.
    pub async fn process_chunk(&self, chunk: &Chunk, final_attempt: bool) -> ChunkOutcome {
        let items = match self
            .batches
            .chunk_items(&chunk.account, &chunk.batch_id, chunk.number)
            .await
        {
            Ok(items) => items,
            Err(err) => return ChunkOutcome::Retry(err.to_string()),
        };
        let mut transient: Option<String> = None;
        for run in open_runs(&items) {
            if transient.is_none() {
                match self.issue_run(&chunk.account, &run).await {
                    Ok(()) => continue,
                    Err(reason) => transient = Some(reason),
                }
            }
            if final_attempt {
                let reason = transient.as_deref().unwrap_or_default();
                self.give_up(&run, reason).await;
            }
        }
        if transient.is_none() || final_attempt {
            if let Err(err) = self.report_if_finished(chunk).await {
                // Asked again with the chunk: its runs are settled, so the
                // next delivery only asks this.
                return ChunkOutcome::Retry(err.to_string());
            }
        }
        match transient {
            Some(reason) => ChunkOutcome::Retry(reason),
            None => ChunkOutcome::Finished { items: items.len() },
        }
    }

    /// Writes `batch.completed` when this chunk's settling finished the
    /// batch. Every chunk asks once its runs are settled; the last to
    /// settle sees the batch finished (reads are consistent), and the
    /// store keeps the event once if several do.
    async fn report_if_finished(&self, chunk: &Chunk) -> Result<(), StoreError> {
        let Some(batch) = self
            .batches
            .get_batch(&chunk.account, &chunk.batch_id)
            .await?
        else {
            return Ok(());
        };
        if !batch.is_finished() {
            return Ok(());
        }
        match self
            .batches
            .record_completion(&batch, self.clock.now())
            .await
        {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Settles one run: its codes, or, when its device cannot take any
    /// (unknown device), every item failed with why. `Err` is a transient
    /// failure, with its reason.
    async fn issue_run(&self, account: &AccountId, run: &[&BatchItem]) -> Result<(), String> {
        let orders: Vec<(&BatchItemRef, &CodeOrder)> =
            run.iter().map(|i| (&i.item, &i.order)).collect();
        match self
            .codes
            .issue_run(account, &run[0].order.serial, &orders)
            .await
        {
            Ok(()) | Err(CodesError::AlreadyIssued) => Ok(()),
            Err(
                err @ (CodesError::DeviceNotFound
                | CodesError::CannotExpress(_)
                | CodesError::InvalidField { .. }),
            ) => self.fail_run(run, &err.to_string()).await,
            Err(other) => Err(other.to_string()),
        }
    }

    async fn fail_run(&self, run: &[&BatchItem], reason: &str) -> Result<(), String> {
        let items: Vec<BatchItemRef> = run.iter().map(|i| i.item.clone()).collect();
        match self
            .batches
            .fail_run(&items, reason, self.clock.now())
            .await
        {
            Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(other) => Err(other.to_string()),
        }
    }

    async fn give_up(&self, run: &[&BatchItem], reason: &str) {
        let reason = format!("dead-lettered after repeated failures: {reason}");
        if let Err(err) = self.fail_run(run, &reason).await {
            let first = &run[0].item;
            tracing::error!(batch = %first.batch_id, chunk = first.chunk, run = first.run,
                error = %err, "could not mark a dead-lettered run failed");
        }
    }
}

/// A chunk's runs that are not settled yet, in run order, each run's items
/// in index order. A run is settled whole, so one pending item means the
/// whole run is open.
fn open_runs(items: &[BatchItem]) -> Vec<Vec<&BatchItem>> {
    let mut pending: Vec<&BatchItem> = items
        .iter()
        .filter(|i| i.state == ItemState::Pending)
        .collect();
    pending.sort_by_key(|i| (i.item.run, i.item.index));
    pending
        .chunk_by(|a, b| a.item.run == b.item.run)
        .map(<[&BatchItem]>::to_vec)
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

    /// The items of `orders` as `create` stores them.
    fn placed(orders: &[CodeOrder]) -> Vec<BatchItem> {
        let account = AccountId::parse("ck_acme").unwrap();
        orders
            .iter()
            .zip(plan_chunks(orders))
            .enumerate()
            .map(|(index, (order, Placement { chunk, run }))| BatchItem {
                item: BatchItemRef {
                    account: account.clone(),
                    batch_id: BatchId::parse("b1").unwrap(),
                    index: index as u32,
                    chunk,
                    run,
                },
                order: order.clone(),
                state: ItemState::Pending,
            })
            .collect()
    }

    fn indices_of_chunk(items: &[BatchItem], chunk: u32) -> Vec<u32> {
        items
            .iter()
            .filter(|i| i.item.chunk == chunk)
            .map(|i| i.item.index)
            .collect()
    }

    #[test]
    fn chunks_cover_every_item_once_and_group_devices() {
        let orders = orders_over(5, 250);
        let items = placed(&orders);
        let chunks: std::collections::BTreeSet<u32> = items.iter().map(|i| i.item.chunk).collect();
        assert_eq!(chunks, (0..3).collect());
        let sizes: Vec<usize> = (0..3).map(|c| indices_of_chunk(&items, c).len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        // 50 items per device: D00 and D01 fill the first chunk, and so on.
        for number in 0..3 {
            let devices: std::collections::BTreeSet<_> = indices_of_chunk(&items, number)
                .iter()
                .map(|&i| orders[i as usize].serial.clone())
                .collect();
            assert_eq!(devices.len(), if number < 2 { 2 } else { 1 }, "{devices:?}");
        }
    }

    #[test]
    fn a_device_is_never_split_between_chunks() {
        // 3 devices of 70 items: 70 + 70 > 100, so one device a chunk.
        let placements = plan_chunks(&orders_over(3, 210));
        for device in 0..3 {
            let chunks: std::collections::BTreeSet<u32> = (device..210)
                .step_by(3)
                .map(|i| placements[i].chunk)
                .collect();
            assert_eq!(chunks.len(), 1, "device {device} in {chunks:?}");
        }
        // One device of 250 items is one chunk; two small ones share one.
        let mut orders = orders_over(1, 250);
        orders.extend(orders_over(3, 3).into_iter().skip(1));
        let chunk_of: Vec<u32> = plan_chunks(&orders).iter().map(|p| p.chunk).collect();
        assert!(chunk_of[..250].iter().all(|&c| c == 0));
        assert_eq!(chunk_of[250..], [1, 1]);
    }

    #[test]
    fn runs_are_one_devices_items_in_index_order_at_most_max_run_long() {
        let items = placed(&orders_over(2, 7));
        let pending: Vec<Vec<u32>> = open_runs(&items)
            .iter()
            .map(|run| run.iter().map(|i| i.item.index).collect())
            .collect();
        assert_eq!(pending, [vec![0, 2, 4, 6], vec![1, 3, 5]]);

        // One device of 250 items: runs of MAX_RUN, then the rest.
        let items = placed(&orders_over(1, 250));
        let lengths: Vec<usize> = open_runs(&items).iter().map(Vec::len).collect();
        assert_eq!(lengths, [MAX_RUN, MAX_RUN, 250 - 2 * MAX_RUN]);
        // Run numbers start again in each chunk.
        let items = placed(&orders_over(3, 210));
        for chunk in 0..3 {
            let runs: std::collections::BTreeSet<u32> = items
                .iter()
                .filter(|i| i.item.chunk == chunk)
                .map(|i| i.item.run)
                .collect();
            assert_eq!(runs, [0].into());
        }
    }

    #[test]
    fn a_settled_run_is_not_worked_again() {
        let mut items = placed(&orders_over(2, 7));
        for item in items.iter_mut().filter(|i| i.item.run == 0) {
            item.state = ItemState::Failed {
                reason: "no such device".into(),
            };
        }
        let open: Vec<Vec<u32>> = open_runs(&items)
            .iter()
            .map(|run| run.iter().map(|i| i.item.index).collect())
            .collect();
        assert_eq!(open, [vec![1, 3, 5]]);
    }
}
