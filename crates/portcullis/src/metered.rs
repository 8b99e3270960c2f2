//! Ports wrapped with their Prometheus counters, so whoever calls them (a
//! request, a worker) is counted the same way.

use async_trait::async_trait;
use portcullis_application::ports::{
    ByteStream, EventBus, EventStream, FileEvent, ScanError, ScanVerdict, StoreError, VirusScanner,
};
use portcullis_domain::files::FileStatus;
use portcullis_metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;

/// Times every scan by verdict (`file_scan_duration_seconds`).
pub struct MeteredScanner {
    inner: Arc<dyn VirusScanner>,
    metrics: Metrics,
}

impl MeteredScanner {
    pub fn new(inner: Arc<dyn VirusScanner>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl VirusScanner for MeteredScanner {
    async fn scan(&self, content: ByteStream) -> Result<ScanVerdict, ScanError> {
        let started = Instant::now();
        let verdict = self.inner.scan(content).await;
        let label = match &verdict {
            Ok(ScanVerdict::Clean) => "clean",
            Ok(ScanVerdict::Infected { .. }) => "infected",
            Err(_) => "error",
        };
        self.metrics.scan_duration.with_label_values(&[label]).observe(started.elapsed().as_secs_f64());
        verdict
    }

    async fn version(&self) -> Result<String, ScanError> {
        self.inner.version().await
    }
}

/// Counts files entering each status (`file_status_transitions_total`) as
/// their events are published; progress updates within `processing` are not
/// transitions.
pub struct MeteredEvents {
    inner: Arc<dyn EventBus>,
    metrics: Metrics,
}

impl MeteredEvents {
    pub fn new(inner: Arc<dyn EventBus>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl EventBus for MeteredEvents {
    async fn publish(&self, event: &FileEvent) -> Result<(), StoreError> {
        if !(event.status == FileStatus::Processing && event.progress > 0) {
            self.metrics.file_transitions.with_label_values(&[event.status.as_str()]).inc();
        }
        self.inner.publish(event).await
    }

    async fn announce_session_ended(
        &self,
        session: portcullis_domain::ids::SessionId,
    ) -> Result<(), StoreError> {
        self.inner.announce_session_ended(session).await
    }

    async fn subscribe(&self) -> Result<EventStream, StoreError> {
        self.inner.subscribe().await
    }
}
