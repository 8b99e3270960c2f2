//! Health, metrics and the JWKS.

use crate::dto::HealthResponse;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::future::join_all;
use portcullis_application::AppError;
use portcullis_domain::secret::{Secret, TokenHash};
use serde_json::{Map, Value};
use std::time::Duration;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "meta", responses((status = 200, body = HealthResponse)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse { status: "ok", checks: Value::Object(Map::new()) })
}

/// Readiness: every configured backend answers within 2 s.
#[utoipa::path(
    get, path = "/health/ready", tag = "meta",
    responses(
        (status = 200, body = HealthResponse),
        (status = 503, description = "NOT_READY; details.checks names the failing backend", body = ErrorEnvelope),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let results = join_all(state.health.iter().map(|check| async move {
        let outcome = match tokio::time::timeout(Duration::from_secs(2), check.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(portcullis_application::error::chain(&error)),
            Err(_) => Err("timed out after 2s".to_owned()),
        };
        (check.name(), outcome)
    }))
    .await;
    let mut checks = Map::new();
    let mut healthy = true;
    for (name, outcome) in results {
        let value = match outcome {
            Ok(()) => "ok".to_owned(),
            Err(reason) => {
                healthy = false;
                tracing::warn!(backend = name, %reason, "readiness check failed");
                "unavailable".to_owned()
            }
        };
        checks.insert(name.to_owned(), Value::String(value));
    }
    if healthy {
        Ok(HttpResponse::Ok().json(HealthResponse { status: "ok", checks: Value::Object(checks) }))
    } else {
        Err(ApiError::NotReady { checks: Value::Object(checks) })
    }
}

/// Readiness under the path load balancers and most clients probe by
/// default: the same answer as `/health/ready`.
#[utoipa::path(
    get, path = "/health", tag = "meta",
    responses(
        (status = 200, body = HealthResponse),
        (status = 503, description = "NOT_READY; details.checks names the failing backend", body = ErrorEnvelope),
    )
)]
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    ready(state).await
}

/// Prometheus text format. With `METRICS_BEARER_TOKEN` set, only for
/// `Authorization: Bearer <that token>`.
#[utoipa::path(
    get, path = "/metrics", tag = "meta",
    security((), ("metrics_bearer" = [])),
    responses(
        (status = 200, description = "Prometheus metrics", content_type = "text/plain"),
        (status = 401, description = "UNAUTHORIZED: METRICS_BEARER_TOKEN is set and the request does not carry it", body = ErrorEnvelope),
    )
)]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = &state.metrics_token {
        let presented = crate::extract::bearer(&req).ok().map(|t| TokenHash::of(&Secret::new(t)));
        // TokenHash equality is constant-time; hashing first hides the length.
        if presented.as_ref() != Some(expected) {
            return Err(AppError::Unauthorized.into());
        }
    }
    refresh_queue_depth(&state, state.jobs.as_ref()).await;
    if let Ok(counts) = state.files.status_counts().await {
        for status in portcullis_domain::files::FileStatus::ALL {
            let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
            state.metrics.files_by_status.with_label_values(&[status.as_str()]).set(n as i64);
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render()))
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "JSON Web Key Set")))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(state.keys.jwks())
}

async fn refresh_queue_depth(state: &AppState, jobs: &dyn portcullis_application::ports::JobQueue) {
    let Ok(names) = jobs.queues().await else { return };
    for name in names {
        if let Ok(stats) = jobs.stats(&name).await {
            for (label, value) in [
                ("pending", stats.pending),
                ("scheduled", stats.scheduled),
                ("running", stats.running),
                ("dead", stats.dead),
            ] {
                state.metrics.queue_depth.with_label_values(&[name.as_str(), label]).set(value as i64);
            }
        }
    }
}
