use portcullis_application::ports::EphemeralStore;
use std::sync::Arc;
use time::Duration;

fn key() -> String {
    format!("case:{}", uuid::Uuid::new_v4().simple())
}

contract_suite! { $ ephemeral_store_contract for ephemeral;

pub async fn a_value_is_kept_replaced_and_taken_once(store: Arc<dyn EphemeralStore>) {
    let k = key();
    assert_eq!(store.get(&k).await.unwrap(), None);
    store.put(&k, b"first", Duration::minutes(5)).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(store.get(&k).await.unwrap().as_deref(), Some(&b"first"[..]), "get does not consume");
    store.put(&k, &[0, 255, 1], Duration::minutes(5)).await.unwrap();
    assert_eq!(store.take(&k).await.unwrap().as_deref(), Some(&[0u8, 255, 1][..]), "bytes, not text");
    assert_eq!(store.take(&k).await.unwrap(), None, "taken once");
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(store.get(&key()).await.unwrap(), None, "keys are separate");
}

pub async fn of_concurrent_takers_one_wins(store: Arc<dyn EphemeralStore>) {
    let k = key();
    store.put(&k, b"challenge", Duration::minutes(5)).await.unwrap();
    let takers = (0..8).map(|_| {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move { store.take(&k).await.unwrap() })
    });
    let mut won = 0;
    for t in takers {
        won += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(won, 1);
}

pub async fn values_expire(store: Arc<dyn EphemeralStore>) {
    let k = key();
    store.put(&k, b"short", Duration::milliseconds(100)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(store.take(&k).await.unwrap(), None);
}

}
