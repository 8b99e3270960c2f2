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
use portcullis_domain::invitation::InvitationMismatch;
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
    /// `allow`: the methods the resource serves, for the `Allow` header.
    MethodNotAllowed { allow: String },
    #[error("the request body must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("service not ready")]
    NotReady { checks: Value },
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// The handler did not answer within `REQUEST_TIMEOUT` (503: retry).
    #[error("the server did not answer in time")]
    HandlerTimeout,
    /// A CORS preflight from an origin, or for a method or header, that
    /// `CORS_ALLOWED_ORIGINS` does not allow.
    #[error("cross-origin request refused: {reason}")]
    CorsRefused { reason: &'static str },
    /// A multipart upload without a part named `file`.
    #[error("the multipart body has no part named `file`")]
    FilePartMissing,
    /// A multipart upload with more than one part named `file`.
    #[error("the multipart body has more than one part named `file`")]
    MultipleFileParts,
    /// The body is not the multipart/form-data it must be, or it broke off.
    #[error("the multipart body is malformed or incomplete: {0}")]
    MalformedUpload(String),
}

impl From<ValidationErrors> for ApiError {
    fn from(value: ValidationErrors) -> Self {
        Self::App(AppError::Validation(value))
    }
}

/// Every code the API can answer with, with its status and default message:
/// the one table (meilisearch's error-code idea). Clients switch on the code,
/// never on the message; the OpenAPI document lists the codes as an enum, and
/// a test checks the README's list against this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    BadRequest,
    Unauthorized,
    InvalidToken,
    TokenExpired,
    InvalidCredentials,
    RefreshTokenReused,
    EmailNotVerified,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    EmailTaken,
    PayloadTooLarge,
    UnsupportedMediaType,
    AccountLocked,
    RateLimited,
    InternalError,
    Overloaded,
    ServiceUnavailable,
    NotReady,
    UnsupportedFileType,
    EmptyFile,
    FilePartMissing,
    MultipleFileParts,
    UploadIncomplete,
    QuotaExceeded,
    FileNotReady,
    UploadMissing,
    InvalidSignature,
    UrlExpired,
    RoleNameTaken,
    RoleProtected,
    AccountDisabled,
    InvalidCode,
    MfaChallengeInvalid,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    ReauthenticationRequired,
    WebauthnRefused,
    WebauthnCeremonyInvalid,
    OauthStateInvalid,
    OauthRefused,
    OauthEmailUnverified,
    OauthAccountLinked,
    LastSignInMethod,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 46] = [
        Self::ValidationError,
        Self::BadRequest,
        Self::Unauthorized,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::InvalidCredentials,
        Self::RefreshTokenReused,
        Self::EmailNotVerified,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::EmailTaken,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::AccountLocked,
        Self::RateLimited,
        Self::InternalError,
        Self::Overloaded,
        Self::ServiceUnavailable,
        Self::NotReady,
        Self::UnsupportedFileType,
        Self::EmptyFile,
        Self::FilePartMissing,
        Self::MultipleFileParts,
        Self::UploadIncomplete,
        Self::QuotaExceeded,
        Self::FileNotReady,
        Self::UploadMissing,
        Self::InvalidSignature,
        Self::UrlExpired,
        Self::RoleNameTaken,
        Self::RoleProtected,
        Self::AccountDisabled,
        Self::InvalidCode,
        Self::MfaChallengeInvalid,
        Self::MfaAlreadyEnabled,
        Self::MfaNotEnabled,
        Self::ReauthenticationRequired,
        Self::WebauthnRefused,
        Self::WebauthnCeremonyInvalid,
        Self::OauthStateInvalid,
        Self::OauthRefused,
        Self::OauthEmailUnverified,
        Self::OauthAccountLinked,
        Self::LastSignInMethod,
    ];

    /// (status, code, default message): the table.
    fn row(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::ValidationError => (S::BAD_REQUEST, "VALIDATION_ERROR", "validation failed"),
            Self::BadRequest => (S::BAD_REQUEST, "BAD_REQUEST", "the request is malformed"),
            Self::Unauthorized => (S::UNAUTHORIZED, "UNAUTHORIZED", "authentication required"),
            Self::InvalidToken => (S::UNAUTHORIZED, "INVALID_TOKEN", "token is invalid"),
            Self::TokenExpired => (S::UNAUTHORIZED, "TOKEN_EXPIRED", "token has expired"),
            Self::InvalidCredentials => (S::UNAUTHORIZED, "INVALID_CREDENTIALS", "invalid email or password"),
            Self::RefreshTokenReused => (
                S::UNAUTHORIZED,
                "REFRESH_TOKEN_REUSED",
                "refresh token was already used; the session has been revoked",
            ),
            Self::EmailNotVerified => {
                (S::FORBIDDEN, "EMAIL_NOT_VERIFIED", "the email address has not been verified yet")
            }
            Self::Forbidden => (S::FORBIDDEN, "FORBIDDEN", "not allowed"),
            Self::NotFound => (S::NOT_FOUND, "NOT_FOUND", "not found"),
            Self::MethodNotAllowed => {
                (S::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this method is not allowed on this path")
            }
            Self::RequestTimeout => {
                (S::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "the request body did not arrive in time")
            }
            Self::EmailTaken => (S::CONFLICT, "EMAIL_TAKEN", "an account with this email already exists"),
            Self::PayloadTooLarge => {
                (S::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "the request body is too large")
            }
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the request body has the wrong media type",
            ),
            Self::AccountLocked => (S::LOCKED, "ACCOUNT_LOCKED", "account temporarily locked"),
            Self::RateLimited => (S::TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests"),
            Self::InternalError => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "an internal error occurred"),
            Self::Overloaded => (S::SERVICE_UNAVAILABLE, "OVERLOADED", "server is busy"),
            Self::ServiceUnavailable => (
                S::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "a backend service is unavailable; try again shortly",
            ),
            Self::NotReady => (S::SERVICE_UNAVAILABLE, "NOT_READY", "service not ready"),
            Self::UnsupportedFileType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_FILE_TYPE",
                "the file's content is not one of the accepted types",
            ),
            Self::EmptyFile => (S::BAD_REQUEST, "EMPTY_FILE", "the file is empty"),
            Self::FilePartMissing => {
                (S::BAD_REQUEST, "FILE_PART_MISSING", "the multipart body has no part named `file`")
            }
            Self::MultipleFileParts => {
                (S::BAD_REQUEST, "MULTIPLE_FILE_PARTS", "send one part named `file` per request")
            }
            Self::UploadIncomplete => {
                (S::BAD_REQUEST, "UPLOAD_INCOMPLETE", "the upload is malformed or broke off")
            }
            Self::QuotaExceeded => (S::CONFLICT, "QUOTA_EXCEEDED", "the file quota is reached"),
            Self::FileNotReady => (S::CONFLICT, "FILE_NOT_READY", "the file is not ready"),
            Self::UploadMissing => (S::CONFLICT, "UPLOAD_MISSING", "nothing was uploaded to the URL yet"),
            Self::InvalidSignature => {
                (S::FORBIDDEN, "INVALID_SIGNATURE", "the link's signature is not valid")
            }
            Self::UrlExpired => (S::FORBIDDEN, "URL_EXPIRED", "the link has expired"),
            Self::RoleNameTaken => (S::CONFLICT, "ROLE_NAME_TAKEN", "a role with this name already exists"),
            Self::RoleProtected => {
                (S::CONFLICT, "ROLE_PROTECTED", "this change to a system role is not allowed")
            }
            Self::AccountDisabled => {
                (S::FORBIDDEN, "ACCOUNT_DISABLED", "this account is locked; ask an administrator")
            }
            Self::InvalidCode => (S::UNAUTHORIZED, "INVALID_CODE", "the code is not valid"),
            Self::MfaChallengeInvalid => (
                S::UNAUTHORIZED,
                "MFA_CHALLENGE_INVALID",
                "the sign-in challenge is unknown, answered or expired; sign in again",
            ),
            Self::MfaAlreadyEnabled => (S::CONFLICT, "MFA_ALREADY_ENABLED", "a second factor is on already"),
            Self::MfaNotEnabled => (S::CONFLICT, "MFA_NOT_ENABLED", "no second factor is on"),
            Self::ReauthenticationRequired => (
                S::UNAUTHORIZED,
                "REAUTHENTICATION_REQUIRED",
                "this needs a recent sign-in: reauthenticate, then try again",
            ),
            Self::WebauthnRefused => {
                (S::UNAUTHORIZED, "WEBAUTHN_REFUSED", "the authenticator's answer was refused")
            }
            Self::WebauthnCeremonyInvalid => (
                S::UNAUTHORIZED,
                "WEBAUTHN_CEREMONY_INVALID",
                "the passkey ceremony is unknown, finished or expired; start again",
            ),
            Self::OauthStateInvalid => (
                S::UNAUTHORIZED,
                "OAUTH_STATE_INVALID",
                "the sign-in request is unknown, used or expired; start again",
            ),
            Self::OauthRefused => (S::UNAUTHORIZED, "OAUTH_REFUSED", "the provider's answer was refused"),
            Self::OauthEmailUnverified => (
                S::CONFLICT,
                "OAUTH_EMAIL_UNVERIFIED",
                "the provider has not verified this email address; verify it there, or sign in and link the provider",
            ),
            Self::OauthAccountLinked => {
                (S::CONFLICT, "OAUTH_ACCOUNT_LINKED", "this provider account is linked to another user")
            }
            Self::LastSignInMethod => {
                (S::CONFLICT, "LAST_SIGN_IN_METHOD", "this is the account's last way to sign in")
            }
        }
    }

    pub fn status(self) -> StatusCode {
        self.row().0
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn default_message(self) -> &'static str {
        self.row().2
    }
}

