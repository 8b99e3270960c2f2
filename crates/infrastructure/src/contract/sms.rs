use async_trait::async_trait;
use portcullis_application::ports::{SmsError, SmsSender, TextMessage};
use std::sync::Arc;

/// Reads what reached the other end (the in-memory outbox, or what a
/// provider's stand-in received).
#[async_trait]
pub trait SmsSink: Send + Sync {
    async fn delivered(&self) -> Vec<TextMessage>;
}

/// The sender plus the sink that observes its deliveries.
pub type Ports = (Arc<dyn SmsSender>, Arc<dyn SmsSink>);

contract_suite! { $ sms_sender_contract for sms;

pub async fn delivers_the_body_to_the_number(ports: Ports) {
    let body = "Portcullis code: 012345. It works for 5 minutes — ne la partagez pas.";
    ports.0.send("+447911123456", body).await.unwrap();
    let got = ports.1.delivered().await;
    assert_eq!(got, vec![TextMessage { to: "+447911123456".into(), body: body.into() }]);
}

pub async fn a_number_that_is_not_e164_fails_for_good(ports: Ports) {
    for bad in ["07911123456", "+44 7911 123456", "", "+0123"] {
        let err = ports.0.send(bad, "x").await.unwrap_err();
        assert!(matches!(err, SmsError::Rejected(_)), "{bad:?}: {err:?}");
    }
    assert!(ports.1.delivered().await.is_empty());
}

pub async fn concurrent_sends_all_arrive(ports: Ports) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..6 {
        let sender = ports.0.clone();
        tasks.spawn(async move { sender.send(&format!("+1415555267{n}"), &format!("message {n}")).await });
    }
    assert!(tasks.join_all().await.iter().all(Result::is_ok));
    let mut got: Vec<String> = ports.1.delivered().await.into_iter().map(|m| format!("{} {}", m.to, m.body)).collect();
    got.sort();
    assert_eq!(got, (0..6).map(|n| format!("+1415555267{n} message {n}")).collect::<Vec<_>>());
}
}
