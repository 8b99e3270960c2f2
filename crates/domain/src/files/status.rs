//! The pipeline a file moves through:
//!
//! ```text
//! awaiting_upload ─confirm─▶ stored ─▶ scanning ─▶ processing ─▶ ready
//!                                        │  ▲  │            └─▶ failed
//!                                        ▼  │  └─▶ infected (quarantined)
//!                                    scan_failed
//! ```
//!
//! `scan_failed` is retried (never treated as clean); `scanning` and
//! `processing` may be entered again by a job resumed after a crash.
//! `ready`, `failed` and `infected` are final.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// Presigned upload issued; the bytes are not confirmed yet.
    AwaitingUpload,
    Stored,
    Scanning,
    /// The scanner could not give a verdict (down, timed out); retried.
    ScanFailed,
    /// A virus was found: quarantined, never downloadable.
    Infected,
    Processing,
    Ready,
    /// Processing could not read the file (corrupt, too large unpacked).
    Failed,
}

impl FileStatus {
    pub const ALL: [FileStatus; 8] = [
        FileStatus::AwaitingUpload,
        FileStatus::Stored,
        FileStatus::Scanning,
        FileStatus::ScanFailed,
        FileStatus::Infected,
        FileStatus::Processing,
        FileStatus::Ready,
        FileStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::AwaitingUpload => "awaiting_upload",
            FileStatus::Stored => "stored",
            FileStatus::Scanning => "scanning",
            FileStatus::ScanFailed => "scan_failed",
            FileStatus::Infected => "infected",
            FileStatus::Processing => "processing",
            FileStatus::Ready => "ready",
            FileStatus::Failed => "failed",
        }
    }

    /// No transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(self, FileStatus::Ready | FileStatus::Failed | FileStatus::Infected)
    }
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FileStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FileStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown file status {0:?}")]
pub struct UnknownStatus(pub String);

/// An allowed change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new state.
    Advance { from: FileStatus, to: FileStatus },
    /// The same working state again: a job resumed after a crash.
    Resume(FileStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a file cannot go from {from} to {to}")]
pub struct TransitionRefused {
    pub from: FileStatus,
    pub to: FileStatus,
}

/// The pipeline rule, shared by every file-repository adapter so they cannot
/// drift: whether a file in `from` may move to `to`.
pub fn decide_transition(from: FileStatus, to: FileStatus) -> Result<Transition, TransitionRefused> {
    use FileStatus::*;
    let allowed = matches!(
        (from, to),
        (AwaitingUpload, Stored)
            | (Stored, Scanning)
            | (ScanFailed, Scanning)
            | (Scanning, ScanFailed | Infected | Processing)
            | (Processing, Ready | Failed)
    );
    if allowed {
        Ok(Transition::Advance { from, to })
    } else if from == to && matches!(from, Scanning | Processing) {
        Ok(Transition::Resume(from))
    } else {
        Err(TransitionRefused { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileStatus::*;

    #[test]
    fn every_pair_of_states_is_decided_by_the_table() {
        let advances = [
            (AwaitingUpload, Stored),
            (Stored, Scanning),
            (Scanning, ScanFailed),
            (Scanning, Infected),
            (Scanning, Processing),
            (ScanFailed, Scanning),
            (Processing, Ready),
            (Processing, Failed),
        ];
        let resumes = [Scanning, Processing];
        for from in FileStatus::ALL {
            for to in FileStatus::ALL {
                let expected = if advances.contains(&(from, to)) {
                    Ok(Transition::Advance { from, to })
                } else if from == to && resumes.contains(&from) {
                    Ok(Transition::Resume(from))
                } else {
                    Err(TransitionRefused { from, to })
                };
                assert_eq!(decide_transition(from, to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn final_states_have_no_way_out_and_a_failed_scan_is_never_clean() {
        for from in FileStatus::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(FileStatus::ALL.into_iter().all(|to| decide_transition(from, to).is_err()), "{from}");
        }
        assert!(decide_transition(ScanFailed, Processing).is_err());
        assert!(decide_transition(ScanFailed, Ready).is_err());
        assert!(decide_transition(Stored, Processing).is_err(), "processing needs a scan verdict");
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in FileStatus::ALL {
            assert_eq!(status.as_str().parse::<FileStatus>(), Ok(status));
        }
        assert!("clean".parse::<FileStatus>().is_err());
    }
}
