//! Writes audit events to the audit store and, always, to the structured log —
//! so an event survives a failed store write.

use crate::ports::{AuditLog, Clock};
use portcullis_domain::audit::{AuditAction, AuditEvent, RequestContext, Severity};
use portcullis_domain::ids::UserId;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    /// Last time each dedupe key was recorded.
    seen: Arc<Mutex<HashMap<String, OffsetDateTime>>>,
}

/// Events that a flood could repeat (rejected tokens, failed redemptions)
/// are stored once per key per this window.
const DEDUPE_WINDOW: time::Duration = time::Duration::minutes(1);

impl AuditTrail {
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock, seen: Arc::default() }
    }

    /// Records the event unless one with the same `key` was recorded within a
    /// minute: a flood of rejections cannot fill the audit table. (Every one
    /// is still counted by the request metrics and the access log.)
    pub async fn record_deduped(
        &self,
        key: &str,
        action: AuditAction,
        user_id: Option<UserId>,
        ctx: &RequestContext,
        details: Value,
    ) {
        let now = self.clock.now();
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() > 10_000 {
                seen.retain(|_, at| now - *at < DEDUPE_WINDOW);
            }
            match seen.get(key) {
                Some(at) if now - *at < DEDUPE_WINDOW => false,
                _ => {
                    seen.insert(key.to_owned(), now);
                    true
                }
            }
        };
        if first {
            self.record(action, user_id, ctx, details).await;
        }
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
