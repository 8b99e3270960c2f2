//! The one place errors become HTTP: every error has a stable code and a
//! status (the `ErrorCode` table), and every error response is the envelope
//! `{"error": {"code", "message", "details"}, "request_id", "timestamp",
//! "path", "method"}`. Internal details are logged, never sent.

use crate::request_id::RequestMeta;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use portcullis_application::AppError;
use portcullis_domain::ValidationErrors;
use serde::Serialize;
use serde_json::{Value, json};
use time::Duration;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Every error the API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("the request body is malformed: {0}")]
    BadRequest(String),
    #[error("no route matches this path")]
    NotFound,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed { allow: actix_web::http::Method },
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("service not ready")]
    NotReady { checks: Value },
    #[error("the request body did not arrive in time")]
    RequestTimeout,
}

impl From<ValidationErrors> for ApiError {
    fn from(value: ValidationErrors) -> Self {
        Self::App(AppError::Validation(value))
    }
}

/// Status and stable machine-readable code of an error (meilisearch's
/// `ErrorCode` idea): clients switch on the code, never on the message.
pub trait ErrorCode {
    fn status(&self) -> StatusCode;
    fn code(&self) -> &'static str;
}

impl ErrorCode for ApiError {
    fn status(&self) -> StatusCode {
        use AppError as A;
        match self {
            Self::App(e) => match e {
                A::Validation(_) => StatusCode::BAD_REQUEST,
                A::EmailTaken => StatusCode::CONFLICT,
                A::InvalidCredentials
                | A::RefreshTokenReused
                | A::Unauthorized
                | A::InvalidToken
                | A::TokenExpired => StatusCode::UNAUTHORIZED,
                A::AccountLocked { .. } => StatusCode::LOCKED,
                A::EmailNotVerified | A::Forbidden => StatusCode::FORBIDDEN,
                A::Overloaded { .. } | A::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                A::NotFound(_) => StatusCode::NOT_FOUND,
                A::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn code(&self) -> &'static str {
        use AppError as A;
        match self {
            Self::App(e) => match e {
                A::Validation(_) => "VALIDATION_ERROR",
                A::EmailTaken => "EMAIL_TAKEN",
                A::InvalidCredentials => "INVALID_CREDENTIALS",
                A::AccountLocked { .. } => "ACCOUNT_LOCKED",
                A::EmailNotVerified => "EMAIL_NOT_VERIFIED",
                A::Forbidden => "FORBIDDEN",
                A::Overloaded { .. } => "OVERLOADED",
                A::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
                A::Unauthorized => "UNAUTHORIZED",
                A::InvalidToken => "INVALID_TOKEN",
                A::TokenExpired => "TOKEN_EXPIRED",
                A::NotFound(_) => "NOT_FOUND",
                A::Unavailable(_) => "SERVICE_UNAVAILABLE",
                A::Internal(_) => "INTERNAL_ERROR",
            },
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::NotReady { .. } => "NOT_READY",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
        }
    }
}

impl ApiError {
    /// What the client is told. Server-side failures get a fixed message: the
    /// real cause goes to the log only.
    fn public_message(&self) -> String {
        match self {
            Self::App(AppError::Internal(_)) => "an internal error occurred".to_owned(),
            Self::App(AppError::Unavailable(_)) => {
                "a backend service is unavailable; try again shortly".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::App(AppError::Validation(errors)) => json!(
                errors
                    .0
                    .iter()
                    .map(|v| json!({ "field": v.field, "code": v.code, "message": v.message }))
                    .collect::<Vec<_>>()
            ),
            Self::App(AppError::AccountLocked { retry_after } | AppError::Overloaded { retry_after })
            | Self::RateLimited { retry_after } => {
                json!({ "retry_after_seconds": retry_seconds(*retry_after) })
            }
            Self::PayloadTooLarge { limit } => json!({ "limit_bytes": limit }),
            Self::NotReady { checks } => json!({ "checks": checks }),
            _ => Value::Null,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::App(AppError::AccountLocked { retry_after } | AppError::Overloaded { retry_after })
            | Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Whole seconds, rounded up, at least 1: a client that waits this long is
/// not turned away again for the same reason.
pub fn retry_seconds(d: Duration) -> i64 {
    let ms = d.whole_milliseconds().max(0);
    ((ms + 999) / 1000).max(1) as i64
}

/// Set on 5xx responses, for `backend_errors_total{code}`.
#[derive(Debug, Clone, Copy)]
pub struct ServerErrorCode(pub &'static str);

/// The error envelope (schema for the API docs).
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
    /// Same as the `X-Request-Id` response header.
    pub request_id: String,
    /// RFC 3339.
    pub timestamp: String,
    pub path: String,
    pub method: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `VALIDATION_ERROR`.
    pub code: String,
    pub message: String,
    /// Per-code structure: a list of field violations for `VALIDATION_ERROR`,
    /// `retry_after_seconds` for throttling codes, otherwise null.
    pub details: Value,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        match self {
            // Back-pressure, not a fault: a flood must not become a log flood
            // (http_requests_total{status="503"} counts them).
            Self::App(AppError::Overloaded { .. }) | Self::NotReady { .. } => {
                tracing::debug!(code = self.code(), "request refused")
            }
            _ if status.is_server_error() => {
                match crate::log_throttle::BACKEND_ERRORS.note(std::time::Instant::now()) {
                    crate::log_throttle::Verdict::Log { suppressed: 0 } => {
                        tracing::error!(code = self.code(), error = %self, "request failed")
                    }
                    crate::log_throttle::Verdict::Log { suppressed } => tracing::error!(
                        code = self.code(),
                        error = %self,
                        suppressed,
                        "request failed ({suppressed} more server errors in the last window were counted, not logged)"
                    ),
                    crate::log_throttle::Verdict::Quiet => {}
                }
            }
            _ => {}
        }
        let meta = RequestMeta::current();
        let envelope = ErrorEnvelope {
            error: ErrorBody {
                code: self.code().to_owned(),
                message: self.public_message(),
                details: self.details(),
            },
            request_id: meta.request_id.clone(),
            timestamp: time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
            path: meta.path.clone(),
            method: meta.method.clone(),
        };
        let mut response = HttpResponse::build(status);
        if let Some(retry) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, retry_seconds(retry).to_string()));
        }
        if matches!(self, Self::App(AppError::Unauthorized | AppError::InvalidToken | AppError::TokenExpired))
        {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Self::MethodNotAllowed { allow } = self
            && let Ok(value) = HeaderValue::from_str(allow.as_str())
        {
            response.insert_header((header::ALLOW, value));
        }
        if matches!(self, Self::RequestTimeout) {
            // The rest of the body is never read: the connection cannot be reused.
            response.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
        }
        let mut response = response.json(envelope);
        if status.is_server_error() {
            response.extensions_mut().insert(ServerErrorCode(self.code()));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_seconds_rounds_up() {
        assert_eq!(retry_seconds(Duration::milliseconds(1)), 1);
        assert_eq!(retry_seconds(Duration::milliseconds(1001)), 2);
        assert_eq!(retry_seconds(Duration::ZERO), 1);
        assert_eq!(retry_seconds(Duration::minutes(15)), 900);
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let e = ApiError::App(AppError::Internal("connection string postgres://secret".into()));
        assert_eq!(e.public_message(), "an internal error occurred");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "INTERNAL_ERROR");
    }
}
