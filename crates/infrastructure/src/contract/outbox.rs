use super::users::now;
use portcullis_application::ports::{Outbox, OutboxMessage};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use time::Duration;

fn message(n: u32) -> OutboxMessage {
    OutboxMessage::new("mail", "email.send", json!({ "n": n }))
}

const LEASE: Duration = Duration::seconds(30);

contract_suite! { $ outbox_contract for outbox;

pub async fn claims_oldest_first_and_removes(outbox: Arc<dyn Outbox>) {
    let t = now();
    for n in 0..3 {
        outbox.add(&message(n), t).await.unwrap();
    }
    let claimed = outbox.claim(t, 2, LEASE).await.unwrap();
    let ns: Vec<u64> = claimed.iter().map(|e| e.message.payload["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![0, 1]);
    assert_eq!(claimed[0].message.kind, "email.send");
    assert_eq!(claimed[0].message.queue, "mail");
    outbox.remove(&claimed.iter().map(|e| e.id).collect::<Vec<_>>()).await.unwrap();
    let rest = outbox.claim(t, 10, LEASE).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].message.payload["n"], 2);
}

/// A claimed entry is hidden for the lease, then claimable again (its relay
/// died before removing it).
pub async fn a_lease_hides_then_returns_an_entry(outbox: Arc<dyn Outbox>) {
    let t = now();
    outbox.add(&message(1), t).await.unwrap();
    assert_eq!(outbox.claim(t, 10, LEASE).await.unwrap().len(), 1);
    assert!(outbox.claim(t + Duration::seconds(10), 10, LEASE).await.unwrap().is_empty());
    let again = outbox.claim(t + Duration::seconds(31), 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    // A relay that failed gives it back at once.
    outbox.release(&[again[0].id], t + Duration::seconds(31)).await.unwrap();
    let again = outbox.claim(t + Duration::seconds(32), 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    outbox.remove(&[again[0].id]).await.unwrap();
    assert!(outbox.claim(t + Duration::minutes(5), 10, LEASE).await.unwrap().is_empty());
}

/// Concurrent relays never claim the same entry.
pub async fn concurrent_claims_are_disjoint(outbox: Arc<dyn Outbox>) {
    let t = now();
    for n in 0..40 {
        outbox.add(&message(n), t).await.unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let outbox = outbox.clone();
        tasks.spawn(async move { outbox.claim(t, 7, LEASE).await.unwrap() });
    }
    let mut seen = HashSet::new();
    for batch in tasks.join_all().await {
        for entry in batch {
            assert!(seen.insert(entry.id), "claimed twice");
        }
    }
    assert_eq!(seen.len(), 40);
}
}
