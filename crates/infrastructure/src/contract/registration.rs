//! A new account and what its creation promised (outbox messages) are stored
//! together or not at all.

use super::users::{now, user};
use portcullis_application::ports::{Outbox, OutboxMessage, StoreError, UserRepository};
use serde_json::json;
use std::sync::Arc;
use time::Duration;

pub type Ports = (Arc<dyn UserRepository>, Arc<dyn Outbox>);

fn promise(n: u32) -> OutboxMessage {
    OutboxMessage::new("mail", "account.send_link", json!({ "n": n }))
}

contract_suite! { $ registration_contract for registration;

pub async fn promises_are_stored_with_the_user(ports: Ports) {
    let (users, outbox) = ports;
    let t = now();
    let u = user("ada@example.com");
    users.insert_promising(&u, &[promise(1), promise(2)], t).await.unwrap();
    assert!(users.find_by_email(&u.email).await.unwrap().is_some());
    let claimed = outbox.claim(t + Duration::seconds(1), 10, Duration::seconds(30)).await.unwrap();
    let ns: Vec<u64> = claimed.iter().map(|e| e.message.payload["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![1, 2]);
    assert_eq!(claimed[0].message.kind, "account.send_link");
}

pub async fn a_conflict_stores_no_promise(ports: Ports) {
    let (users, outbox) = ports;
    let t = now();
    users.insert(&user("ada@example.com")).await.unwrap();
    let again = user("ada@example.com");
    assert_eq!(users.insert_promising(&again, &[promise(1)], t).await, Err(StoreError::Conflict("email")));
    assert!(outbox.claim(t + Duration::seconds(1), 10, Duration::seconds(30)).await.unwrap().is_empty());
}
}
