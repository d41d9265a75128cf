//! Codes in memory: the client-wide map and each device's index.

use super::*;

#[async_trait]
impl CodeStore for MemoryStore {
    async fn record_code(
        &self,
        device: &Device,
        next: &Advance,
        code: &CodeRecord,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.record_codes(device, next, std::slice::from_ref(code))?;
        state.append_event(code.issued_event());
        Ok(())
    }

    async fn record_code_run(
        &self,
        device: &Device,
        next: &Advance,
        issued: &[(CodeRecord, BatchItemRef)],
        refused: &[(BatchItemRef, String)],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        // Every check before any write, as one transaction would.
        for item in issued
            .iter()
            .map(|(_, item)| item)
            .chain(refused.iter().map(|(item, _)| item))
        {
            state.pending_item(item)?;
        }
        if !issued.is_empty() {
            let codes: Vec<CodeRecord> = issued.iter().map(|(code, _)| code.clone()).collect();
            state.record_codes(device, next, &codes)?;
        }
        for (code, item) in issued {
            state.pending_item(item)?.state = ItemState::Done {
                code_id: code.id.clone(),
                code: code.code.clone(),
                count: code.count,
            };
        }
        for (item, reason) in refused {
            state.pending_item(item)?.state = ItemState::Failed {
                reason: reason.clone(),
            };
        }
        if let Some(item) = issued
            .first()
            .map(|(_, item)| item)
            .or(refused.first().map(|(item, _)| item))
        {
            let count = |n: usize| u32::try_from(n).expect("a run is at most MAX_RUN items");
            state.count_on_batch(item, count(issued.len()), count(refused.len()), at);
        }
        Ok(())
    }

    async fn list_codes(
        &self,
        query: &CodeQuery,
    ) -> Result<Page<CodeRecord, CodePosition>, StoreError> {
        let state = self.lock();
        let at = |created_at: Timestamp, id: &str| {
            (
                query.account.clone(),
                CodePosition {
                    created_at,
                    id: id.to_owned(),
                },
            )
        };
        // Ids are alphanumeric, so "" and "~" bracket every id at an instant.
        let mut lower = Bound::Included(at(query.created_from, ""));
        let mut upper = Bound::Included(at(query.created_to, "~"));
        if let Some(after) = &query.after {
            let after = Bound::Excluded((query.account.clone(), after.clone()));
            match query.order {
                SortOrder::Ascending => lower = tighter(lower, after, true),
                SortOrder::Descending => upper = tighter(upper, after, false),
            }
        }
        if is_empty_range(&lower, &upper) {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let state = &*state;
        let range: Box<dyn DoubleEndedIterator<Item = &CodeRecord>> = match &query.serial {
            Some(serial) => {
                let of_device =
                    |bound: Bound<CodeKey>| bound.map(|(client, at)| (client, serial.clone(), at));
                Box::new(
                    state
                        .device_codes
                        .range((of_device(lower), of_device(upper)))
                        .filter_map(|(client, _, at)| {
                            state.codes.get(&(client.clone(), at.clone()))
                        }),
                )
            }
            None => Box::new(state.codes.range((lower, upper)).map(|(_, code)| code)),
        };
        let range = range.filter(|code| query.matches(code));
        let mut matching: Box<dyn Iterator<Item = &CodeRecord>> = match query.order {
            SortOrder::Ascending => Box::new(range),
            SortOrder::Descending => Box::new(range.rev()),
        };
        let items: Vec<CodeRecord> = matching.by_ref().take(query.limit).cloned().collect();
        let more = matching.next().is_some();
        Ok(Page::new(items, more, CodeRecord::position))
    }
}

type CodeKey = (AccountId, CodePosition);

/// The narrower of two bounds on the same side of a range.
fn tighter(current: Bound<CodeKey>, candidate: Bound<CodeKey>, is_lower: bool) -> Bound<CodeKey> {
    let value = |b: &Bound<CodeKey>| match b {
        Bound::Included(v) | Bound::Excluded(v) => v.clone(),
        Bound::Unbounded => unreachable!("listing bounds are always set"),
    };
    let (c, n) = (value(&current), value(&candidate));
    let candidate_is_tighter = if is_lower { n >= c } else { n <= c };
    if candidate_is_tighter {
        candidate
    } else {
        current
    }
}

/// `BTreeMap::range` panics on an inverted range; such a listing is empty.
fn is_empty_range(lower: &Bound<CodeKey>, upper: &Bound<CodeKey>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

impl State {
    /// One atomic step: every check passes before anything is written.
    pub(super) fn record_codes(
        &mut self,
        device: &Device,
        next: &Advance,
        codes: &[CodeRecord],
    ) -> Result<(), StoreError> {
        if codes.iter().any(|code| {
            self.codes
                .contains_key(&(code.account.clone(), code.position()))
        }) {
            return Err(StoreError::Conflict);
        }
        let stored = self
            .devices
            .get_mut(&(device.account.clone(), device.serial.clone()))
            .filter(|stored| stored.version == device.version)
            .ok_or(StoreError::Conflict)?;
        stored.count = next.count;
        stored.credit = next.credit;
        stored.paid = next.paid;
        stored.version += 1;
        for code in codes {
            self.device_codes.insert((
                code.account.clone(),
                code.serial_num.clone(),
                code.position(),
            ));
            self.codes
                .insert((code.account.clone(), code.position()), code.clone());
        }
        Ok(())
    }
}
