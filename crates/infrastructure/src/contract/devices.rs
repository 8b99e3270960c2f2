use super::users::{now, user};
use portcullis_application::ports::{DeviceStore, UserRepository};
use portcullis_domain::ids::{DeviceId, UserId};
use std::sync::Arc;
use time::Duration;

/// The device store and the accounts devices belong to.
pub type Ports = (Arc<dyn DeviceStore>, Arc<dyn UserRepository>);

async fn account(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

contract_suite! { $ device_store_contract for devices;

pub async fn a_device_is_created_once_then_seen_again(ports: Ports) {
    let ada = account(&ports).await;
    let t = now();
    let first = ports.0.touch(ada, "agent:Firefox on Linux", "Firefox on Linux", Some("203.0.113.5".to_owned()), t).await.unwrap();
    assert!(first.new);
    assert!(!first.had_others, "a first device is no news");
    assert!(!first.device.trusted);
    let later = t + Duration::hours(1);
    let again = ports.0.touch(ada, "agent:Firefox on Linux", "ignored", Some("198.51.100.7".to_owned()), later).await.unwrap();
    assert!(!again.new);
    assert_eq!(again.device.id, first.device.id);
    assert_eq!(again.device.name, "Firefox on Linux", "the name stays");
    assert_eq!((again.device.first_seen_at, again.device.last_seen_at), (t, later));
    assert_eq!(again.device.last_ip.as_deref(), Some("198.51.100.7"));
    let phone = ports.0.touch(ada, "id:abc", "Chrome on Android", None, later).await.unwrap();
    assert!(phone.new && phone.had_others);
    // Keys are per user.
    let bob = account(&ports).await;
    let bobs = ports.0.touch(bob, "agent:Firefox on Linux", "Firefox on Linux", None, t).await.unwrap();
    assert!(bobs.new && !bobs.had_others);

    let listed: Vec<DeviceId> = ports.0.list(ada).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&phone.device.id) && listed.contains(&first.device.id));
}

pub async fn concurrent_first_sightings_create_one_device(ports: Ports) {
    let ada = account(&ports).await;
    let t = now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = ports.0.clone();
        tasks.spawn(async move { store.touch(ada, "id:same", "Same", None, t).await.unwrap() });
    }
    let mut created = 0;
    while let Some(done) = tasks.join_next().await {
        created += usize::from(done.unwrap().new);
    }
    assert_eq!(created, 1);
    assert_eq!(ports.0.list(ada).await.unwrap().len(), 1);
}

pub async fn only_the_owner_trusts_or_removes_a_device(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let device = ports.0.touch(ada, "id:x", "X", None, now()).await.unwrap().device;
    assert_eq!(ports.0.set_trusted(bob, device.id, true).await.unwrap(), None);
    let trusted = ports.0.set_trusted(ada, device.id, true).await.unwrap().unwrap();
    assert!(trusted.trusted);
    assert!(ports.0.list(ada).await.unwrap()[0].trusted);
    assert!(!ports.0.delete(bob, device.id).await.unwrap());
    assert!(ports.0.delete(ada, device.id).await.unwrap());
    assert!(!ports.0.delete(ada, device.id).await.unwrap());
    assert!(ports.0.list(ada).await.unwrap().is_empty());
    assert_eq!(ports.0.set_trusted(ada, DeviceId::new(), true).await.unwrap(), None);
}

pub async fn unused_devices_are_purged(ports: Ports) {
    let ada = account(&ports).await;
    let t = now();
    ports.0.touch(ada, "id:old", "Old", None, t - Duration::days(100)).await.unwrap();
    ports.0.touch(ada, "id:recent", "Recent", None, t - Duration::days(10)).await.unwrap();
    assert_eq!(ports.0.purge_unused(t - Duration::days(90)).await.unwrap(), 1);
    let left: Vec<String> = ports.0.list(ada).await.unwrap().into_iter().map(|d| d.key).collect();
    assert_eq!(left, ["id:recent"]);
}

}
