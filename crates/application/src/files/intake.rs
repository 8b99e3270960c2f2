//! The upload stream, inspected as it passes to the object store: size capped,
//! SHA-256 computed, type decided from the bytes. A refusal ends the stream
//! with an error, so the store keeps nothing (its `put` is atomic).

use crate::ports::ByteStream;
use bytes::Bytes;
use futures_core::Stream;
use portcullis_domain::files::{ContentDigest, FileType, FileTypes, Sniffer};
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Why the inspection refused the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooLarge,
    Empty,
    /// Not one of the allowed types (`None`: no known type at all).
    Unsupported(Option<FileType>),
}

/// What the inspection found once the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    pub size: u64,
    pub digest: ContentDigest,
    pub file_type: FileType,
}

#[derive(Default)]
struct State {
    size: u64,
    hasher: Sha256,
    sniffer: Sniffer,
    refusal: Option<Refusal>,
    found: Option<Inspected>,
}

/// The outcome side of an inspection; read after the stream was consumed.
#[derive(Clone)]
pub struct Inspection(Arc<Mutex<State>>);

impl Inspection {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn refusal(&self) -> Option<Refusal> {
        self.state().refusal.clone()
    }

    /// What was found, once the whole stream passed without a refusal.
    pub fn found(&self) -> Option<Inspected> {
        self.state().found.clone()
    }
}

/// Wraps `content`: the returned stream yields the same bytes and fails
/// (ending it) the moment the content is refused.
pub fn inspect(content: ByteStream, max_size: u64, allowed: FileTypes) -> (ByteStream, Inspection) {
    let inspection = Inspection(Arc::new(Mutex::new(State { sniffer: Sniffer::new(), ..State::default() })));
    let stream =
        Inspecting { inner: content, inspection: inspection.clone(), max_size, allowed, done: false };
    (Box::pin(stream), inspection)
}

struct Inspecting {
    inner: ByteStream,
    inspection: Inspection,
    max_size: u64,
    allowed: FileTypes,
    done: bool,
}

fn refused(state: &mut State, refusal: Refusal) -> Poll<Option<Result<Bytes, std::io::Error>>> {
    let message = format!("upload refused: {refusal:?}");
    state.refusal = Some(refusal);
    Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message))))
}

impl Stream for Inspecting {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = self.inner.as_mut().poll_next(cx);
        let this = &mut *self;
        let mut state = this.inspection.state();
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                state.size += chunk.len() as u64;
                if state.size > this.max_size {
                    this.done = true;
                    return refused(&mut state, Refusal::TooLarge);
                }
                state.hasher.update(&chunk);
                state.sniffer.feed(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                this.done = true;
                if state.size == 0 {
                    return refused(&mut state, Refusal::Empty);
                }
                let sniffer = std::mem::take(&mut state.sniffer);
                match sniffer.finish() {
                    Some(file_type) if this.allowed.allows(file_type) => {
                        let digest = ContentDigest(std::mem::take(&mut state.hasher).finalize().into());
                        state.found = Some(Inspected { size: state.size, digest, file_type });
                        Poll::Ready(None)
                    }
                    other => refused(&mut state, Refusal::Unsupported(other)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let items: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(Iter(items.into_iter()))
    }

    struct Iter(std::vec::IntoIter<Result<Bytes, std::io::Error>>);
    impl Stream for Iter {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next())
        }
    }

    /// Drains the stream synchronously (every poll is ready here).
    fn drain(mut s: ByteStream) -> (Vec<u8>, Option<std::io::Error>) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        loop {
            match s.as_mut().poll_next(&mut cx) {
                Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
                Poll::Ready(Some(Err(e))) => return (out, Some(e)),
                Poll::Ready(None) => return (out, None),
                Poll::Pending => unreachable!("test streams are always ready"),
            }
        }
    }

    #[test]
    fn passes_the_bytes_and_reports_size_digest_and_type() {
        let (stream, inspection) = inspect(chunks(&[b"a,b\n", b"1,2\n"]), 100, FileTypes::all());
        let (bytes, error) = drain(stream);
        assert_eq!((bytes.as_slice(), error.is_none()), (&b"a,b\n1,2\n"[..], true));
        let found = inspection.found().unwrap_or_else(|| panic!("{:?}", inspection.refusal()));
        assert_eq!((found.size, found.file_type), (8, FileType::Csv));
        let expected: [u8; 32] = Sha256::digest(b"a,b\n1,2\n").into();
        assert_eq!(found.digest, ContentDigest(expected));
    }

    #[test]
    fn refuses_at_the_first_byte_past_the_limit() {
        let (stream, inspection) = inspect(chunks(&[b"12345", b"6789", b"never read"]), 8, FileTypes::all());
        let (bytes, error) = drain(stream);
        assert!(error.is_some());
        assert_eq!(bytes, b"12345", "the chunk that crossed the limit is not passed on");
        assert_eq!(inspection.refusal(), Some(Refusal::TooLarge));
        assert!(inspection.found().is_none());
    }

    #[test]
    fn refuses_empty_unknown_and_disallowed_content() {
        let cases: [(&[&'static [u8]], &str, Refusal); 3] = [
            (&[], "pdf,csv", Refusal::Empty),
            (&[b"\x7fELF\x02\x01\x01\x00\x00"], "pdf,csv", Refusal::Unsupported(None)),
            (&[b"%PDF-1.7\n"], "csv", Refusal::Unsupported(Some(FileType::Pdf))),
        ];
        for (parts, allowed, expected) in cases {
            let allowed = FileTypes::parse(allowed).unwrap_or_else(|e| panic!("{e}"));
            let (stream, inspection) = inspect(chunks(parts), 100, allowed);
            let (_, error) = drain(stream);
            assert!(error.is_some(), "{expected:?}");
            assert_eq!(inspection.refusal(), Some(expected));
        }
    }

    #[test]
    fn a_client_error_is_passed_on_and_is_no_refusal() {
        let items = vec![Ok(Bytes::from_static(b"abc")), Err(std::io::Error::other("connection reset"))];
        let (stream, inspection) = inspect(Box::pin(Iter(items.into_iter())), 100, FileTypes::all());
        let (_, error) = drain(stream);
        assert_eq!(error.map(|e| e.to_string()), Some("connection reset".into()));
        assert_eq!((inspection.refusal(), inspection.found()), (None, None));
    }
}
