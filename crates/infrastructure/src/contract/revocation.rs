use portcullis_application::ports::{CacheAnswer, RevocationList};
use std::sync::Arc;
use time::Duration;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

contract_suite! { $ revocation_list_contract for revocation;

/// A new (or restarted, emptied) cache says Cold until it is warmed; what it
/// does list is still Revoked.
pub async fn starts_cold_until_warmed(list: Arc<dyn RevocationList>) {
    assert_eq!(list.check(&ids(&["sid"])).await.unwrap(), CacheAnswer::Cold);
    assert_eq!(list.check(&[]).await.unwrap(), CacheAnswer::Cold);
    list.revoke("jti-1", Duration::minutes(5)).await.unwrap();
    assert_eq!(list.check(&ids(&["jti-1"])).await.unwrap(), CacheAnswer::Revoked);
    assert_eq!(list.check(&ids(&["sid"])).await.unwrap(), CacheAnswer::Cold);
    list.warm(&[]).await.unwrap();
    assert_eq!(list.check(&ids(&["sid"])).await.unwrap(), CacheAnswer::NotRevoked);
    assert_eq!(list.check(&[]).await.unwrap(), CacheAnswer::NotRevoked);
}

pub async fn revoked_ids_are_found(list: Arc<dyn RevocationList>) {
    list.warm(&[]).await.unwrap();
    list.revoke("jti-1", Duration::minutes(5)).await.unwrap();
    assert_eq!(list.check(&ids(&["jti-1"])).await.unwrap(), CacheAnswer::Revoked);
    assert_eq!(list.check(&ids(&["other", "jti-1"])).await.unwrap(), CacheAnswer::Revoked);
    assert_eq!(list.check(&ids(&["other"])).await.unwrap(), CacheAnswer::NotRevoked);
}

/// Warming loads what the database says; lapsed entries are skipped.
pub async fn warm_loads_entries(list: Arc<dyn RevocationList>) {
    let entries =
        vec![("sid-a".to_owned(), Duration::minutes(5)), ("sid-old".to_owned(), Duration::seconds(-3))];
    list.warm(&entries).await.unwrap();
    assert_eq!(list.check(&ids(&["sid-a"])).await.unwrap(), CacheAnswer::Revoked);
    assert_eq!(list.check(&ids(&["sid-old"])).await.unwrap(), CacheAnswer::NotRevoked);
    // Many at once (the Redis adapter sends them in chunks).
    let many: Vec<(String, Duration)> = (0..1200).map(|i| (format!("s{i}"), Duration::minutes(5))).collect();
    list.warm(&many).await.unwrap();
    assert_eq!(list.check(&ids(&["s0"])).await.unwrap(), CacheAnswer::Revoked);
    assert_eq!(list.check(&ids(&["s1199"])).await.unwrap(), CacheAnswer::Revoked);
}

pub async fn entries_expire(list: Arc<dyn RevocationList>) {
    list.warm(&[]).await.unwrap();
    list.revoke("short", Duration::milliseconds(150)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    assert_eq!(list.check(&ids(&["short"])).await.unwrap(), CacheAnswer::NotRevoked);
}

pub async fn shorter_ttl_never_shortens(list: Arc<dyn RevocationList>) {
    list.warm(&[]).await.unwrap();
    list.revoke("sid", Duration::minutes(5)).await.unwrap();
    list.revoke("sid", Duration::milliseconds(50)).await.unwrap();
    list.warm(&[("sid".to_owned(), Duration::milliseconds(50))]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(list.check(&ids(&["sid"])).await.unwrap(), CacheAnswer::Revoked);
}
}
