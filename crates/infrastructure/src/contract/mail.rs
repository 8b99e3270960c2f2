use async_trait::async_trait;
use portcullis_application::ports::{MailError, Mailer, OutgoingEmail};
use std::sync::Arc;

/// A message as the receiving side saw it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub to: String,
    pub subject: String,
    /// Everything after the headers (all MIME parts), transfer-decoded enough
    /// to search for short markers.
    pub body: String,
}

/// Reads what reached the other end (the outbox, or an SMTP server's maildir).
#[async_trait]
pub trait MailSink: Send + Sync {
    async fn delivered(&self) -> Vec<Delivered>;
}

/// The mailer plus the sink that observes its deliveries.
pub type Ports = (Arc<dyn Mailer>, Arc<dyn MailSink>);

fn message(to: &str, n: u32) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: format!("Contract message {n}"),
        text: format!("Plain part marker-text-{n}\nhttps://app.example/reset-password?token=abc{n}\n"),
        html: format!("<p>HTML part <b>marker-html-{n}</b></p>"),
    }
}

async fn wait_for(sink: &Arc<dyn MailSink>, count: usize) -> Vec<Delivered> {
    for _ in 0..300 {
        let got = sink.delivered().await;
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sink.delivered().await
}

contract_suite! { $ mailer_contract for mail;

pub async fn delivers_text_and_html(ports: Ports) {
    ports.0.send(&message("ada@example.com", 1)).await.unwrap();
    let got = wait_for(&ports.1, 1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].to.contains("ada@example.com"), "{:?}", got[0]);
    assert_eq!(got[0].subject, "Contract message 1");
    assert!(got[0].body.contains("marker-text-1"), "{}", got[0].body);
    assert!(got[0].body.contains("marker-html-1"), "{}", got[0].body);
    assert!(got[0].body.contains("token=abc1"), "{}", got[0].body);
}

pub async fn invalid_recipients_fail_for_good(ports: Ports) {
    let err = ports.0.send(&message("not an address", 1)).await.unwrap_err();
    assert!(matches!(err, MailError::Permanent(_)), "{err:?}");
    assert!(ports.1.delivered().await.is_empty());
}

pub async fn concurrent_sends_all_arrive(ports: Ports) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..6 {
        let mailer = ports.0.clone();
        tasks.spawn(async move { mailer.send(&message(&format!("user{n}@example.com"), n)).await });
    }
    assert!(tasks.join_all().await.iter().all(Result::is_ok));
    let got = wait_for(&ports.1, 6).await;
    let mut subjects: Vec<String> = got.into_iter().map(|d| d.subject).collect();
    subjects.sort();
    assert_eq!(subjects, (0..6).map(|n| format!("Contract message {n}")).collect::<Vec<_>>());
}
}
