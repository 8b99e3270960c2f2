use crate::cause::Cause;
use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use std::pin::Pin;

/// File content as it streams: never the whole file in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What a virus scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanVerdict {
    Clean,
    /// The scanner's name for what it found, e.g. `Eicar-Test-Signature`.
    Infected {
        signature: String,
    },
}

/// A scan without a verdict. None of these means clean: the file stays
/// unscanned and the scan is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The scanner could not be reached or answered something unexpected.
    #[error("virus scanner unavailable")]
    Unavailable(#[source] Cause),
    /// No verdict within the configured time (`CLAMAV_TIMEOUT`).
    #[error("virus scan timed out")]
    TimedOut,
    /// The scanner refused the content as longer than it accepts
    /// (clamd's `StreamMaxLength`, which must be at least `MAX_FILE_SIZE`).
    #[error("content longer than the scanner accepts")]
    TooLarge,
    /// Reading the content itself failed (the object store, not the scanner).
    #[error("the content could not be read")]
    Content(#[source] Cause),
}

/// Scans content for viruses (clamd's INSTREAM in production).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait VirusScanner: Send + Sync {
    async fn scan(&self, content: ByteStream) -> Result<ScanVerdict, ScanError>;

    /// The engine's version; doubles as the readiness probe.
    async fn version(&self) -> Result<String, ScanError>;
}
