//! The `/storage` routes of the memory and local-disk stores: what their
//! presigned links point at. The signature is checked before anything else
//! (in constant time), then the expiry; an upload must be exactly the size
//! that was signed.

use crate::error::{AppError, Cause};
use crate::ports::{ByteStream, Clock, LinkAccess, LinkVerifier, ObjectKey, ObjectStore, ObjectStoreError};
use bytes::Bytes;
use futures_core::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// A link's query: when it expires and its signature.
#[derive(Debug, Clone)]
pub struct LinkProof {
    pub expires: i64,
    pub signature: String,
}

#[derive(Clone)]
pub struct SelfServedStorage {
    objects: Arc<dyn ObjectStore>,
    verifier: Arc<dyn LinkVerifier>,
    clock: Arc<dyn Clock>,
}

impl SelfServedStorage {
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        verifier: Arc<dyn LinkVerifier>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { objects, verifier, clock }
    }

    fn check(&self, key: &str, access: &LinkAccess, proof: &LinkProof) -> Result<ObjectKey, AppError> {
        // A key we could not have issued cannot carry our signature.
        let key = ObjectKey::new(key).map_err(|_| AppError::InvalidSignature)?;
        if !self.verifier.verify(&key, access, proof.expires, &proof.signature) {
            return Err(AppError::InvalidSignature);
        }
        if self.clock.now().unix_timestamp() > proof.expires {
            return Err(AppError::UrlExpired);
        }
        Ok(key)
    }

    /// The object behind a signed download link.
    pub async fn download(
        &self,
        key: &str,
        filename: &str,
        proof: &LinkProof,
    ) -> Result<ByteStream, AppError> {
        let key = self.check(key, &LinkAccess::Get { filename: filename.to_owned() }, proof)?;
        match self.objects.get(&key).await {
            Ok(content) => Ok(content),
            Err(ObjectStoreError::NotFound) => Err(AppError::NotFound("object")),
            Err(e) => Err(AppError::Unavailable(Cause::new(e))),
        }
    }

    /// Stores the body of a signed upload link: exactly the signed size.
    pub async fn upload(
        &self,
        key: &str,
        size: u64,
        proof: &LinkProof,
        body: ByteStream,
    ) -> Result<(), AppError> {
        let key = self.check(key, &LinkAccess::Put { size }, proof)?;
        let too_long = Arc::new(AtomicBool::new(false));
        let exact = Exact { inner: body, left: size, too_long: too_long.clone(), done: false };
        match self.objects.put(&key, Box::pin(exact)).await {
            Ok(_) => Ok(()),
            Err(ObjectStoreError::Content(_)) if too_long.load(Ordering::Relaxed) => {
                Err(AppError::FileTooLarge { limit: size })
            }
            Err(ObjectStoreError::Content(cause)) => Err(AppError::UploadInterrupted(cause)),
            Err(e) => Err(AppError::Unavailable(Cause::new(e))),
        }
    }
}

/// Passes exactly `left` bytes; more, or fewer by the end, fails the stream
/// (so the store keeps nothing).
struct Exact {
    inner: ByteStream,
    left: u64,
    too_long: Arc<AtomicBool>,
    done: bool,
}

impl Stream for Exact {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if chunk.len() as u64 > self.left {
                    self.done = true;
                    self.too_long.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(std::io::Error::other("more bytes than signed"))));
                }
                self.left -= chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) if self.left > 0 => {
                self.done = true;
                Poll::Ready(Some(Err(std::io::Error::other("fewer bytes than signed"))))
            }
            other => {
                if matches!(other, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
                    self.done = true;
                }
                other
            }
        }
    }
}
