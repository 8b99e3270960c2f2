//! Objects as files under `UPLOAD_DIR`. The key (generated, validated by
//! [`ObjectKey`]) is the relative path. A put streams into a temporary file
//! beside the target and renames it into place, so readers never see half an
//! object and a failed put leaves the previous one.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::ports::{ByteStream, ObjectInfo, ObjectKey, ObjectStore, ObjectStoreError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

pub struct LocalDiskStore {
    root: PathBuf,
}

impl LocalDiskStore {
    /// Creates `root` when it does not exist.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, ObjectStoreError> {
        let root = root.into();
        tokio::fs::create_dir_all(&root).await.map_err(unavailable)?;
        Ok(Self { root })
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

fn unavailable(e: std::io::Error) -> ObjectStoreError {
    ObjectStoreError::Unavailable(Cause::context("local disk", e))
}

async fn write_all(path: &Path, mut content: ByteStream) -> Result<u64, ObjectStoreError> {
    let mut file = tokio::fs::File::create(path).await.map_err(unavailable)?;
    let mut size = 0u64;
    while let Some(chunk) = content.next().await {
        let chunk = chunk.map_err(|e| ObjectStoreError::Content(Cause::new(e)))?;
        file.write_all(&chunk).await.map_err(unavailable)?;
        size += chunk.len() as u64;
    }
    file.sync_all().await.map_err(unavailable)?;
    Ok(size)
}

#[async_trait]
impl ObjectStore for LocalDiskStore {
    async fn put(&self, key: &ObjectKey, content: ByteStream) -> Result<ObjectInfo, ObjectStoreError> {
        let target = self.path(key);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(unavailable)?;
        }
        let temporary = target.with_file_name(format!(".partial-{}", uuid::Uuid::new_v4().simple()));
        match write_all(&temporary, content).await {
            Ok(size) => {
                tokio::fs::rename(&temporary, &target).await.map_err(unavailable)?;
                Ok(ObjectInfo { size })
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&temporary).await;
                Err(e)
            }
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, ObjectStoreError> {
        let file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(ObjectStoreError::NotFound),
            Err(e) => return Err(unavailable(e)),
        };
        let stream = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buffer = vec![0u8; CHUNK];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Bytes::from(buffer)), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Box::pin(stream))
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, ObjectStoreError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo { size: meta.len() })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectStoreError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(unavailable(e)),
            _ => Ok(()),
        }
    }
}

/// The object-store contract on a fresh directory (no service needed, so it
/// runs with the in-memory suites).
#[cfg(test)]
mod contract_tests {
    use super::*;
    use std::sync::Arc;

    struct RemoveOnDrop(PathBuf);

    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    object_store_contract!(async {
        let root = std::env::temp_dir().join(format!("portcullis-objects-{}", uuid::Uuid::new_v4().simple()));
        let store = LocalDiskStore::open(&root).await.unwrap();
        (Arc::new(store) as Arc<dyn ObjectStore>, RemoveOnDrop(root))
    });

    #[tokio::test]
    async fn no_partial_file_is_left_behind() {
        let root = std::env::temp_dir().join(format!("portcullis-objects-{}", uuid::Uuid::new_v4().simple()));
        let _cleanup = RemoveOnDrop(root.clone());
        let store = LocalDiskStore::open(&root).await.unwrap();
        let key = ObjectKey::new("a/b").unwrap();
        let failing: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"half")),
            Err(std::io::Error::other("gone")),
        ]));
        assert!(store.put(&key, failing).await.is_err());
        let left: Vec<_> = std::fs::read_dir(root.join("a")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
