use portcullis_application::ports::RevocationList;
use std::sync::Arc;
use time::Duration;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn revoked_ids_are_found(list: Arc<dyn RevocationList>) {
    list.revoke("jti-1", Duration::minutes(5)).await.unwrap();
    assert!(list.any_revoked(&ids(&["jti-1"])).await.unwrap());
    assert!(list.any_revoked(&ids(&["other", "jti-1"])).await.unwrap());
    assert!(!list.any_revoked(&ids(&["other"])).await.unwrap());
    assert!(!list.any_revoked(&[]).await.unwrap());
}

pub async fn entries_expire(list: Arc<dyn RevocationList>) {
    list.revoke("short", Duration::milliseconds(150)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    assert!(!list.any_revoked(&ids(&["short"])).await.unwrap());
}

pub async fn shorter_ttl_never_shortens(list: Arc<dyn RevocationList>) {
    list.revoke("sid", Duration::minutes(5)).await.unwrap();
    list.revoke("sid", Duration::milliseconds(50)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(list.any_revoked(&ids(&["sid"])).await.unwrap());
}
