use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{MailError, Mailer, OutgoingEmail};
use std::sync::Mutex;

/// The mailer's twin: keeps every message, in order, for tests and the
/// in-memory dev mode (where it also logs that a message was "sent").
#[derive(Default)]
pub struct MemoryOutbox(Mutex<Vec<OutgoingEmail>>);

impl MemoryOutbox {
    pub fn messages(&self) -> Vec<OutgoingEmail> {
        lock(&self.0).clone()
    }

    /// Messages sent to `address`, oldest first.
    pub fn to(&self, address: &str) -> Vec<OutgoingEmail> {
        lock(&self.0).iter().filter(|m| m.to == address).cloned().collect()
    }
}

#[async_trait]
impl Mailer for MemoryOutbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        if !email.to.contains('@') {
            return Err(MailError::Permanent(format!("invalid recipient {:?}", email.to).into()));
        }
        // Subject only: bodies carry single-use links that must not reach logs.
        tracing::info!(to = %email.to, subject = %email.subject, "mail stored in the in-memory outbox");
        lock(&self.0).push(email.clone());
        Ok(())
    }
}