impl ApiError {
    /// The code of this error: which row of the table answers it.
    pub fn code(&self) -> ErrorCode {
        use AppError as A;
        use ErrorCode as C;
        match self {
            Self::App(e) => match e {
                A::Validation(_) => C::ValidationError,
                A::EmailTaken => C::EmailTaken,
                A::InvalidCredentials => C::InvalidCredentials,
                A::AccountLocked { .. } => C::AccountLocked,
                A::EmailNotVerified => C::EmailNotVerified,
                A::Forbidden => C::Forbidden,
                A::Overloaded { .. } => C::Overloaded,
                A::RefreshTokenReused => C::RefreshTokenReused,
                A::Unauthorized => C::Unauthorized,
                A::InvalidToken => C::InvalidToken,
                A::TokenExpired => C::TokenExpired,
                A::NotFound(_) => C::NotFound,
                A::FileTooLarge { .. } => C::PayloadTooLarge,
                A::UnsupportedFileType { .. } => C::UnsupportedFileType,
                A::EmptyFile => C::EmptyFile,
                A::UploadInterrupted(_) => C::UploadIncomplete,
                A::QuotaExceeded { .. } => C::QuotaExceeded,
                A::FileNotReady { .. } => C::FileNotReady,
                A::UploadMissing => C::UploadMissing,
                A::InvalidSignature => C::InvalidSignature,
                A::UrlExpired => C::UrlExpired,
                A::RoleNameTaken => C::RoleNameTaken,
                A::RoleProtected(_) => C::RoleProtected,
                A::AccountDisabled => C::AccountDisabled,
                A::InvitationMismatch(InvitationMismatch::SignInRequired) => C::Unauthorized,
                A::InvitationMismatch(InvitationMismatch::OtherAccount) => C::Forbidden,
                A::InvalidCode => C::InvalidCode,
                A::ChallengeInvalid => C::MfaChallengeInvalid,
                A::MfaAlreadyEnabled => C::MfaAlreadyEnabled,
                A::MfaNotEnabled => C::MfaNotEnabled,
                A::ReauthenticationRequired => C::ReauthenticationRequired,
                A::WebauthnRefused(_) => C::WebauthnRefused,
                A::CeremonyInvalid => C::WebauthnCeremonyInvalid,
                A::OAuthStateInvalid => C::OauthStateInvalid,
                A::OAuthRefused(_) => C::OauthRefused,
                A::OAuthEmailUnverified => C::OauthEmailUnverified,
                A::OAuthAccountLinked => C::OauthAccountLinked,
                A::LastSignInMethod => C::LastSignInMethod,
                A::RateLimited { .. } => C::RateLimited,
                A::Unavailable(_) => C::ServiceUnavailable,
                A::Internal(_) => C::InternalError,
            },
            Self::BadRequest(_) => C::BadRequest,
            Self::NotFound => C::NotFound,
            Self::MethodNotAllowed { .. } => C::MethodNotAllowed,
            Self::UnsupportedMediaType { .. } => C::UnsupportedMediaType,
            Self::PayloadTooLarge { .. } => C::PayloadTooLarge,
            Self::RateLimited { .. } => C::RateLimited,
            Self::NotReady { .. } => C::NotReady,
            Self::RequestTimeout | Self::HandlerTimeout => C::RequestTimeout,
            Self::CorsRefused { .. } => C::Forbidden,
            Self::FilePartMissing => C::FilePartMissing,
            Self::MultipleFileParts => C::MultipleFileParts,
            Self::MalformedUpload(_) => C::UploadIncomplete,
        }
    }

