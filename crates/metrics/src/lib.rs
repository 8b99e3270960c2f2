//! Prometheus metrics, in a registry per app instance (so two instances in one
//! test process do not collide). Their own crate, so the worker counts jobs
//! without depending on the web crate.

/// Why the registry could not be built.
pub use prometheus::Error as MetricsError;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub logins: IntCounterVec,
    pub registrations: IntCounter,
    pub rate_limited: IntCounterVec,
    pub rate_limit_fallbacks: IntCounter,
    /// Lockout counters served in-process because Redis was unavailable.
    pub lockout_fallbacks: IntCounter,
    /// Requests answered 503 because a backend failed, by code.
    pub backend_errors: IntCounterVec,
    /// Job events by queue, kind and event (enqueued, completed, failed, dead).
    pub jobs: IntCounterVec,
    pub job_duration: HistogramVec,
    /// Jobs per queue and state, refreshed at each scrape.
    pub queue_depth: IntGaugeVec,
    /// Uploads by result (`created`, `duplicate`, or the error code).
    pub uploads: IntCounterVec,
    /// Virus-scan time by verdict (`clean`, `infected`, `error`).
    pub scan_duration: HistogramVec,
    /// Files entering each pipeline status.
    pub file_transitions: IntCounterVec,
    /// Open status WebSockets.
    pub ws_connections: prometheus::IntGauge,
    /// Files in each status (all users), refreshed at each scrape.
    pub files_by_status: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request duration by method, route and status",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["method", "route", "status"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new("auth_logins_total", "Login attempts by result (success, failure, locked)"),
            &["result"],
        )?;
        let registrations = IntCounter::new("auth_registrations_total", "Accounts registered")?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limit_rejections_total",
                "Requests rejected by the rate limiter, by route class and key kind",
            ),
            &["class", "key"],
        )?;
        let rate_limit_fallbacks = IntCounter::new(
            "rate_limit_fallback_total",
            "Rate-limit checks served by the in-process limiter because Redis was unavailable",
        )?;
        let lockout_fallbacks = IntCounter::new(
            "lockout_fallback_total",
            "Login-attempt checks served by the in-process counter because Redis was unavailable",
        )?;
        let backend_errors = IntCounterVec::new(
            Opts::new("backend_errors_total", "Requests that failed because a backend did, by error code"),
            &["code"],
        )?;
        let jobs = IntCounterVec::new(
            Opts::new("jobs_total", "Background job events by queue, kind and event"),
            &["queue", "kind", "event"],
        )?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Job run time by queue and kind")
                .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["queue", "kind"],
        )?;
        let queue_depth =
            IntGaugeVec::new(Opts::new("job_queue_depth", "Jobs per queue and state"), &["queue", "state"])?;
        let uploads = IntCounterVec::new(
            Opts::new("file_uploads_total", "Uploads by result (created, duplicate, or the error code)"),
            &["result"],
        )?;
        let scan_duration = HistogramVec::new(
            HistogramOpts::new(
                "file_scan_duration_seconds",
                "Virus-scan time by verdict (clean, infected, error)",
            )
            .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
            &["verdict"],
        )?;
        let file_transitions = IntCounterVec::new(
            Opts::new("file_status_transitions_total", "Files entering each pipeline status"),
            &["status"],
        )?;
        let ws_connections = prometheus::IntGauge::new("ws_connections", "Open status WebSockets")?;
        registry.register(Box::new(ws_connections.clone()))?;
        let files_by_status = IntGaugeVec::new(
            Opts::new("files_by_status", "Files in each pipeline status (all users)"),
            &["status"],
        )?;
        registry.register(Box::new(files_by_status.clone()))?;
        registry.register(Box::new(uploads.clone()))?;
        registry.register(Box::new(scan_duration.clone()))?;
        registry.register(Box::new(file_transitions.clone()))?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(registrations.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_fallbacks.clone()))?;
        registry.register(Box::new(lockout_fallbacks.clone()))?;
        registry.register(Box::new(backend_errors.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            logins,
            registrations,
            rate_limited,
            rate_limit_fallbacks,
            lockout_fallbacks,
            backend_errors,
            jobs,
            job_duration,
            queue_depth,
            uploads,
            scan_duration,
            file_transitions,
            ws_connections,
            files_by_status,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
