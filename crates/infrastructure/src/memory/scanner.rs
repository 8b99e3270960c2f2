use super::lock;
use crate::eicar::{EICAR_SIGNATURE, eicar};
use async_trait::async_trait;
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::ports::{ByteStream, ScanError, ScanVerdict, VirusScanner};
use std::sync::Mutex;

/// A scanner that flags the EICAR test string, wherever it sits and however
/// the content is chunked, and nothing else. Like clamd it refuses content
/// longer than its limit, and it can be switched off to play an outage.
pub struct MemoryVirusScanner {
    needle: Vec<u8>,
    max_len: u64,
    state: Mutex<bool>,
}

impl Default for MemoryVirusScanner {
    fn default() -> Self {
        Self::new(25 * 1024 * 1024)
    }
}

impl MemoryVirusScanner {
    /// `max_len` plays clamd's `StreamMaxLength`.
    pub fn new(max_len: u64) -> Self {
        Self { needle: eicar(), max_len, state: Mutex::new(true) }
    }

    /// Whether scans and probes reach the "daemon".
    pub fn set_available(&self, available: bool) {
        *lock(&self.state) = available;
    }

    fn check(&self) -> Result<(), ScanError> {
        if *lock(&self.state) {
            Ok(())
        } else {
            Err(ScanError::Unavailable(Cause::from("scanner switched off")))
        }
    }
}

#[async_trait]
impl VirusScanner for MemoryVirusScanner {
    async fn scan(&self, mut content: ByteStream) -> Result<ScanVerdict, ScanError> {
        self.check()?;
        let keep = self.needle.len() - 1;
        // The tail of what was seen, long enough to catch the string across chunks.
        let mut window: Vec<u8> = Vec::with_capacity(keep * 2);
        let mut seen: u64 = 0;
        let mut found = false;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| ScanError::Content(Cause::new(e)))?;
            seen += chunk.len() as u64;
            if seen > self.max_len {
                return Err(ScanError::TooLarge);
            }
            if found {
                continue;
            }
            window.extend_from_slice(&chunk);
            found = window.windows(self.needle.len()).any(|w| w == self.needle.as_slice());
            let cut = window.len().saturating_sub(keep);
            window.drain(..cut);
        }
        self.check()?;
        Ok(if found {
            ScanVerdict::Infected { signature: EICAR_SIGNATURE.to_owned() }
        } else {
            ScanVerdict::Clean
        })
    }

    async fn version(&self) -> Result<String, ScanError> {
        self.check()?;
        Ok("portcullis in-memory scanner (EICAR only)".to_owned())
    }
}
