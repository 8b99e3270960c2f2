use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{SmsError, SmsSender, TextMessage};
use std::sync::Mutex;

/// The SMS sender's twin: keeps every message, in order, for tests and the
/// in-memory dev mode. Like Twilio, it refuses a number that is not E.164.
#[derive(Default)]
pub struct MemoryTexts(Mutex<Vec<TextMessage>>, bool);

impl MemoryTexts {
    /// Also prints each message to the console (`MAIL_TO_CONSOLE`: for
    /// development with nothing real, where no phone receives it).
    pub fn printing() -> Self {
        Self(Mutex::default(), true)
    }

    pub fn messages(&self) -> Vec<TextMessage> {
        lock(&self.0).clone()
    }

    /// Messages sent to `number` (E.164), oldest first.
    pub fn to(&self, number: &str) -> Vec<TextMessage> {
        lock(&self.0).iter().filter(|m| m.to == number).cloned().collect()
    }
}

/// `+` and 2–15 digits, no leading zero: what Twilio accepts as `To`.
pub fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

#[async_trait]
impl SmsSender for MemoryTexts {
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        if !is_e164(to) {
            return Err(SmsError::Rejected(format!("{to:?} is not an E.164 number").into()));
        }
        // The number only: the body carries a code, which no log may keep.
        tracing::info!(to = %to, "text message stored in the in-memory outbox");
        if self.1 {
            #[allow(clippy::print_stdout)] // The console is where a developer reads it.
            {
                let rule = "=".repeat(78);
                println!(
                    "{rule}\nDEVELOPMENT TEXT MESSAGE (in-memory: nothing is sent)\nTo: {to}\n\n{body}\n{rule}"
                );
            }
        }
        lock(&self.0).push(TextMessage { to: to.to_owned(), body: body.to_owned() });
        Ok(())
    }
}
