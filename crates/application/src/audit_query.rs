//! The admin's view of the audit trail: every event, filtered, newest first,
//! a page at a time (`audit:read`).

use crate::access::{AccessControl, Principal, permissions};
use crate::error::AppError;
use crate::ports::{AuditCursor, AuditFilter, AuditLog};
use portcullis_domain::audit::{AuditEvent, RequestContext};
use std::sync::Arc;

/// A page of events and where the next one starts (`None`: the last page).
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<AuditCursor>,
}

#[derive(Clone)]
pub struct AuditQuery {
    log: Arc<dyn AuditLog>,
    access: AccessControl,
}

impl AuditQuery {
    pub fn new(log: Arc<dyn AuditLog>, access: AccessControl) -> Self {
        Self { log, access }
    }

    pub async fn page(
        &self,
        caller: &Principal,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
        ctx: &RequestContext,
    ) -> Result<AuditPage, AppError> {
        self.access.require(caller, &permissions::AUDIT_READ, ctx).await?;
        let limit = limit.clamp(1, 200);
        let events = self.log.query(filter, after, limit + 1).await?;
        let (events, next) = crate::paging::page_of(events, limit as usize, |e| AuditCursor {
            occurred_at: e.occurred_at,
            id: e.id,
        });
        Ok(AuditPage { events, next })
    }
}
