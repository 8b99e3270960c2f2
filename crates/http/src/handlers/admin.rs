//! `/api/v1/admin/*`: queue statistics and dead-letter retries. Restricted to
//! the users listed in ADMIN_EMAILS whose address is verified (until roles exist).

use crate::dto::{DeadJobItem, QueueReport, QueuesResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use portcullis_application::AppError;
use portcullis_application::ports::JobQueue;
use portcullis_domain::jobs::JobId;
use std::sync::Arc;
use uuid::Uuid;

/// The application decides whether the caller is an administrator (and
/// audits a refusal); returns the queue.
async fn admin_queue(
    state: &AppState,
    user: &AuthUser,
    client: &Client,
) -> Result<Arc<dyn JobQueue>, ApiError> {
    state.auth.require_admin(user.0.user_id, &client.0).await?;
    state.jobs.clone().ok_or_else(|| AppError::NotFound("job queue").into())
}

/// Statistics of every queue, with its most recent dead jobs.
#[utoipa::path(
    get, path = "/api/v1/admin/queues", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = QueuesResponse),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: not in ADMIN_EMAILS", body = ErrorEnvelope),
    )
)]
pub async fn queues(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let queue = admin_queue(&state, &user, &client).await?;
    let mut reports = Vec::new();
    for name in queue.queues().await.map_err(AppError::from)? {
        let stats = queue.stats(&name).await.map_err(AppError::from)?;
        let dead = queue.dead_jobs(&name, 20).await.map_err(AppError::from)?;
        reports.push(QueueReport {
            name,
            pending: stats.pending,
            scheduled: stats.scheduled,
            running: stats.running,
            completed: stats.completed,
            dead: stats.dead,
            dead_jobs: dead.iter().map(DeadJobItem::from_dead).collect(),
        });
    }
    Ok(HttpResponse::Ok().json(QueuesResponse { queues: reports }))
}

/// Move a dead job back to the queue with a fresh retry budget.
#[utoipa::path(
    post, path = "/api/v1/admin/queues/{queue}/dead/{id}/retry", tag = "admin",
    security(("bearer" = [])),
    params(("queue" = String, Path, description = "Queue name"), ("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 204, description = "Queued again"),
        (status = 403, description = "FORBIDDEN", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such dead job", body = ErrorEnvelope),
    )
)]
pub async fn retry_dead(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let queue = admin_queue(&state, &user, &client).await?;
    let (name, id) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::App(AppError::NotFound("dead job")))?;
    if queue.retry_dead(&name, JobId(id)).await.map_err(AppError::from)? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AppError::NotFound("dead job").into())
    }
}
