//! Writes audit events to the audit store and, always, to the structured log —
//! so an event survives a failed store write.

use crate::ports::{AuditLog, Clock};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext, Severity};
use portcullis_domain::ids::UserId;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }

    /// Records an event. Never fails the caller: a store failure is logged with
    /// the full (redacted) event instead.
    pub async fn record(
        &self,
        action: AuditAction,
        user_id: Option<UserId>,
        ctx: &RequestContext,
        details: Value,
    ) {
        let event = AuditEvent::new(action, user_id, ctx, self.clock.now(), details);
        let user = event.user_id.map(|u| u.to_string());
        let details = event.details.to_string();
        match event.severity {
            Severity::Info => {
                tracing::info!(target: "audit", action = event.action.as_str(), severity = event.severity.as_str(), user_id = user, ip = event.ip, details, "audit event")
            }
            _ => {
                tracing::warn!(target: "audit", action = event.action.as_str(), severity = event.severity.as_str(), user_id = user, ip = event.ip, details, "audit event")
            }
        }
        if let Err(err) = self.log.append(&event).await {
            tracing::error!(
                target: "audit",
                action = event.action.as_str(),
                event_id = %event.id,
                error = %err,
                "audit store write failed; the event above is the record"
            );
        }
    }
}