    /// The code's status; a handler that overran answers 503 (a server-side
    /// condition, worth a retry) where a slow body answers 408.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HandlerTimeout => StatusCode::SERVICE_UNAVAILABLE,
            _ => self.code().status(),
        }
    }
}

impl ApiError {
    /// What the client is told. Server-side failures get a fixed message: the
    /// real cause goes to the log only.
    fn public_message(&self) -> String {
        match self {
            Self::App(AppError::Internal(_) | AppError::Unavailable(_)) => {
                self.code().default_message().to_owned()
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
            Self::App(
                AppError::AccountLocked { retry_after }
                | AppError::Overloaded { retry_after }
                | AppError::RateLimited { retry_after },
            )
            | Self::RateLimited { retry_after } => {
                json!({ "retry_after_seconds": retry_seconds(*retry_after) })
            }
            Self::PayloadTooLarge { limit } => json!({ "limit_bytes": limit }),
            Self::App(AppError::FileTooLarge { limit }) => json!({ "limit_bytes": limit }),
            Self::App(AppError::UnsupportedFileType { allowed }) => json!({ "allowed": allowed }),
            Self::App(AppError::QuotaExceeded { quota }) => json!({ "quota": quota }),
            Self::App(AppError::FileNotReady { status }) => json!({ "status": status.as_str() }),
            Self::NotReady { checks } => json!({ "checks": checks }),
            Self::App(AppError::WebauthnRefused(reason)) => json!({ "reason": reason.as_str() }),
            Self::App(AppError::OAuthRefused(reason)) => json!({ "reason": reason.as_str() }),
            Self::CorsRefused { reason } => json!({ "reason": reason }),
            Self::App(AppError::InvitationMismatch(m)) => json!({ "reason": match m {
                InvitationMismatch::SignInRequired => "account_exists",
                InvitationMismatch::OtherAccount => "another_account",
            } }),
            _ => Value::Null,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::App(
                AppError::AccountLocked { retry_after }
                | AppError::Overloaded { retry_after }
                | AppError::RateLimited { retry_after },
            )
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
pub struct ServerErrorCode(pub ErrorCode);

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
    pub code: ErrorCode,
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
                tracing::debug!(code = self.code().as_str(), "request refused")
            }
            _ if status.is_server_error() => {
                match crate::log_throttle::BACKEND_ERRORS.note(std::time::Instant::now()) {
                    crate::log_throttle::Verdict::Log { suppressed: 0 } => {
                        tracing::error!(code = self.code().as_str(), error = %portcullis_application::error::chain(self), "request failed")
                    }
                    crate::log_throttle::Verdict::Log { suppressed } => tracing::error!(
                        code = self.code().as_str(),
                        error = %portcullis_application::error::chain(self),
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
            error: ErrorBody { code: self.code(), message: self.public_message(), details: self.details() },
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
            && let Ok(value) = HeaderValue::from_str(allow)
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
        assert_eq!(e.code().as_str(), "INTERNAL_ERROR");
    }

    /// The cause travels whole to the log line, never to the client.
    #[test]
    fn the_cause_chain_is_kept_for_the_log_only() {
        use portcullis_application::ports::StoreError;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let store = StoreError::Unavailable(portcullis_application::Cause::context("redis", io));
        let e = ApiError::App(AppError::from(store));
        let logged = portcullis_application::error::chain(&e);
        assert!(logged.contains("redis") && logged.contains("connection refused"), "{logged}");
        assert!(!e.public_message().contains("connection refused"));
        assert_eq!(e.code(), ErrorCode::ServiceUnavailable);
    }

    /// The serialised code is the table's code, for every row.
    #[test]
    fn codes_serialise_as_the_table_says() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
        }
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are unique");
    }
}
