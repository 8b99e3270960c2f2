//! What every handler can reach.

use crate::limits::RateLimitSettings;
use portcullis_application::auth::AuthService;
use portcullis_application::ports::{HealthCheck, JobQueue, RateLimiter};
use portcullis_metrics::Metrics;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub rate_limits: RateLimitSettings,
    /// Backends `/health/ready` checks.
    pub health: Vec<Arc<dyn HealthCheck>>,
    pub metrics: Metrics,
    /// Largest accepted JSON body, in bytes.
    pub json_limit: usize,
    /// How long a request body may take to arrive (408 beyond).
    pub body_timeout: std::time::Duration,
    /// How long a request head may take to arrive (the server answers 408 and
    /// closes the connection beyond).
    pub header_timeout: std::time::Duration,
    /// The job queue, for the admin endpoints and queue-depth metrics.
    pub jobs: Option<Arc<dyn JobQueue>>,
    /// `/metrics` answers only with `Authorization: Bearer <token>` when set
    /// (kept as its SHA-256, compared in constant time).
    /// Serve the magic-link routes (`MAGIC_LINK_ENABLED`); off: 404.
    pub magic_link_enabled: bool,
    pub metrics_token: Option<portcullis_domain::secret::TokenHash>,
}

impl AppState {
    pub fn new(
        auth: AuthService,
        rate_limiter: Arc<dyn RateLimiter>,
        rate_limits: RateLimitSettings,
        health: Vec<Arc<dyn HealthCheck>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            auth,
            rate_limiter,
            rate_limits,
            health,
            metrics,
            json_limit: 64 * 1024,
            body_timeout: std::time::Duration::from_secs(10),
            header_timeout: std::time::Duration::from_secs(5),
            jobs: None,
            metrics_token: None,
            magic_link_enabled: true,
        }
    }
}
