//! The request id and what error responses need to know about the request
//! they answer (a task-local set by the request middleware). A leaf: it
//! depends on no other module of this crate.

use actix_web::http::header::HeaderName;
use portcullis_domain::ids::UserId;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub path: String,
    pub method: String,
}

tokio::task_local! {
    /// The current request's metadata (set by the request middleware).
    pub(crate) static META: RequestMeta;
}

impl RequestMeta {
    /// The current request's metadata, or placeholders outside a request.
    pub fn current() -> RequestMeta {
        META.try_with(Clone::clone).unwrap_or_else(|_| RequestMeta {
            request_id: "unknown".into(),
            path: String::new(),
            method: String::new(),
        })
    }
}

/// Request id in request extensions, for extractors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Set by the auth extractor, read by the access log.
#[derive(Debug, Clone, Copy)]
pub struct AuthenticatedUserId(pub UserId);

pub(crate) fn acceptable_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::acceptable_request_id;

    #[test]
    fn request_ids_are_sanitised() {
        assert!(acceptable_request_id("abc-123_x.y:z"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("has space"));
        assert!(!acceptable_request_id("inject\nheader"));
        assert!(!acceptable_request_id(&"a".repeat(129)));
    }
}
