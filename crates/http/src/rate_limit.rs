//! Rate limiting. The middleware limits every API request per client IP, by
//! route class (credential routes get the strict `RATE_LIMIT_AUTH_*` budget,
//! the rest `RATE_LIMIT_*`); handlers and the auth extractor add per-email and
//! per-user limits with [`enforce`]. The response carries the
//! `X-RateLimit-*` headers of the tightest limit that applied.

use crate::error::{ApiError, retry_seconds};
use crate::limits::{KeyKind, RouteClass};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use portcullis_application::ports::RateLimitDecision;
use portcullis_domain::audit::AuditAction;
use portcullis_domain::ids::UserId;
use serde_json::json;

/// Decisions taken for this request, tightest chosen for the headers.
#[derive(Default)]
struct Decisions(Vec<RateLimitDecision>);

/// The key a client is limited under (IPv6 by /64): see
/// [`portcullis_domain::source::source_key`].
pub fn limit_key(ip: &str) -> String {
    portcullis_domain::source::source_key(ip)
}

/// Counts one request against `key` in `class`; records the decision for the
/// response headers and returns `RateLimited` when over the limit. A limiter
/// failure lets the request through (logged): availability over strictness.
pub async fn enforce(
    req: &HttpRequest,
    state: &AppState,
    class: RouteClass,
    key_kind: KeyKind,
    key: &str,
    user_id: Option<UserId>,
) -> Result<(), ApiError> {
    let high_trust = req.extensions().get::<crate::limits::HighTrust>().is_some();
    let limit = state.rate_limits.limit(class, high_trust);
    let key_kind = key_kind.as_str();
    let full_key = format!("{}:{key_kind}:{key}", class.budget());
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
    // Audited once a minute per key: a flood of refusals is not a flood of
    // audit writes. The same context (capped user agent) as every other event.
    let ctx = crate::caller::context(req);
    let details = json!({ "class": class.name(), "key_kind": key_kind, "path": req.path(), "limit": limit.max_requests });
    state.audit.record_deduped(&full_key, AuditAction::RateLimitExceeded, user_id, &ctx, details).await;
    Err(ApiError::RateLimited { retry_after: decision.reset_after })
}

/// Counts the request against the per-source budget of its class.
pub async fn enforce_source(req: &HttpRequest, state: &AppState, class: RouteClass) -> Result<(), ApiError> {
    let ip = limit_key(&crate::caller::client_ip(req, &state.rate_limits.trusted_proxies));
    enforce(req, state, class, KeyKind::Source, &ip, None).await
}

/// The per-email budget of the credential route that matched (its class was
/// recorded by [`per_route`]). The key is normalised like an account's email,
/// so case and whitespace variants share one budget.
pub async fn enforce_email(req: &HttpRequest, state: &AppState, raw_email: &str) -> Result<(), ApiError> {
    let class =
        req.extensions().get::<RouteClass>().copied().unwrap_or(RouteClass::Credential("unclassified"));
    enforce(req, state, class, KeyKind::Email, &raw_email.trim().to_lowercase(), None).await
}

/// The claims of the request's bearer token when its signature and expiry
/// check out (its trust score, signed into it, picks the budget). The
/// revocation check is the route's; a token that fails it is refused anyway.
fn verified(req: &HttpRequest, state: &AppState) -> Option<portcullis_application::ports::AccessClaims> {
    let token = crate::caller::bearer(req).ok()?;
    state.keys.verify(&token, state.sign_in.clock.now()).ok()
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Middleware of every API route (registered with its class): the per-IP
/// limit of the class, then the headers.
pub async fn per_route(
    class: RouteClass,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    req.extensions_mut().insert(class);
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // A credential route's budget is spent once its body has been read and
    // validated (`ValidJson` calls `enforce_source`): a malformed request,
    // refused before any credential check, spends nothing.
    let counted_now = match class {
        RouteClass::Credential(_) => Ok(()),
        RouteClass::General => {
            if let Some(claims) = verified(req.request(), &state) {
                if portcullis_domain::trust::TrustScore::is_high_value(claims.trust_score) {
                    req.extensions_mut().insert(crate::limits::HighTrust);
                }
                req.extensions_mut().insert(crate::limits::VerifiedToken(claims));
            }
            enforce_source(req.request(), &state, class).await
        }
    };
    let mut response = match counted_now {
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

    /// ASVS review #2: IPv6 sources share a budget per /64.
    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        assert_eq!(limit_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(limit_key("2001:db8:1:3::1"), limit_key("2001:db8:1:2::1"));
        assert_eq!(limit_key("203.0.113.5"), "203.0.113.5");
        assert_eq!(limit_key("unknown"), "unknown");
    }
}
