//! clamd over TCP or a unix socket: INSTREAM for scans (framing by
//! `clamav-client`), VERSION for the readiness probe. Every call has a
//! deadline (`CLAMAV_TIMEOUT`); no answer is never a clean answer.

use async_trait::async_trait;
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::ports::{ByteStream, ScanError, ScanVerdict, VirusScanner};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    /// `CLAMAV_HOST`:`CLAMAV_PORT`.
    Tcp { host: String, port: u16 },
    /// `CLAMAV_SOCKET`.
    Socket(PathBuf),
}

/// INSTREAM chunk size: clamd reads each chunk whole.
const CHUNK: usize = 64 * 1024;

pub struct ClamdScanner {
    address: ClamdAddress,
    timeout: Duration,
}

impl ClamdScanner {
    pub fn new(address: ClamdAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }

    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = std::io::Result<T>>,
    ) -> Result<T, ScanError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(ScanError::TimedOut),
            Ok(Err(e)) => Err(ScanError::Unavailable(Cause::context("clamd", e))),
            Ok(Ok(value)) => Ok(value),
        }
    }
}

/// clamd's answer to INSTREAM: `stream: OK`, `stream: <name> FOUND`,
/// `INSTREAM size limit exceeded. ERROR`, or another `... ERROR`.
pub fn parse_reply(reply: &[u8]) -> Result<ScanVerdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', ' ']);
    let body = text.strip_prefix("stream: ").unwrap_or(text);
    if body == "OK" {
        Ok(ScanVerdict::Clean)
    } else if let Some(signature) = body.strip_suffix(" FOUND") {
        Ok(ScanVerdict::Infected { signature: signature.trim().to_owned() })
    } else if body.contains("size limit exceeded") {
        Err(ScanError::TooLarge)
    } else {
        Err(ScanError::Unavailable(Cause::from(format!("unexpected clamd reply: {body:.200}"))))
    }
}

#[async_trait]
impl VirusScanner for ClamdScanner {
    async fn scan(&self, content: ByteStream) -> Result<ScanVerdict, ScanError> {
        // The client reports a failing input stream like a failing socket;
        // remember which side failed so an object-store error is not blamed on clamd.
        let input_failed = Arc::new(AtomicBool::new(false));
        let flag = input_failed.clone();
        let content = content.map(move |chunk| {
            if chunk.is_err() {
                flag.store(true, Ordering::Relaxed);
            }
            chunk
        });
        let reply = match &self.address {
            ClamdAddress::Tcp { host, port } => {
                let target = clamav_client::tokio::Tcp { host_address: (host.as_str(), *port) };
                self.within(clamav_client::tokio::scan_stream(content, target, Some(CHUNK))).await
            }
            ClamdAddress::Socket(path) => {
                let target = clamav_client::tokio::Socket { socket_path: path.as_path() };
                self.within(clamav_client::tokio::scan_stream(content, target, Some(CHUNK))).await
            }
        };
        match reply {
            Err(ScanError::Unavailable(cause)) if input_failed.load(Ordering::Relaxed) => {
                Err(ScanError::Content(cause))
            }
            Err(e) => Err(e),
            Ok(reply) => parse_reply(&reply),
        }
    }

    async fn version(&self) -> Result<String, ScanError> {
        let reply = match &self.address {
            ClamdAddress::Tcp { host, port } => {
                let target = clamav_client::tokio::Tcp { host_address: (host.as_str(), *port) };
                self.within(clamav_client::tokio::get_version(target)).await?
            }
            ClamdAddress::Socket(path) => {
                let target = clamav_client::tokio::Socket { socket_path: path.as_path() };
                self.within(clamav_client::tokio::get_version(target)).await?
            }
        };
        let version = String::from_utf8_lossy(&reply).trim_end_matches(['\0', '\n']).to_owned();
        if version.starts_with("ClamAV") {
            Ok(version)
        } else {
            Err(ScanError::Unavailable(Cause::from(format!(
                "unexpected clamd VERSION reply: {version:.200}"
            ))))
        }
    }
}

/// `/health/ready` asks clamd for its VERSION.
#[async_trait]
impl portcullis_application::ports::HealthCheck for ClamdScanner {
    fn name(&self) -> &'static str {
        "clamav"
    }

    async fn check(&self) -> Result<(), portcullis_application::ports::StoreError> {
        self.version()
            .await
            .map(|_| ())
            .map_err(|e| portcullis_application::ports::StoreError::Unavailable(Cause::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified() {
        assert_eq!(parse_reply(b"stream: OK\0"), Ok(ScanVerdict::Clean));
        assert_eq!(
            parse_reply(b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0"),
            Ok(ScanVerdict::Infected { signature: "Eicar-Test-Signature.UNOFFICIAL".into() })
        );
        assert_eq!(parse_reply(b"INSTREAM size limit exceeded. ERROR\0"), Err(ScanError::TooLarge));
        assert!(matches!(parse_reply(b"stream: lstat() failed. ERROR\0"), Err(ScanError::Unavailable(_))));
        assert!(matches!(parse_reply(b""), Err(ScanError::Unavailable(_))));
    }

    #[tokio::test]
    async fn nothing_listening_is_unavailable_not_clean() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let scanner =
            ClamdScanner::new(ClamdAddress::Tcp { host: "127.0.0.1".into(), port }, Duration::from_secs(2));
        let content: ByteStream =
            Box::pin(futures_util::stream::iter(vec![Ok(bytes::Bytes::from_static(b"x"))]));
        assert!(matches!(scanner.scan(content).await, Err(ScanError::Unavailable(_))));
        assert!(matches!(scanner.version().await, Err(ScanError::Unavailable(_))));
    }

    #[tokio::test]
    async fn a_silent_daemon_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let scanner = ClamdScanner::new(
            ClamdAddress::Tcp { host: "127.0.0.1".into(), port },
            Duration::from_millis(300),
        );
        let content: ByteStream =
            Box::pin(futures_util::stream::iter(vec![Ok(bytes::Bytes::from_static(b"x"))]));
        assert_eq!(scanner.scan(content).await, Err(ScanError::TimedOut));
        hold.abort();
    }
}
