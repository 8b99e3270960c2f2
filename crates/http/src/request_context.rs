//! Per-request identity and the access log.
//!
//! The outermost middleware makes the request id (always ours: a client's
//! `X-Request-Id`, if it is a sane token, is logged as `client_request_id`
//! but never used for correlation, so a client cannot make its requests look
//! like someone else's), runs the rest of the chain inside a tracing span
//! carrying it (so every log line of the request has it) and inside a
//! task-local that error responses read to fill the envelope, returns it in
//! `X-Request-Id`, records metrics and writes one log line per request, with
//! the client's address.

use crate::request_id::{
    AuthenticatedUserId, META, REQUEST_ID_HEADER, RequestId, RequestMeta, acceptable_request_id,
};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use futures_util::FutureExt;
use std::time::Instant;
use tracing::Instrument;

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let client_request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned);
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let client_ip = match req.app_data::<web::Data<AppState>>() {
        Some(state) => crate::caller::client_ip(req.request(), &state.rate_limits.trusted_proxies),
        None => crate::caller::client_ip(req.request(), &Default::default()),
    };
    let meta = RequestMeta {
        request_id: request_id.clone(),
        path: req.path().to_owned(),
        method: req.method().to_string(),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        client_request_id = client_request_id.as_deref(),
        method = %meta.method,
        path = %meta.path
    );
    let started = Instant::now();

    // A panicking handler must still answer the standard 500 envelope, and be
    // logged (with the request id, as JSON like every other line).
    let call = std::panic::AssertUnwindSafe(next.call(req).instrument(span.clone())).catch_unwind();
    let result = match META.scope(meta.clone(), call).await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic payload".to_owned());
            tracing::error!(parent: &span, request_id = %request_id, panic = %what, "handler panicked");
            let error = crate::error::ApiError::App(portcullis_application::AppError::Internal(
                format!("handler panicked: {what}").into(),
            ));
            let rendered = META.sync_scope(meta.clone(), || actix_web::ResponseError::error_response(&error));
            return Err(PrerenderedError::capture(rendered, &request_id).await.into());
        }
    };
    let mut response = match result {
        Ok(res) => res.map_into_boxed_body(),
        // Inner layers turn their errors into responses themselves, so this is
        // a rare path; the request is gone by now (routing needs it unshared),
        // so the envelope is rendered here and returned as a finished error.
        Err(err) => {
            let rendered = META.sync_scope(meta.clone(), || err.error_response());
            return Err(PrerenderedError::capture(rendered, &request_id).await.into());
        }
    };

    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
        let labels = [meta.method.as_str(), route.as_str(), &status.to_string()];
        state.metrics.http_requests.with_label_values(&labels).inc();
        state.metrics.http_duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        let failed = response.response().extensions().get::<crate::error::ServerErrorCode>().copied();
        use crate::error::ErrorCode;
        if let Some(code) = failed.filter(|c| !matches!(c.0, ErrorCode::Overloaded | ErrorCode::NotReady)) {
            state.metrics.backend_errors.with_label_values(&[code.0.as_str()]).inc();
        }
    }
    let user_id = response.request().extensions().get::<AuthenticatedUserId>().map(|u| u.0.to_string());
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(
        target: "access",
        parent: &span,
        method = %meta.method,
        path = %meta.path,
        route = %route,
        status,
        duration_ms,
        user_id,
        client_ip = %client_ip,
        request_id = %request_id,
        client_request_id = client_request_id.as_deref(),
        "request completed"
    );
    Ok(response)
}

/// An error response rendered in advance (status, headers, body), replayed by
/// actix when it turns the error into the response.
#[derive(Debug)]
struct PrerenderedError {
    status: actix_web::http::StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: actix_web::web::Bytes,
}

impl PrerenderedError {
    async fn capture(response: actix_web::HttpResponse, request_id: &str) -> Self {
        let status = response.status();
        let mut headers: Vec<(HeaderName, HeaderValue)> =
            response.headers().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.push((REQUEST_ID_HEADER, value));
        }
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
        Self { status, headers, body }
    }
}

impl std::fmt::Display for PrerenderedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request failed with status {}", self.status)
    }
}

impl actix_web::ResponseError for PrerenderedError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.status
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut response = actix_web::HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.body.clone())
    }
}
