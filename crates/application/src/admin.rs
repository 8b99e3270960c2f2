//! Operator use cases: queue statistics and dead-letter retries. Each checks
//! its permission first; the handlers only parse, call and map.

use crate::access::{AccessControl, Principal, permissions};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{DeadJob, JobQueue, QueueStats};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::jobs::JobId;
use serde_json::json;
use std::sync::Arc;

/// One queue's statistics and its most recent dead jobs.
#[derive(Debug, Clone)]
pub struct QueueReport {
    pub name: String,
    pub stats: QueueStats,
    pub dead_jobs: Vec<DeadJob>,
}

#[derive(Clone)]
pub struct AdminService {
    access: AccessControl,
    jobs: Arc<dyn JobQueue>,
    audit: AuditTrail,
}

impl AdminService {
    pub fn new(access: AccessControl, jobs: Arc<dyn JobQueue>, audit: AuditTrail) -> Self {
        Self { access, jobs, audit }
    }

    /// Every queue with its statistics and up to 20 recent dead jobs.
    pub async fn queues(
        &self,
        caller: &Principal,
        ctx: &RequestContext,
    ) -> Result<Vec<QueueReport>, AppError> {
        self.access.require(caller, &permissions::QUEUES_READ, ctx).await?;
        let mut reports = Vec::new();
        for name in self.jobs.queues().await? {
            let stats = self.jobs.stats(&name).await?;
            let dead_jobs = self.jobs.dead_jobs(&name, 20).await?;
            reports.push(QueueReport { name, stats, dead_jobs });
        }
        Ok(reports)
    }

    /// Moves a dead job back to its queue with a fresh retry budget.
    pub async fn retry_dead(
        &self,
        caller: &Principal,
        queue: &str,
        id: JobId,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        self.access.require(caller, &permissions::QUEUES_WRITE, ctx).await?;
        if !self.jobs.retry_dead(queue, id).await? {
            return Err(AppError::NotFound("dead job"));
        }
        let details = json!({ "queue": queue, "job_id": id.0, "before": { "state": "dead" }, "after": { "state": "pending" } });
        self.audit.record(AuditAction::JobRetried, Some(caller.user_id), ctx, details).await;
        Ok(())
    }
}
