use async_trait::async_trait;

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: connection refused, timeout, 4xx from the server.
    #[error("temporary mail failure")]
    Transient(#[source] crate::cause::Cause),
    /// Will not succeed: invalid address, 5xx rejection.
    #[error("permanent mail failure")]
    Permanent(#[source] crate::cause::Cause),
}

/// Sends mail. Called only from jobs, never inside a request.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;
}
