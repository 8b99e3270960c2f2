//! Uploaded files: what kind a file is (decided from its bytes, never from its
//! name or the client's content type), the name it is shown under, and the
//! states it moves through on its way from upload to ready.

mod kind;
mod name;
mod record;
mod status;
mod summary;

pub use kind::{FileType, FileTypes, SNIFF_WINDOW, Sniffer, UnknownFileType};
pub use name::{DISPLAY_NAME_MAX_CHARS, attachment_disposition, display_name};
pub use record::{ContentDigest, FileRecord, StatusChange};
pub use status::{FileStatus, Transition, TransitionRefused, UnknownStatus, decide_transition};
pub use summary::{FileSummary, Sheet};
