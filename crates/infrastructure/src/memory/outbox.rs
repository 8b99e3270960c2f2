use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{MailError, Mailer, OutgoingEmail};
use std::sync::Mutex;

/// The mailer's twin: keeps every message, in order, for tests and the
/// in-memory dev mode (where it also logs that a message was "sent").
#[derive(Default)]
pub struct MemoryOutbox(Mutex<Vec<OutgoingEmail>>, bool);

impl MemoryOutbox {
    /// An outbox that also prints each message's text to the console, so the
    /// links in development mail can be opened (`MAIL_TO_CONSOLE`; on by
    /// default only when nothing is real: no database, no SMTP).
    pub fn printing() -> Self {
        Self(Mutex::default(), true)
    }

    #[allow(clippy::print_stdout)] // The console is where a developer reads it.
    fn print(email: &OutgoingEmail) {
        let rule = "=".repeat(78);
        println!(
            "{rule}\nDEVELOPMENT MAIL (in-memory outbox: nothing is delivered or kept)\nTo: {}\nSubject: {}\n\n{}{rule}",
            email.to, email.subject, email.text
        );
    }

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
        // Subject only: bodies carry single-use links that must not reach logs
        // (the console copy is opt-in, for development with nothing real).
        tracing::info!(to = %email.to, subject = %email.subject, "mail stored in the in-memory outbox");
        if self.1 {
            Self::print(email);
        }
        lock(&self.0).push(email.clone());
        Ok(())
    }
}
