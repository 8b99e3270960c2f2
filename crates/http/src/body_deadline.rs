//! A deadline for the request body. actix-web bounds the time to receive the
//! request head (`client_request_timeout`) but not the body, so a client that
//! trickles one byte every few seconds could hold a worker slot for as long as
//! it liked. This middleware replaces the payload with one that fails with
//! `TimedOut` once the body has taken longer than the deadline; the JSON
//! extractor turns that into 408 `REQUEST_TIMEOUT` and the connection is
//! closed (the rest of the body is never read).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage};
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a request body may take to arrive (app data of the app).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

struct DeadlinePayload {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            tracing::info!("request body not received within the deadline; answering 408");
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out");
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        Poll::Pending
    }
}

/// True for the payload error this middleware produces.
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(deadline) = req.app_data::<BodyDeadline>().copied() {
        let inner = req.take_payload();
        let payload =
            DeadlinePayload { inner, sleep: Box::pin(tokio::time::sleep(deadline.0)), expired: false };
        req.set_payload(Payload::Stream { payload: Box::pin(payload) });
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}
