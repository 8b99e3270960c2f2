use super::ByteStream;
use crate::cause::Cause;
use async_trait::async_trait;
use portcullis_domain::files::{FileRecord, FileSummary};

/// Why processing gave no summary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessError {
    /// The file itself cannot be read (corrupt, too large unpacked): it ends
    /// `failed` with this reason, shown to its owner.
    #[error("{reason}")]
    Unreadable { reason: String },
    /// Reading the content from the store failed: retried.
    #[error("the content could not be read")]
    Content(#[source] Cause),
}

impl ProcessError {
    pub fn unreadable(reason: impl Into<String>) -> Self {
        Self::Unreadable { reason: reason.into() }
    }
}

/// Where a processor reports how far it got (0–100).
#[async_trait]
pub trait Progress: Send + Sync {
    async fn report(&self, percent: u8);
}

/// Inspects one type of file once it is scanned clean and describes its
/// content. Portcullis ships one per type (csv, xls/xlsx, pdf); a team
/// replaces one by registering its own for the type (docs/files.md).
#[async_trait]
pub trait FileProcessor: Send + Sync {
    async fn process(
        &self,
        file: &FileRecord,
        content: ByteStream,
        progress: &dyn Progress,
    ) -> Result<FileSummary, ProcessError>;
}
