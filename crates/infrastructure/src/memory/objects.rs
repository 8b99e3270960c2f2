use super::lock;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::ports::{ByteStream, ObjectInfo, ObjectKey, ObjectStore, ObjectStoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Objects in a map. A put collects the whole content before it replaces the
/// entry, so a failed put leaves the previous object, as S3 does.
#[derive(Default)]
pub struct MemoryObjectStore(Mutex<HashMap<ObjectKey, Bytes>>);

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn put(&self, key: &ObjectKey, mut content: ByteStream) -> Result<ObjectInfo, ObjectStoreError> {
        let mut buffer = Vec::new();
        while let Some(chunk) = content.next().await {
            buffer.extend_from_slice(&chunk.map_err(|e| ObjectStoreError::Content(Cause::new(e)))?);
        }
        let size = buffer.len() as u64;
        lock(&self.0).insert(key.clone(), Bytes::from(buffer));
        Ok(ObjectInfo { size })
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, ObjectStoreError> {
        let bytes = lock(&self.0).get(key).cloned().ok_or(ObjectStoreError::NotFound)?;
        // Served in chunks, like the real stores, so readers cannot rely on one.
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
            .step_by(64 * 1024)
            .map(|at| Ok(bytes.slice(at..bytes.len().min(at + 64 * 1024))))
            .collect();
        Ok(Box::pin(futures_util::stream::iter(chunks)))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, ObjectStoreError> {
        Ok(lock(&self.0).get(key).map(|b| ObjectInfo { size: b.len() as u64 }))
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectStoreError> {
        lock(&self.0).remove(key);
        Ok(())
    }
}
