//! One listing page read from several partitions at once and merged in
//! sort-key order: a tenant's devices and codes are spread over index
//! shards (`docs/storage.md`), and a page must still be one ordered,
//! complete slice of them.
//!
//! Every shard is read in its own order and buffered. An item is emitted
//! only when no shard could still hold an earlier one: a shard whose buffer
//! is empty and that has not been read to the end blocks until it is read
//! further, unless what it has been read up to already lies past the
//! candidate. So the merge is exact whatever the spread of items, and a
//! page that runs out of its query budget ends at a position before which
//! every item of every shard has been emitted.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::types::AttributeValue;
use domain::StoreError;
use futures_util::future::try_join_all;

use crate::dynamo::{unavailable, DynamoStore, Item, MAX_QUERIES_PER_PAGE};

/// The sort-key range every shard is read over.
pub(crate) enum SortRange {
    Any,
    /// Strictly after this key (ascending reads only).
    After(String),
    /// Inclusive bounds.
    Between(String, String),
}

pub(crate) struct MergedQuery {
    /// `None` for the table itself.
    pub(crate) index: Option<&'static str>,
    pub(crate) partition_attribute: &'static str,
    pub(crate) sort_attribute: &'static str,
    pub(crate) partitions: Vec<String>,
    pub(crate) range: SortRange,
    /// An item with exactly this sort key is left out: the cursor's own
    /// item, when the range starts at it.
    pub(crate) skip: Option<String>,
    pub(crate) filter: Option<String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    pub(crate) ascending: bool,
    pub(crate) limit: usize,
}

pub(crate) struct MergedPage {
    /// The page's items, in order.
    pub(crate) items: Vec<Item>,
    /// The sort key to resume after, when anything may follow.
    pub(crate) resume_after: Option<String>,
}

/// A shard's first read takes a fair share of the page with some room;
/// each further read of the same shard doubles, up to this.
const MAX_READ: usize = 256;

struct Shard {
    partition: String,
    buffer: VecDeque<(String, Item)>,
    start: Option<Item>,
    /// The sort key this shard has been read up to; `None` before its
    /// first read.
    read_up_to: Option<String>,
    finished: bool,
    next_read: usize,
}

impl DynamoStore {
    pub(crate) async fn merged_page(&self, query: MergedQuery) -> Result<MergedPage, StoreError> {
        let first_read = (query.limit.div_ceil(query.partitions.len().max(1)) + 2).max(4);
        let mut shards: Vec<Shard> = query
            .partitions
            .iter()
            .map(|partition| Shard {
                partition: partition.clone(),
                buffer: VecDeque::new(),
                start: None,
                read_up_to: None,
                finished: false,
                next_read: first_read,
            })
            .collect();
        let earlier = |a: &str, b: &str| if query.ascending { a < b } else { a > b };
        let mut items = Vec::new();
        let mut last_emitted: Option<String> = None;
        let mut rounds = 0;
        loop {
            if items.len() == query.limit {
                let more = shards
                    .iter()
                    .any(|shard| !shard.finished || !shard.buffer.is_empty());
                return Ok(MergedPage {
                    items,
                    resume_after: last_emitted.filter(|_| more),
                });
            }
            let candidate = shards
                .iter()
                .enumerate()
                .filter_map(|(at, shard)| shard.buffer.front().map(|(key, _)| (at, key)))
                .reduce(|best, next| if earlier(next.1, best.1) { next } else { best })
                .map(|(at, key)| (at, key.clone()));
            let blockers: Vec<usize> = shards
                .iter()
                .enumerate()
                .filter(|(_, shard)| {
                    !shard.finished
                        && shard.buffer.is_empty()
                        && match (&shard.read_up_to, &candidate) {
                            (Some(up_to), Some((_, key))) => earlier(up_to, key),
                            _ => true,
                        }
                })
                .map(|(at, _)| at)
                .collect();
            if blockers.is_empty() {
                let Some((at, _)) = candidate else {
                    return Ok(MergedPage {
                        items,
                        resume_after: None,
                    });
                };
                let (key, item) = shards[at]
                    .buffer
                    .pop_front()
                    .expect("candidate is buffered");
                items.push(item);
                last_emitted = Some(key);
                continue;
            }
            if rounds == MAX_QUERIES_PER_PAGE {
                // Everything before the least-read blocker has been seen in
                // every shard, and nothing buffered lies before it.
                let resume_after = blockers
                    .iter()
                    .filter_map(|&at| shards[at].read_up_to.clone())
                    .reduce(|a, b| if earlier(&b, &a) { b } else { a });
                return Ok(MergedPage {
                    items,
                    resume_after,
                });
            }
            rounds += 1;
            let reads = blockers
                .iter()
                .map(|&at| self.read_shard(&query, &shards[at]));
            for (at, (found, last_evaluated)) in blockers.iter().zip(try_join_all(reads).await?) {
                let shard = &mut shards[*at];
                shard.next_read = (shard.next_read * 2).min(MAX_READ);
                shard.buffer.extend(
                    found
                        .into_iter()
                        .filter(|(key, _)| query.skip.as_ref() != Some(key)),
                );
                match last_evaluated {
                    Some(key) => {
                        shard.read_up_to = Some(sort_key_of(&key, query.sort_attribute)?);
                        shard.start = Some(key);
                    }
                    None => shard.finished = true,
                }
            }
        }
    }

    async fn read_shard(
        &self,
        query: &MergedQuery,
        shard: &Shard,
    ) -> Result<(Vec<(String, Item)>, Option<Item>), StoreError> {
        let (pk, sk) = (query.partition_attribute, query.sort_attribute);
        let mut values = query.values.clone();
        values.insert(":pk".into(), AttributeValue::S(shard.partition.clone()));
        let condition = match &query.range {
            SortRange::Any => format!("{pk} = :pk"),
            SortRange::After(after) => {
                values.insert(":after".into(), AttributeValue::S(after.clone()));
                format!("{pk} = :pk AND {sk} > :after")
            }
            SortRange::Between(lowest, highest) => {
                values.insert(":lowest".into(), AttributeValue::S(lowest.clone()));
                values.insert(":highest".into(), AttributeValue::S(highest.clone()));
                format!("{pk} = :pk AND {sk} BETWEEN :lowest AND :highest")
            }
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(str::to_owned))
            .key_condition_expression(condition)
            .set_filter_expression(query.filter.clone())
            .set_expression_attribute_values(Some(values))
            .set_exclusive_start_key(shard.start.clone())
            .scan_index_forward(query.ascending)
            .limit(i32::try_from(shard.next_read).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let found = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok((sort_key_of(&item, sk)?, item)))
            .collect::<Result<_, StoreError>>()?;
        Ok((found, output.last_evaluated_key))
    }
}

fn sort_key_of(item: &Item, attribute: &str) -> Result<String, StoreError> {
    match item.get(attribute) {
        Some(AttributeValue::S(key)) => Ok(key.clone()),
        _ => Err(StoreError::Corrupt(format!("an item without {attribute}"))),
    }
}
