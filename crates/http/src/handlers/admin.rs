//! `/api/v1/admin/*`: queue statistics and dead-letter retries. The
//! application decides who may (`AccessControl`); these handlers parse, call
//! and map.

use crate::dto::{DeadJobItem, QueueReport, QueuesResponse};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use portcullis_application::AppError;
use portcullis_domain::jobs::JobId;
use uuid::Uuid;

/// Statistics of every queue, with its most recent dead jobs.
#[utoipa::path(
    get, path = "/api/v1/admin/queues", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = QueuesResponse),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs queues:read", body = ErrorEnvelope),
    )
)]
pub async fn queues(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let reports = state.admin.queues(&caller.0, &client.0).await?;
    let queues = reports
        .into_iter()
        .map(|r| QueueReport {
            pending: r.stats.pending,
            scheduled: r.stats.scheduled,
            running: r.stats.running,
            completed: r.stats.completed,
            dead: r.stats.dead,
            dead_jobs: r.dead_jobs.iter().map(DeadJobItem::from_dead).collect(),
            name: r.name,
        })
        .collect();
    Ok(HttpResponse::Ok().json(QueuesResponse { queues }))
}

/// Move a dead job back to the queue with a fresh retry budget.
#[utoipa::path(
    post, path = "/api/v1/admin/queues/{queue}/dead/{id}/retry", tag = "admin",
    security(("bearer" = [])),
    params(("queue" = String, Path, description = "Queue name"), ("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 204, description = "Queued again"),
        (status = 403, description = "FORBIDDEN: needs queues:write", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such dead job", body = ErrorEnvelope),
    )
)]
pub async fn retry_dead(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::App(AppError::NotFound("dead job")))?;
    state.admin.retry_dead(&caller.0, &name, JobId(id), &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
