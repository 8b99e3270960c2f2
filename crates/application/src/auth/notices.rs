//! What a user is told, durably: mail through the outbox (security alerts,
//! mailed-link requests), and whether a sign-in comes from a new place.

use crate::error::AppError;
use crate::jobs::kinds;
use crate::links::{LinkPurpose, LinkRequest};
use crate::mail::{MailJob, MailTemplate, SecurityEvent};
use crate::ports::{AuditLog, Clock, Outbox, OutboxMessage};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::user::User;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;

/// How long a sign-in address stays known (no "new sign-in" alert from it).
const KNOWN_LOCATION_FOR: time::Duration = time::Duration::days(90);

#[derive(Clone)]
pub struct Notices {
    pub outbox: Arc<dyn Outbox>,
    /// Asked whether a user signed in from an address before.
    pub audit_log: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

impl Notices {
    /// Records a mail in the outbox (durable; relayed to the queue). A failure
    /// is logged, not returned: the action that asked for the mail happened.
    pub async fn enqueue_mail(&self, to: &str, template: MailTemplate) {
        let payload = match serde_json::to_value(MailJob { to: to.to_owned(), template }) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%error, "could not encode mail job");
                return;
            }
        };
        let message = kinds::EMAIL_SEND.message(payload);
        if let Err(error) = self.outbox.add(&message, self.clock.now()).await {
            tracing::error!(%error, "could not record a mail in the outbox; it will not be sent");
        }
    }
    pub async fn security_alert(&self, user: &User, event: SecurityEvent, ctx: &RequestContext) {
        let at = self.clock.now().format(&Rfc3339).unwrap_or_default();
        let template =
            MailTemplate::SecurityAlert { name: display_name(user), event, ip: ctx.ip.clone(), at };
        self.enqueue_mail(user.email.as_str(), template).await;
    }
    /// The outbox message of a mailed-link request.
    pub fn link_request(
        &self,
        purpose: LinkPurpose,
        email: &Email,
        ctx: &RequestContext,
    ) -> Result<OutboxMessage, AppError> {
        let payload = serde_json::to_value(LinkRequest::new(purpose, email, ctx))
            .map_err(|e| AppError::Internal(crate::Cause::context("could not encode a link request", e)))?;
        Ok(kinds::SEND_LINK.message(payload))
    }
    /// True when the user has not signed in (or registered) from this IP
    /// address in the last 90 days. Asked of the audit log directly, so no
    /// amount of unrelated activity (token refreshes) can push the answer out
    /// of a window.
    pub async fn is_new_location(&self, user: &User, ctx: &RequestContext) -> bool {
        let Some(ip) = ctx.ip.as_deref() else { return false };
        let since = self.clock.now() - KNOWN_LOCATION_FOR;
        let signed_in = [AuditAction::LoginSucceeded, AuditAction::UserRegistered];
        match self.audit_log.seen_from(user.id, ip, &signed_in, since).await {
            Ok(seen) => !seen,
            Err(error) => {
                tracing::warn!(%error, "could not read recent activity; no new-login alert");
                false
            }
        }
    }
}

fn display_name(user: &User) -> Option<String> {
    user.name_for_mail().map(str::to_owned)
}
