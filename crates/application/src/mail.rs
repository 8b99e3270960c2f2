//! Mail templates (plain text + HTML) and the job that renders and sends them.
//! Requests only enqueue `email.send` jobs; the worker renders and delivers,
//! and SMTP failures retry through the queue.

use crate::jobs::{JobError, JobHandler};
use crate::ports::{Job, MailError, Mailer, OutgoingEmail};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEvent {
    NewLogin,
    PasswordChanged,
    PasswordReset,
    MfaEnabled,
    MfaDisabled,
    BackupCodesRegenerated,
    PasskeyAdded,
    PasskeyRemoved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum MailTemplate {
    /// Welcome, with the link that verifies the address.
    VerifyEmail {
        name: Option<String>,
        link: String,
    },
    PasswordReset {
        name: Option<String>,
        link: String,
    },
    MagicLink {
        name: Option<String>,
        link: String,
        /// How long the link works (older queued jobs lack it: 15).
        #[serde(default = "default_magic_minutes")]
        expires_in_minutes: i64,
    },
    SecurityAlert {
        name: Option<String>,
        event: SecurityEvent,
        ip: Option<String>,
        at: String,
    },
    /// An invitation to create an account (or, for an address with one, to
    /// take on roles), with its single-use link.
    Invitation {
        link: String,
        roles: Vec<String>,
        /// RFC 3339.
        expires_at: String,
    },
}

/// The payload of an `email.send` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailJob {
    pub to: String,
    #[serde(flatten)]
    pub template: MailTemplate,
}

const PRODUCT: &str = "Portcullis";

fn default_magic_minutes() -> i64 {
    15
}

/// Escapes text for HTML (names, addresses and tokens come from users); the
/// mail bodies and the link pages both use it.
pub fn escape_html(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn greeting(name: &Option<String>) -> String {
    match name {
        Some(n) if !n.trim().is_empty() => format!("Hello {n},"),
        _ => "Hello,".to_owned(),
    }
}

fn html_page(greeting: &str, paragraphs: &[String], link: Option<(&str, &str)>) -> String {
    let mut body = format!("<p>{}</p>", escape_html(greeting));
    for p in paragraphs {
        body.push_str(&format!("<p>{}</p>", escape_html(p)));
    }
    if let Some((label, href)) = link {
        body.push_str(&format!(
            r#"<p><a href="{href}" style="display:inline-block;padding:10px 16px;background:#1f2937;color:#fff;text-decoration:none;border-radius:4px">{label}</a></p><p style="font-size:12px;color:#555">Or paste this address into your browser: {href}</p>"#,
            href = escape_html(href),
            label = escape_html(label)
        ));
    }
    format!(
        r#"<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111">{body}<p style="font-size:12px;color:#555">— {PRODUCT}</p></body></html>"#
    )
}

fn text_page(greeting: &str, paragraphs: &[String], link: Option<&str>) -> String {
    let mut out = format!("{greeting}\n\n");
    for p in paragraphs {
        out.push_str(p);
        out.push_str("\n\n");
    }
    if let Some(link) = link {
        out.push_str(link);
        out.push_str("\n\n");
    }
    out.push_str(&format!("— {PRODUCT}\n"));
    out
}

/// Renders a template to (subject, text, html).
pub fn render(template: &MailTemplate) -> (String, String, String) {
    let (subject, name, paragraphs, link) = match template {
        MailTemplate::VerifyEmail { name, link } => (
            format!("Welcome to {PRODUCT} — confirm your email"),
            Some(name),
            vec![
                "Thanks for signing up. Confirm that this address is yours with the link below.".to_owned(),
                "The link works once and expires in 24 hours. If you did not sign up, ignore this message.".to_owned(),
            ],
            Some(("Confirm my email", link.as_str())),
        ),
        MailTemplate::PasswordReset { name, link } => (
            format!("Reset your {PRODUCT} password"),
            Some(name),
            vec![
                "Someone asked to reset the password of your account. Choose a new one with the link below.".to_owned(),
                "The link works once and expires in 30 minutes. If it was not you, ignore this message: your password stays as it is.".to_owned(),
            ],
            Some(("Choose a new password", link.as_str())),
        ),
        MailTemplate::MagicLink { name, link, expires_in_minutes } => (
            format!("Your {PRODUCT} sign-in link"),
            Some(name),
            vec![
                format!("Use the link below to sign in. It works once and expires in {expires_in_minutes} minutes."),
                "If you did not ask for it, ignore this message.".to_owned(),
            ],
            Some(("Sign in", link.as_str())),
        ),
        MailTemplate::SecurityAlert { name, event, ip, at } => {
            let from = ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
            let (subject, what) = match event {
                SecurityEvent::NewLogin => ("New sign-in to your account", format!("Your account was signed in to{from} at {at}.")),
                SecurityEvent::PasswordChanged => ("Your password was changed", format!("Your password was changed{from} at {at}. Your other sessions were signed out.")),
                SecurityEvent::PasswordReset => ("Your password was reset", format!("Your password was reset{from} at {at}. All your sessions were signed out.")),
                SecurityEvent::MfaEnabled => ("Two-step sign-in is on", format!("A second factor (an authenticator app, a phone or a security key) was added to your account{from} at {at}. Signing in now asks for it.")),
                SecurityEvent::MfaDisabled => ("Two-step sign-in is off", format!("The second factors were removed from your account{from} at {at}. If this was not you, reset your password now.")),
                SecurityEvent::PasskeyAdded => ("A passkey was added", format!("A passkey was added to your account{from} at {at}; it can sign in without the password. If this was not you, remove it and reset your password now.")),
                SecurityEvent::PasskeyRemoved => ("A passkey or security key was removed", format!("A passkey or security key was removed from your account{from} at {at}.")),
                SecurityEvent::BackupCodesRegenerated => ("New backup codes", format!("New backup codes were made for your account{from} at {at}; the old ones no longer work.")),
            };
            (
                format!("{PRODUCT}: {subject}"),
                Some(name),
                vec![what, "If this was you, there is nothing to do. If not, reset your password now.".to_owned()],
                None,
            )
        }
        MailTemplate::Invitation { link, roles, expires_at } => {
            let extra: Vec<&str> = roles.iter().map(String::as_str).filter(|r| *r != "user").collect();
            let with = if extra.is_empty() { String::new() } else { format!(" with the roles {}", extra.join(", ")) };
            (
                format!("You are invited to {PRODUCT}"),
                None,
                vec![
                    format!("You were invited to join{with}. Accept with the link below: choose a password and your account is ready. If this address has an account already, sign in to it first; the roles are added to it."),
                    format!("The link works once and expires at {expires_at}. If you did not expect this invitation, ignore this message."),
                ],
                Some(("Accept the invitation", link.as_str())),
            )
        }
    };
    let greeting = greeting(name.unwrap_or(&None));
    let text = text_page(&greeting, &paragraphs, link.map(|(_, l)| l));
    let html = html_page(&greeting, &paragraphs, link);
    (subject, text, html)
}

/// Renders `template` and sends it to `to`, from a job: a transient mail
/// failure retries the job, a permanent one ends it.
pub async fn deliver(mailer: &dyn Mailer, to: String, template: &MailTemplate) -> Result<(), JobError> {
    let (subject, text, html) = render(template);
    mailer.send(&OutgoingEmail { to, subject, text, html }).await.map_err(|e| match e {
        MailError::Transient(cause) => JobError::Retry(cause),
        MailError::Permanent(cause) => JobError::Fatal(cause),
    })
}

/// Runs `email.send` jobs.
pub struct SendEmail {
    mailer: Arc<dyn Mailer>,
}

impl SendEmail {
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        Self { mailer }
    }
}

