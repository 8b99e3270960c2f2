//! Rate limiting. The middleware limits every API request per client IP, by
//! route class (credential routes get the strict `RATE_LIMIT_AUTH_*` budget,
//! the rest `RATE_LIMIT_*`); handlers and the auth extractor add per-email and
//! per-user limits with [`enforce`]. The response carries the
//! `X-RateLimit-*` headers of the tightest limit that applied.

use crate::error::{ApiError, retry_seconds};
use crate::limits::{KeyKind, RouteClass};
use crate::request_id::AuthenticatedUserId;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use portcullis_application::ports::{AccessClaims, RateLimitDecision, RateLimitKey};
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
    enforce_all(req, state, class, &[(key_kind, key)], user_id).await
}

/// [`enforce`] for several budgets of `class` at once (one limiter round
/// trip): each is counted; the request is refused when any is spent.
pub async fn enforce_all(
    req: &HttpRequest,
    state: &AppState,
    class: RouteClass,
    budgets: &[(KeyKind, &str)],
    user_id: Option<UserId>,
) -> Result<(), ApiError> {
    let high_trust = req.extensions().get::<crate::limits::HighTrust>().is_some();
    let limit = state.rate_limits.limit(class, high_trust);
    let full_keys: Vec<String> =
        budgets.iter().map(|(kind, key)| format!("{}:{}:{key}", class.budget(), kind.as_str())).collect();
    let keys: Vec<RateLimitKey<'_>> = full_keys
        .iter()
        .map(|key| RateLimitKey { key, limit: limit.max_requests, window: limit.window })
        .collect();
    let decisions = match state.rate_limiter.hit_all(&keys).await {
        Ok(d) => d,
        Err(error) => {
            tracing::error!(%error, "rate limiter failed; request allowed");
            return Ok(());
        }
    };
    {
        let mut extensions = req.extensions_mut();
        match extensions.get_mut::<Decisions>() {
            Some(recorded) => recorded.0.extend_from_slice(&decisions),
            None => {
                extensions.insert(Decisions(decisions.clone()));
            }
        }
    }
    let mut retry_after = None;
    for ((decision, full_key), (kind, _)) in decisions.iter().zip(&full_keys).zip(budgets) {
        if decision.allowed {
            continue;
        }
        let key_kind = kind.as_str();
        state.metrics.rate_limited.with_label_values(&[class.name(), key_kind]).inc();
        // Audited once a minute per key: a flood of refusals is not a flood
        // of audit writes. The same context (capped user agent) as every
        // other event.
        let ctx = crate::caller::context(req);
        let details = json!({ "class": class.name(), "key_kind": key_kind, "path": req.path(), "limit": limit.max_requests });
        state.audit.record_deduped(full_key, AuditAction::RateLimitExceeded, user_id, &ctx, details).await;
        retry_after = retry_after.max(Some(decision.reset_after));
    }
    match retry_after {
        None => Ok(()),
        Some(retry_after) => Err(ApiError::RateLimited { retry_after }),
    }
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
fn verified(req: &HttpRequest, state: &AppState) -> Option<AccessClaims> {
    let token = crate::caller::bearer(req).ok()?;
    state.keys.verify(&token, state.sign_in.clock.now()).ok()
}

/// Admits the claims [`verified`] found (signature and expiry checked),
/// before the route runs, so that the per-user budget is counted in the same
/// limiter call as the per-source one. `None` when they are refused: the
/// route's own `extract::authenticate` then answers the refusal (from the
/// recorded `VerifiedToken`), audited as usual.
async fn admit_verified(req: &HttpRequest, state: &AppState, claims: AccessClaims) -> Option<AccessClaims> {
    let ctx = crate::caller::context(req);
    let claims = state.sign_in.admit(claims, &ctx).await.ok()?;
    req.extensions_mut().insert(AuthenticatedUserId(claims.user_id));
    req.extensions_mut().insert(crate::limits::Authenticated(claims.clone()));
    Some(claims)
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
            // A token that is also unrevoked (an in-process check) is counted
            // against its user's budget in the same limiter round trip as
            // the source's; a revoked one never spends its user's budget.
            let admitted = match verified(req.request(), &state) {
                Some(claims) => {
                    req.extensions_mut().insert(crate::limits::VerifiedToken(claims.clone()));
                    admit_verified(req.request(), &state, claims).await
                }
                None => None,
            };
            match admitted {
                Some(claims) => {
                    if portcullis_domain::trust::TrustScore::is_high_value(claims.trust_score) {
                        req.extensions_mut().insert(crate::limits::HighTrust);
                    }
                    let ip = limit_key(&crate::caller::client_ip(
                        req.request(),
                        &state.rate_limits.trusted_proxies,
                    ));
                    let user = claims.user_id.to_string();
                    let budgets = [(KeyKind::Source, ip.as_str()), (KeyKind::User, user.as_str())];
                    enforce_all(req.request(), &state, class, &budgets, Some(claims.user_id)).await
                }
                None => enforce_source(req.request(), &state, class).await,
            }
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
