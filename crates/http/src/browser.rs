//! What a browser front end on another origin needs, and what keeps a
//! browser safe when it talks to us: CORS (actix-cors, exact origins from
//! `CORS_ALLOWED_ORIGINS`), security headers on every response (errors
//! included), and a deadline for handlers (`REQUEST_TIMEOUT`).

use crate::error::ApiError;
use crate::state::{AppState, BrowserSettings};
use actix_cors::{Cors, CorsError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

/// Headers a browser may send cross-origin, and those it may read back.
const ALLOWED_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("x-device-id"),
];
const EXPOSED_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
    header::RETRY_AFTER,
];

/// The CORS middleware: only the listed origins, each exactly; credentials
/// (cookies, `Authorization`) allowed for them alone — never a wildcard. A
/// request from any other origin is served without CORS headers (the browser
/// withholds the answer); a preflight from one is refused (see
/// [`security_headers`] for the envelope).
pub fn cors(settings: &BrowserSettings) -> Cors {
    let cors = settings
        .cors_allowed_origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
    cors.allowed_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .supports_credentials()
        .max_age(3600)
}

/// An API answer: nothing to render, nothing to embed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The Swagger UI page: its own scripts and styles (it sets some inline), its
/// images and the OpenAPI document from this origin.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The mailed-link pages: a form posting to this origin, no scripts.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What the matched route serves, for its content security policy. Decided
/// from the route pattern that matched (never from the raw path).
fn policy_for(pattern: Option<&str>) -> &'static str {
    match pattern {
        Some(p) if p.starts_with("/docs/") => DOCS_CSP,
        Some("/verify-email" | "/reset-password" | "/magic-link") => PAGE_CSP,
        _ => API_CSP,
    }
}

/// Outer middleware of the app: turns a CORS refusal into the envelope and
/// sets the security headers on every response, errors included.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let hsts = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.browser.hsts);
    let mut response = next.call(req).await?.map_into_boxed_body();
    let refused = response.response().error().and_then(|e| e.as_error::<CorsError>()).map(cors_refusal);
    if let Some(error) = refused {
        let (request, _) = response.into_parts();
        response = ServiceResponse::new(request, error.error_response());
    }
    let pattern = response.request().match_pattern();
    let csp = policy_for(pattern.as_deref());
    let headers = response.headers_mut();
    // "Credentials allowed only for listed origins": actix-cors adds
    // Allow-Credentials even where it withheld Allow-Origin.
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    let set = |headers: &mut header::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CROSS_ORIGIN_OPENER_POLICY, "same-origin");
    set(headers, header::CONTENT_SECURITY_POLICY, csp);
    if hsts {
        set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    Ok(response)
}

fn cors_refusal(error: &CorsError) -> ApiError {
    let reason = match error {
        CorsError::OriginNotAllowed => "origin_not_allowed",
        CorsError::MethodNotAllowed | CorsError::BadRequestMethod | CorsError::MissingRequestMethod => {
            "method_not_allowed"
        }
        CorsError::HeadersNotAllowed | CorsError::BadRequestHeaders => "headers_not_allowed",
        _ => "bad_preflight",
    };
    ApiError::CorsRefused { reason }
}

/// Route middleware: a handler that has not answered within the deadline
/// (`REQUEST_TIMEOUT`) is dropped and the client gets 503 `REQUEST_TIMEOUT`.
/// Routes that stream a request body (uploads) are registered without it:
/// their pace is the body deadline's business.
pub async fn handler_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(deadline) = req.app_data::<web::Data<AppState>>().map(|s| s.request_timeout) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let request = req.request().clone();
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "handler cut off at the request deadline"
            );
            Ok(ServiceResponse::new(request, ApiError::HandlerTimeout.error_response()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_the_matched_route() {
        assert_eq!(policy_for(Some("/docs/{_:.*}")), DOCS_CSP);
        assert_eq!(policy_for(Some("/reset-password")), PAGE_CSP);
        assert_eq!(policy_for(Some("/api/v1/auth/me")), API_CSP);
        assert_eq!(policy_for(None), API_CSP);
        assert!(API_CSP.contains("frame-ancestors 'none'"));
    }
}