#[async_trait]
impl JobHandler for SendEmail {
    fn kind(&self) -> crate::jobs::JobKind {
        crate::jobs::kinds::EMAIL_SEND
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let mail: MailJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Fatal(crate::Cause::context("unreadable email job", e)))?;
        deliver(self.mailer.as_ref(), mail.to, &mail.template).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let job = MailJob {
            to: "ada@example.com".into(),
            template: MailTemplate::MagicLink {
                name: None,
                link: "https://x/magic?token=t".into(),
                expires_in_minutes: 10,
            },
        };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value["template"], "magic_link");
        assert_eq!(serde_json::from_value::<MailJob>(value).unwrap(), job);
    }

    #[test]
    fn html_escapes_user_data_and_both_parts_carry_the_link() {
        let t = MailTemplate::PasswordReset {
            name: Some("<script>alert(1)</script>".into()),
            link: "https://app.example/reset-password?token=abc&x=1".into(),
        };
        let (subject, text, html) = render(&t);
        assert!(subject.contains("Reset"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("token=abc&amp;x=1"));
        assert!(text.contains("https://app.example/reset-password?token=abc&x=1"));
        assert!(text.starts_with("Hello <script>"));
    }

    #[test]
    fn every_template_renders() {
        for t in [
            MailTemplate::VerifyEmail { name: Some("Ada".into()), link: "l".into() },
            MailTemplate::MagicLink { name: None, link: "l".into(), expires_in_minutes: 10 },
            MailTemplate::SecurityAlert {
                name: None,
                event: SecurityEvent::NewLogin,
                ip: Some("203.0.113.5".into()),
                at: "2026-11-25T18:00:00Z".into(),
            },
        ] {
            let (subject, text, html) = render(&t);
            assert!(!subject.is_empty() && !text.is_empty() && html.starts_with("<!doctype html>"));
        }
    }
}
