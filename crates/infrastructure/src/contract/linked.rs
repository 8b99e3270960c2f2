use super::users::{now, user};
use portcullis_application::ports::{LinkedAccount, LinkedAccountStore, StoreError, UserRepository};
use portcullis_domain::ids::UserId;
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;

/// The linked-account store and the accounts links belong to.
pub type Ports = (Arc<dyn LinkedAccountStore>, Arc<dyn UserRepository>);

async fn account(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

fn link(user: UserId, provider: &str, subject: &str) -> LinkedAccount {
    LinkedAccount {
        id: Uuid::new_v4(),
        user_id: user,
        provider: provider.into(),
        subject: subject.into(),
        email: Some("ada@example.com".into()),
        sealed_tokens: Some(vec![1, 2, 3]),
        created_at: now(),
        last_used_at: None,
    }
}

contract_suite! { $ linked_account_store_contract for linked;

pub async fn a_provider_account_links_to_one_user(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let google = link(ada, "google", "1001");
    ports.0.link(&google).await.unwrap();
    assert_eq!(ports.0.link(&link(bob, "google", "1001")).await.unwrap_err(), StoreError::Conflict("provider_subject"));
    // The same subject at another provider is another account.
    ports.0.link(&link(bob, "github", "1001")).await.unwrap();
    assert_eq!(ports.0.find("google", "1001").await.unwrap(), Some(google.clone()));
    assert_eq!(ports.0.find("github", "1001").await.unwrap().unwrap().user_id, bob);
    assert_eq!(ports.0.find("google", "1002").await.unwrap(), None);
}

pub async fn links_are_listed_oldest_first_and_unlinked_by_their_owner(ports: Ports) {
    let ada = account(&ports).await;
    let bob = account(&ports).await;
    let mut first = link(ada, "github", "7");
    first.created_at = now() - Duration::minutes(3);
    let second = link(ada, "google", "8");
    ports.0.link(&second).await.unwrap();
    ports.0.link(&first).await.unwrap();
    let listed: Vec<Uuid> = ports.0.list(ada).await.unwrap().iter().map(|a| a.id).collect();
    assert_eq!(listed, vec![first.id, second.id]);
    assert!(!ports.0.unlink(bob, first.id).await.unwrap(), "not bob's");
    assert!(ports.0.unlink(ada, first.id).await.unwrap());
    assert!(!ports.0.unlink(ada, first.id).await.unwrap(), "gone");
    assert_eq!(ports.0.find("github", "7").await.unwrap(), None);
    assert_eq!(ports.0.list(ada).await.unwrap().len(), 1);
}

pub async fn a_use_replaces_the_sealed_tokens(ports: Ports) {
    let ada = account(&ports).await;
    let google = link(ada, "google", "9");
    ports.0.link(&google).await.unwrap();
    let later = now() + Duration::minutes(1);
    assert!(ports.0.record_use(google.id, Some(vec![9, 9]), later).await.unwrap());
    let stored = ports.0.find("google", "9").await.unwrap().unwrap();
    assert_eq!((stored.sealed_tokens, stored.last_used_at), (Some(vec![9, 9]), Some(later)));
    assert!(!ports.0.record_use(Uuid::new_v4(), None, later).await.unwrap());
}
}
