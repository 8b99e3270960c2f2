use super::users::{now, user};
use portcullis_application::ports::{CredentialStore, StoreError, UserRepository, WebauthnCredential};
use portcullis_domain::ids::UserId;
use portcullis_domain::webauthn::CredentialKind;
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

/// The credential store and the accounts credentials belong to.
pub type Ports = (Arc<dyn CredentialStore>, Arc<dyn UserRepository>);

async fn account(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

/// A credential as a ceremony would produce it (`data` is JSON).
pub fn credential(
    user: UserId,
    kind: CredentialKind,
    credential_id: &[u8],
    sign_count: u32,
) -> WebauthnCredential {
    WebauthnCredential {
        id: Uuid::new_v4(),
        user_id: user,
        kind,
        credential_id: credential_id.to_vec(),
        name: kind.default_name().to_owned(),
        data: format!(r#"{{"counter":{sign_count},"key":"k"}}"#),
        sign_count,
        created_at: now(),
        last_used_at: None,
    }
}

fn unique_id() -> Vec<u8> {
    Uuid::new_v4().as_bytes().to_vec()
}

contract_suite! { $ credential_store_contract for credentials;

pub async fn credentials_are_listed_oldest_first_and_found_by_their_id(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let mut first = credential(ada, CredentialKind::Passkey, &unique_id(), 0);
    first.created_at = now() - Duration::minutes(5);
    let second = credential(ada, CredentialKind::SecurityKey, &unique_id(), 3);
    ports.0.add(&second).await.unwrap();
    ports.0.add(&first).await.unwrap();
    ports.0.add(&credential(bob, CredentialKind::Passkey, &unique_id(), 0)).await.unwrap();
    let listed = ports.0.list(ada).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first.id, second.id]);
    let found = ports.0.find_by_credential_id(&second.credential_id).await.unwrap().unwrap();
    assert_eq!(found.kind, CredentialKind::SecurityKey);
    assert_eq!(found.sign_count, 3);
    let data: serde_json::Value = serde_json::from_str(&found.data).unwrap();
    assert_eq!(data["counter"], 3, "the data round-trips as JSON");
    assert_eq!(ports.0.find_by_credential_id(b"nobody").await.unwrap(), None);
}

pub async fn a_credential_id_is_registered_once_across_users(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let id = unique_id();
    ports.0.add(&credential(ada, CredentialKind::Passkey, &id, 0)).await.unwrap();
    let err = ports.0.add(&credential(bob, CredentialKind::Passkey, &id, 0)).await.unwrap_err();
    assert_eq!(err, StoreError::Conflict("credential_id"));
    assert!(ports.0.list(bob).await.unwrap().is_empty());
}

pub async fn only_the_owner_renames_or_removes(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let key = credential(ada, CredentialKind::SecurityKey, &unique_id(), 0);
    ports.0.add(&key).await.unwrap();
    assert!(!ports.0.rename(bob, key.id, "mine now").await.unwrap());
    assert!(!ports.0.remove(bob, key.id).await.unwrap());
    assert!(ports.0.rename(ada, key.id, "Blue key").await.unwrap());
    assert_eq!(ports.0.list(ada).await.unwrap()[0].name, "Blue key");
    assert!(ports.0.remove(ada, key.id).await.unwrap());
    assert!(!ports.0.remove(ada, key.id).await.unwrap(), "gone");
    assert!(ports.0.list(ada).await.unwrap().is_empty());
}

pub async fn a_use_records_a_counter_that_goes_up_once(ports: Ports) {
    let ada = account(&ports).await;
    let key = credential(ada, CredentialKind::SecurityKey, &unique_id(), 5);
    ports.0.add(&key).await.unwrap();
    let later = now() + Duration::minutes(1);
    assert!(!ports.0.record_use(key.id, 5, r#"{"counter":5}"#, later).await.unwrap(), "the same counter");
    assert!(!ports.0.record_use(key.id, 4, r#"{"counter":4}"#, later).await.unwrap(), "went back");
    assert!(!ports.0.record_use(key.id, 0, r#"{"counter":0}"#, later).await.unwrap(), "lost its counter");
    assert!(ports.0.record_use(key.id, 9, r#"{"counter":9}"#, later).await.unwrap());
    let stored = ports.0.find_by_credential_id(&key.credential_id).await.unwrap().unwrap();
    assert_eq!((stored.sign_count, stored.last_used_at), (9, Some(later)));
    assert!(stored.data.contains('9'));
    // Two assertions carrying one counter value (a clone racing the original): one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = ports.0.clone();
        tasks.spawn(async move { store.record_use(key.id, 10, r#"{"counter":10}"#, later).await.unwrap() });
    }
    let wins = tasks.join_all().await.into_iter().filter(|won| *won).count();
    assert_eq!(wins, 1);
    // An authenticator without a counter always says 0.
    let passkey = credential(ada, CredentialKind::Passkey, &unique_id(), 0);
    ports.0.add(&passkey).await.unwrap();
    assert!(ports.0.record_use(passkey.id, 0, "{}", later).await.unwrap());
    assert!(ports.0.record_use(passkey.id, 0, "{}", later).await.unwrap());
    assert!(!ports.0.record_use(Uuid::new_v4(), 1, "{}", later).await.unwrap(), "unknown");
}
}
