//! Rate limiting. The middleware limits every API request per client IP, by
//! route class (credential routes get the strict `RATE_LIMIT_AUTH_*` budget,
//! the rest `RATE_LIMIT_*`); handlers and the auth extractor add per-email and
//! per-user limits with [`enforce`]. The response carries the
//! `X-RateLimit-*` headers of the tightest limit that applied.

use crate::error::{ApiError, retry_seconds};
use crate::request_meta::RequestId;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use portcullis_application::ports::RateLimitDecision;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::UserId;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_requests: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub general: Limit,
    pub auth: Limit,
    /// Take the client address from `Forwarded` / `X-Forwarded-For` (only
    /// behind a proxy that sets them; otherwise clients could pick their key).
    pub trust_proxy_headers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Auth,
    General,
}

impl RouteClass {
    /// Credential-guessing targets get the strict budget.
    pub fn of(path: &str) -> Self {
        const AUTH: [&str; 7] = [
            "/api/v1/auth/register",
            "/api/v1/auth/login",
            "/api/v1/auth/password/forgot",
            "/api/v1/auth/password/reset",
            "/api/v1/auth/magic-link",
            "/api/v1/auth/magic-link/verify",
            "/api/v1/auth/verify-email/resend",
        ];
        if AUTH.contains(&path.trim_end_matches('/')) { Self::Auth } else { Self::General }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::General => "general",
        }
    }
}

impl RateLimitSettings {
    pub fn limit(&self, class: RouteClass) -> Limit {
        match class {
            RouteClass::Auth => self.auth,
            RouteClass::General => self.general,
        }
    }
}

/// Decisions taken for this request, tightest chosen for the headers.
#[derive(Default)]
struct Decisions(Vec<RateLimitDecision>);

pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> String {
    let info = req.connection_info();
    let addr = if trust_proxy_headers { info.realip_remote_addr() } else { info.peer_addr() };
    addr.map_or_else(|| "unknown".to_owned(), |a| strip_port(a).to_owned())
}

fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    }
}

/// Audits at most one rate-limit event per key per minute, so a flood of
/// rejected requests cannot turn into a flood of audit writes.
#[derive(Default)]
pub struct AuditDedupe(Mutex<HashMap<String, Instant>>);

impl AuditDedupe {
    fn first_in_a_while(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, at| now.duration_since(*at).as_secs() < 60);
        }
        match seen.get(key) {
            Some(at) if now.duration_since(*at).as_secs() < 60 => false,
            _ => {
                seen.insert(key.to_owned(), now);
                true
            }
        }
    }
}

/// Counts one request against `key` in `class`; records the decision for the
/// response headers and returns `RateLimited` when over the limit. A limiter
/// failure lets the request through (logged): availability over strictness.
pub async fn enforce(
    req: &HttpRequest,
    state: &AppState,
    class: RouteClass,
    key_kind: &'static str,
    key: &str,
    user_id: Option<UserId>,
) -> Result<(), ApiError> {
    let limit = state.rate_limits.limit(class);
    let full_key = format!("{}:{key_kind}:{key}", class.name());
    let decision = match state.rate_limiter.hit(&full_key, limit.max_requests, limit.window).await {
        Ok(d) => d,
        Err(error) => {
            tracing::error!(%error, "rate limiter failed; request allowed");
            return Ok(());
        }
    };
    {
        let mut extensions = req.extensions_mut();
        match extensions.get_mut::<Decisions>() {
            Some(decisions) => decisions.0.push(decision),
            None => {
                extensions.insert(Decisions(vec![decision]));
            }
        }
    }
    if decision.allowed {
        return Ok(());
    }
    state.metrics.rate_limited.with_label_values(&[class.name(), key_kind]).inc();
    if state.audit_dedupe.first_in_a_while(&full_key) {
        let ctx = RequestContext {
            ip: Some(client_ip(req, state.rate_limits.trust_proxy_headers)),
            user_agent: req.headers().get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_owned),
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        };
        let details = json!({ "class": class.name(), "key_kind": key_kind, "path": req.path(), "limit": limit.max_requests });
        state.auth.audit_trail().record(AuditAction::RateLimitExceeded, user_id, &ctx, details).await;
    }
    Err(ApiError::RateLimited { retry_after: decision.reset_after })
}

/// The per-email budget of the credential routes. The key is normalised like
/// an account's email, so case and whitespace variants share one budget.
pub async fn enforce_email(req: &HttpRequest, state: &AppState, raw_email: &str) -> Result<(), ApiError> {
    enforce(req, state, RouteClass::Auth, "email", &raw_email.trim().to_lowercase(), None).await
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Middleware for the `/api` scope: the per-IP limit, then the headers.
pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let class = RouteClass::of(req.path());
    let ip = client_ip(req.request(), state.rate_limits.trust_proxy_headers);
    let mut response = match enforce(req.request(), &state, class, "ip", &ip, None).await {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(e) => req.error_response(e),
    };
    let tightest = response
        .request()
        .extensions()
        .get::<Decisions>()
        .and_then(|d| d.0.iter().min_by_key(|d| (d.allowed, d.remaining)).copied());
    if let Some(d) = tightest {
        let headers = response.headers_mut();
        let mut set = |name: HeaderName, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        set(LIMIT, d.limit.to_string());
        set(REMAINING, d.remaining.to_string());
        set(RESET, retry_seconds(d.reset_after).to_string());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(RouteClass::of("/api/v1/auth/login"), RouteClass::Auth);
        assert_eq!(RouteClass::of("/api/v1/auth/register/"), RouteClass::Auth);
        assert_eq!(RouteClass::of("/api/v1/auth/refresh"), RouteClass::General);
        assert_eq!(RouteClass::of("/api/v1/users/me"), RouteClass::General);
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("10.0.0.1:5555"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn audit_dedupe_once_per_minute() {
        let d = AuditDedupe::default();
        assert!(d.first_in_a_while("k"));
        assert!(!d.first_in_a_while("k"));
        assert!(d.first_in_a_while("other"));
    }
}
