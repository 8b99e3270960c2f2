use portcullis_application::ports::{Grants, PermissionCache};
use portcullis_domain::ids::UserId;
use std::sync::Arc;
use time::Duration;

fn grants(roles: &[&str], patterns: &[&str]) -> Grants {
    Grants {
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        permissions: patterns.iter().map(|p| p.parse().unwrap()).collect(),
    }
}

const TTL: Duration = Duration::minutes(5);

contract_suite! { $ permission_cache_contract for permission_cache;

pub async fn a_stored_entry_is_served_until_invalidated(cache: Arc<dyn PermissionCache>) {
    let ada = UserId::new();
    let (hit, seen) = cache.get(ada).await.unwrap();
    assert_eq!(hit, None);
    let admin = grants(&["admin", "user"], &["*", "files:read"]);
    cache.put(ada, &admin, seen, TTL).await.unwrap();
    assert_eq!(cache.get(ada).await.unwrap(), (Some(admin.clone()), seen));
    let (other, _) = cache.get(UserId::new()).await.unwrap();
    assert_eq!(other, None, "entries are per user");

    cache.invalidate().await.unwrap();
    let (hit, after) = cache.get(ada).await.unwrap();
    assert_eq!(hit, None, "one invalidation drops every entry");
    assert!(after > seen);
    let empty = grants(&[], &[]);
    cache.put(ada, &empty, after, TTL).await.unwrap();
    assert_eq!(cache.get(ada).await.unwrap().0, Some(empty), "no roles is an answer too");
}

/// Grants read from the database before a change but stored after it must
/// not be served: they carry the generation seen before the change.
pub async fn an_entry_computed_before_a_change_is_stale_on_arrival(cache: Arc<dyn PermissionCache>) {
    let ada = UserId::new();
    let (_, seen) = cache.get(ada).await.unwrap();
    cache.invalidate().await.unwrap();
    cache.put(ada, &grants(&["admin"], &["*"]), seen, TTL).await.unwrap();
    assert_eq!(cache.get(ada).await.unwrap().0, None);
}

pub async fn entries_expire(cache: Arc<dyn PermissionCache>) {
    let ada = UserId::new();
    let (_, seen) = cache.get(ada).await.unwrap();
    cache.put(ada, &grants(&["user"], &["files:*"]), seen, Duration::milliseconds(100)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert_eq!(cache.get(ada).await.unwrap().0, None);
}

}
