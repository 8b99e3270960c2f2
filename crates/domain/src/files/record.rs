//! A file as Portcullis keeps it: who owns it, what it is, where its bytes are
//! and where it stands in the pipeline.

use super::{FileStatus, FileSummary, FileType};
use crate::ids::{FileId, UserId};
use std::fmt;
use time::OffsetDateTime;

/// SHA-256 of a file's bytes; the per-owner dedupe key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest(pub [u8; 32]);

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: FileId,
    pub owner: UserId,
    /// See [`super::display_name`].
    pub display_name: String,
    /// Decided from the bytes; `None` while a presigned upload is awaited.
    pub file_type: Option<FileType>,
    pub size: u64,
    /// `None` while a presigned upload is awaited.
    pub digest: Option<ContentDigest>,
    pub status: FileStatus,
    /// Generated; never derived from anything the client sent.
    pub object_key: String,
    /// Why it is where it is: the signature found, the processing failure.
    pub message: Option<String>,
    /// What processing found; set when the file becomes `ready`.
    pub summary: Option<FileSummary>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One step of a file's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub file_id: FileId,
    /// `None` for the first state the file was created in.
    pub from: Option<FileStatus>,
    pub to: FileStatus,
    pub message: Option<String>,
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_print_as_lowercase_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xAB;
        bytes[31] = 0x01;
        let hex = ContentDigest(bytes).to_string();
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("ab00") && hex.ends_with("0001"), "{hex}");
    }
}
