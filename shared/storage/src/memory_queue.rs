//! The chunk queue in process: the local API's worker task reads the other
//! end, and the functions that only work chunks hold a closed one.

use async_trait::async_trait;
use domain::batches::Chunk;
use domain::{ChunkQueue, StoreError};
use tokio::sync::mpsc;

/// An in-process queue; the local API's worker task reads the other end.
pub struct MemoryQueue {
    sender: mpsc::UnboundedSender<Chunk>,
}

impl MemoryQueue {
    pub fn new() -> (MemoryQueue, mpsc::UnboundedReceiver<Chunk>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (MemoryQueue { sender }, receiver)
    }

    /// A queue nobody reads: sending to it fails. For a service that only
    /// processes chunks and never queues any.
    pub fn closed() -> MemoryQueue {
        MemoryQueue::new().0
    }
}

#[async_trait]
impl ChunkQueue for MemoryQueue {
    async fn send(&self, chunks: &[Chunk]) -> Result<(), StoreError> {
        for chunk in chunks {
            self.sender
                .send(chunk.clone())
                .map_err(|_| StoreError::Unavailable("the local worker has stopped".into()))?;
        }
        Ok(())
    }
}
