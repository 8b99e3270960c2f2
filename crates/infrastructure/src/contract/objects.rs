use bytes::Bytes;
use futures_util::StreamExt;
use portcullis_application::ports::{ByteStream, ObjectInfo, ObjectKey, ObjectStore, ObjectStoreError};
use std::sync::Arc;

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(format!("contract/{}/{name}", uuid::Uuid::new_v4().simple())).unwrap()
}

fn content(parts: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))))
}

async fn read(store: &Arc<dyn ObjectStore>, key: &ObjectKey) -> Vec<u8> {
    let mut stream = store.get(key).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

contract_suite! { $ object_store_contract for objects;

pub async fn put_then_get_round_trips_the_bytes(store: Arc<dyn ObjectStore>) {
    let k = key("report.pdf");
    let body = pattern(300_000);
    let parts: Vec<Vec<u8>> = body.chunks(7_001).map(<[u8]>::to_vec).collect();
    assert_eq!(store.put(&k, content(parts)).await.unwrap(), ObjectInfo { size: 300_000 });
    assert_eq!(read(&store, &k).await, body);
    assert_eq!(store.head(&k).await.unwrap(), Some(ObjectInfo { size: 300_000 }));
}

pub async fn empty_objects_exist(store: Arc<dyn ObjectStore>) {
    let k = key("empty");
    assert_eq!(store.put(&k, content(vec![])).await.unwrap(), ObjectInfo { size: 0 });
    assert_eq!(store.head(&k).await.unwrap(), Some(ObjectInfo { size: 0 }));
    assert!(read(&store, &k).await.is_empty());
}

pub async fn missing_objects_are_not_found(store: Arc<dyn ObjectStore>) {
    let k = key("missing");
    assert!(matches!(store.get(&k).await, Err(ObjectStoreError::NotFound)));
    assert_eq!(store.head(&k).await.unwrap(), None);
}

pub async fn a_put_replaces_the_whole_object(store: Arc<dyn ObjectStore>) {
    let k = key("replaced");
    store.put(&k, content(vec![pattern(50_000)])).await.unwrap();
    store.put(&k, content(vec![b"short".to_vec()])).await.unwrap();
    assert_eq!(read(&store, &k).await, b"short");
}

pub async fn a_failed_put_stores_nothing_and_keeps_the_previous_object(store: Arc<dyn ObjectStore>) {
    let failing = || -> ByteStream {
        Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from(pattern(10_000))),
            Err(std::io::Error::other("client went away")),
        ]))
    };
    let fresh = key("never");
    assert!(matches!(store.put(&fresh, failing()).await, Err(ObjectStoreError::Content(_))));
    assert_eq!(store.head(&fresh).await.unwrap(), None);

    let kept = key("kept");
    store.put(&kept, content(vec![b"first".to_vec()])).await.unwrap();
    assert!(store.put(&kept, failing()).await.is_err());
    assert_eq!(read(&store, &kept).await, b"first");
}

pub async fn delete_removes_and_is_idempotent(store: Arc<dyn ObjectStore>) {
    let k = key("deleted");
    store.put(&k, content(vec![b"x".to_vec()])).await.unwrap();
    store.delete(&k).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap(), None);
    assert!(matches!(store.get(&k).await, Err(ObjectStoreError::NotFound)));
    store.delete(&k).await.unwrap();
}

pub async fn concurrent_puts_to_different_keys_all_land(store: Arc<dyn ObjectStore>) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8u8 {
        let store = store.clone();
        tasks.spawn(async move {
            let k = key(&format!("parallel-{n}"));
            store.put(&k, content(vec![vec![n; 20_000]])).await.unwrap();
            (k, n)
        });
    }
    for (k, n) in tasks.join_all().await {
        assert_eq!(read(&store, &k).await, vec![n; 20_000]);
    }
}
}
