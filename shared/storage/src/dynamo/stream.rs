//! The table's stream read through the DynamoDB Streams API, as the
//! event-source mapping reads it for the dispatcher Lambda: the local API
//! and the tests follow DynamoDB Local's own stream with it (feature
//! `streams`), so the outbox travels the same path as on AWS.

use std::collections::BTreeMap;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use domain::events::Event;
use domain::StoreError;

use crate::dynamo::{event_of_image, unavailable, DynamoStore};

/// A reader of the outbox items in one table's stream.
pub struct OutboxStream {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Each shard's next iterator; `None` once a closed shard is read out.
    shards: BTreeMap<String, Option<String>>,
    /// Where each shard goes on once the events of the last poll are
    /// handled.
    pending: BTreeMap<String, Option<String>>,
    /// How many stream records, of any kind, the last poll read: none
    /// means the reader had caught up with the table then.
    last_records: usize,
}

impl OutboxStream {
    /// Opens the stream of `store`'s table from its oldest record, turning
    /// the stream on first for a table made without one.
    pub async fn open(store: &DynamoStore, endpoint: Option<&str>) -> Result<Self, StoreError> {
        use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
        let described = store
            .client
            .describe_table()
            .table_name(store.table())
            .send()
            .await
            .map_err(unavailable)?;
        let mut arn = described.table.and_then(|t| t.latest_stream_arn);
        if arn.is_none() {
            let updated = store
                .client
                .update_table()
                .table_name(store.table())
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewImage)
                        .build()
                        .expect("stream spec has its flag"),
                )
                .send()
                .await
                .map_err(unavailable)?;
            arn = updated.table_description.and_then(|t| t.latest_stream_arn);
        }
        let stream_arn =
            arn.ok_or_else(|| StoreError::Unavailable("the table has no stream".into()))?;
        Ok(OutboxStream {
            client: aws_sdk_dynamodbstreams::Client::from_conf(
                aws_sdk_dynamodbstreams::config::Builder::from(
                    &crate::aws_config_for(endpoint, crate::StoreBudget::BACKGROUND).await,
                )
                .interceptor(RepairEmptyMaps)
                .build(),
            ),
            stream_arn,
            shards: BTreeMap::new(),
            pending: BTreeMap::new(),
            last_records: 0,
        })
    }

    async fn discover_shards(&mut self) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(unavailable)?;
        let shards = described
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.shards.contains_key(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(unavailable)?;
            self.shards.insert(id, iterator.shard_iterator);
        }
        Ok(())
    }

    /// The outbox events written since the last `commit`, in stream order
    /// per shard. Until `commit`, the next poll answers them again: a
    /// reader that stops before handling them loses none.
    pub async fn poll(&mut self) -> Result<Vec<Event>, StoreError> {
        self.discover_shards().await?;
        let mut events = Vec::new();
        self.pending.clear();
        self.last_records = 0;
        for (shard, iterator) in &self.shards {
            let Some(iterator) = iterator else { continue };
            let output = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .map_err(unavailable)?;
            let records = output.records.unwrap_or_default();
            self.last_records += records.len();
            for record in records {
                let image = record.dynamodb.and_then(|d| d.new_image);
                if let Some(image) = image {
                    if let Some(event) = event_of_image(image)? {
                        events.push(event);
                    }
                }
            }
            self.pending
                .insert(shard.clone(), output.next_shard_iterator);
        }
        Ok(events)
    }

    /// Whether the last `poll` read no stream record at all: the reader
    /// had caught up with every write committed before it.
    pub fn caught_up(&self) -> bool {
        self.last_records == 0
    }

    /// Moves past the events the last `poll` answered.
    pub fn commit(&mut self) {
        for (shard, next) in std::mem::take(&mut self.pending) {
            self.shards.insert(shard, next);
        }
    }
}

/// DynamoDB Local writes an empty map in a stream record as `{}` where
/// DynamoDB writes `{"M":{}}`, and the SDK refuses the whole page over it.
/// This puts the `M` back before the SDK reads the answer; against
/// DynamoDB it finds nothing to change.
#[derive(Debug)]
struct RepairEmptyMaps;

impl aws_sdk_dynamodbstreams::config::Intercept for RepairEmptyMaps {
    fn name(&self) -> &'static str {
        "RepairEmptyMaps"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodbstreams::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _components: &aws_sdk_dynamodbstreams::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodbstreams::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodbstreams::error::BoxError> {
        use aws_smithy_types::body::SdkBody;
        let body = std::mem::replace(context.response_mut().body_mut(), SdkBody::taken());
        *context.response_mut().body_mut() = SdkBody::from_body_1_x(RepairedBody::new(body));
        Ok(())
    }
}

type Collecting = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<bytes::Bytes, aws_sdk_dynamodbstreams::error::BoxError>,
            > + Send,
    >,
>;

/// The whole answer, read, repaired, and handed on as one frame.
struct RepairedBody {
    collecting: std::sync::Mutex<Option<Collecting>>,
}

impl RepairedBody {
    fn new(body: aws_smithy_types::body::SdkBody) -> Self {
        use http_body_util::BodyExt;
        let collecting: Collecting = Box::pin(async move {
            let bytes = body.collect().await?.to_bytes();
            Ok(bytes::Bytes::from(repair_empty_maps(&bytes)))
        });
        RepairedBody {
            collecting: std::sync::Mutex::new(Some(collecting)),
        }
    }
}

impl http_body::Body for RepairedBody {
    type Data = bytes::Bytes;
    type Error = aws_sdk_dynamodbstreams::error::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        let mut slot = self.collecting.lock().unwrap_or_else(|p| p.into_inner());
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        match future.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                *slot = None;
                Poll::Ready(Some(result.map(http_body::Frame::data)))
            }
        }
    }
}

/// `json` with every `{}` outside a string and not right after `"M":`
/// turned into `{"M":{}}`.
fn repair_empty_maps(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < json.len() {
        let byte = json[i];
        if in_string {
            out.push(byte);
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
            out.push(byte);
        } else if byte == b'{' && json.get(i + 1) == Some(&b'}') && !out.ends_with(b"\"M\":") {
            out.extend_from_slice(br#"{"M":{}}"#);
            i += 1;
        } else {
            out.push(byte);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::repair_empty_maps;

    #[test]
    fn only_empty_attribute_values_change() {
        let local = br#"{"a":{},"b":{"M":{}},"c":{"S":"{} \"{}\""},"d":{"M":{"e":{}}}}"#;
        let repaired = String::from_utf8(repair_empty_maps(local)).unwrap();
        assert_eq!(
            repaired,
            r#"{"a":{"M":{}},"b":{"M":{}},"c":{"S":"{} \"{}\""},"d":{"M":{"e":{"M":{}}}}}"#
        );
    }
}
