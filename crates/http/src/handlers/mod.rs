//! Route handlers, one module per area.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod devices;
pub mod files;
pub mod invitations;
pub mod live;
pub mod mailed_links;
pub mod mfa;
pub mod oauth;
pub mod operations;
pub mod pages;
pub mod roles;
pub mod sessions;
pub mod storage;
pub mod user_admin;
pub mod users;
pub mod webauthn;

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};

/// Runs a use case to its end even if the client hangs up: a counted
/// attempt (a password or code check) must reach its verdict, or be given
/// back, never be dropped half-way with the connection. `what` names it in
/// the error if the task itself fails.
pub(crate) async fn to_the_end<T: 'static>(
    what: &'static str,
    work: impl std::future::Future<Output = Result<T, portcullis_application::AppError>> + 'static,
) -> Result<T, portcullis_application::AppError> {
    actix_web::rt::spawn(work).await.unwrap_or_else(|e| {
        Err(portcullis_application::AppError::Internal(portcullis_application::Cause::context(what, e)))
    })
}

/// An id from the path; one that is not a UUID names nothing: 404 `what`.
pub(crate) fn path_id<T: From<uuid::Uuid>>(
    raw: &str,
    what: &'static str,
) -> Result<T, crate::error::ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(T::from)
        .map_err(|_| crate::error::ApiError::App(portcullis_application::AppError::NotFound(what)))
}

/// Token-bearing answers must not be cached by browsers or proxies.
pub(crate) fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One chunk of a request body on its way to a use case.
pub(crate) type Chunk = Result<bytes::Bytes, std::io::Error>;

/// A bounded pipe from a request body (actix payloads are not `Send`) to a
/// use case's byte stream: the sender is fed in the handler, the stream is
/// read by the use case; four chunks in flight at most.
pub(crate) fn pipe() -> (tokio::sync::mpsc::Sender<Chunk>, portcullis_application::ports::ByteStream) {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    (sender, Box::pin(Piped(receiver)))
}

struct Piped(tokio::sync::mpsc::Receiver<Chunk>);

impl futures_util::Stream for Piped {
    type Item = Chunk;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}
