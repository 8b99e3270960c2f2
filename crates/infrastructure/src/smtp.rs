//! SMTP delivery with lettre: pooled connections, timeouts, and TLS as
//! configured (none for a local relay, STARTTLS, or implicit TLS).

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_application::Cause;
use portcullis_application::ports::{MailError, Mailer, OutgoingEmail};
use portcullis_domain::secret::Secret;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text; only for a relay on the same host or network.
    None,
    /// Upgrade with STARTTLS (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "false" | "off" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" | "true" | "on" => Ok(Self::Tls),
            other => Err(format!("expected none, starttls or tls, got {other:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
    pub from: String,
    pub timeout: Duration,
    pub pool_size: u32,
    /// PEM file of an extra CA to trust (a private relay's own CA).
    pub ca_cert_path: Option<String>,
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why the SMTP client could not be set up, naming the setting and keeping
/// the underlying error.
#[derive(Debug, thiserror::Error)]
#[error("{setting}")]
pub struct SmtpSetupError {
    setting: &'static str,
    #[source]
    source: Cause,
}

/// Maps a setup failure to the setting that caused it.
fn bad<E: std::error::Error + Send + Sync + 'static>(
    setting: &'static str,
) -> impl FnOnce(E) -> SmtpSetupError {
    move |e| SmtpSetupError { setting, source: Cause::new(e) }
}

impl SmtpMailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpSetupError> {
        let from: Mailbox = config.from.parse().map_err(bad("EMAIL_FROM"))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(bad("SMTP_HOST"))?,
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(bad("SMTP_HOST"))?
            }
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)));
        if let Some(path) = &config.ca_cert_path {
            let pem = std::fs::read(path).map_err(bad("SMTP_CA_CERT"))?;
            let ca = Certificate::from_pem(&pem).map_err(bad("SMTP_CA_CERT"))?;
            let params = TlsParameters::builder(config.host.clone())
                .add_root_certificate(ca)
                .build_rustls()
                .map_err(bad("SMTP TLS parameters"))?;
            builder = builder.tls(match config.tls {
                SmtpTls::None => Tls::None,
                SmtpTls::StartTls => Tls::Required(params),
                SmtpTls::Tls => Tls::Wrapper(params),
            });
        }
        if let Some(user) = &config.username {
            let password = config.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let to: Mailbox =
            email.to.parse().map_err(|e| MailError::Permanent(Cause::context("invalid recipient", e)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| MailError::Permanent(Cause::context("cannot build message", e)))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(Cause::new(e))),
            Err(e) => Err(MailError::Transient(Cause::new(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse() {
        assert_eq!("STARTTLS".parse::<SmtpTls>(), Ok(SmtpTls::StartTls));
        assert_eq!("none".parse::<SmtpTls>(), Ok(SmtpTls::None));
        assert_eq!("tls".parse::<SmtpTls>(), Ok(SmtpTls::Tls));
        assert!("ssl3".parse::<SmtpTls>().is_err());
    }

    #[test]
    fn bad_sender_is_a_configuration_error() {
        let config = SmtpConfig {
            host: "localhost".into(),
            port: 25,
            username: None,
            password: None,
            tls: SmtpTls::None,
            from: "not an address".into(),
            timeout: Duration::from_secs(5),
            pool_size: 2,
            ca_cert_path: None,
        };
        assert!(SmtpMailer::new(&config).is_err());
    }
}
