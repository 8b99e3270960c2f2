//! What every handler can reach.

use crate::limits::RateLimitSettings;
use portcullis_application::access::AccessControl;
use portcullis_application::admin::AdminService;
use portcullis_application::audit_trail::AuditTrail;
use portcullis_application::auth::{
    AccountService, MailedLinkService, MfaService, OAuthService, SignInService, WebauthnService,
};
use portcullis_application::files::FileService;
use portcullis_application::ports::{AccessTokenIssuer, HealthCheck, JobQueue, RateLimiter};
use portcullis_metrics::Metrics;
use std::sync::Arc;

/// Built in one step by the binary's wiring (every field is a decision made
/// from configuration; there are no defaults to overwrite afterwards).
#[derive(Clone)]
pub struct AppState {
    /// Password login, refresh, logout, bearer checks.
    pub sign_in: SignInService,
    /// Registration, profile, password change, activity.
    pub accounts: AccountService,
    /// Verification, reset and magic links.
    pub links: MailedLinkService,
    /// Second factors, sign-in challenges, step-up.
    pub mfa: MfaService,
    /// Passkeys and security keys.
    pub webauthn: WebauthnService,
    /// Sign-in with OAuth/OIDC providers, linked accounts.
    pub oauth: OAuthService,
    /// The audit trail (rate-limit events are written from here).
    pub audit: AuditTrail,
    /// The access-token verification keys (JWKS).
    pub keys: Arc<dyn AccessTokenIssuer>,
    /// Who may do what (builds the caller's principal).
    pub access: AccessControl,
    /// Operator use cases (queues, dead letters).
    pub admin: AdminService,
    /// The admin's view of accounts.
    pub user_admin: portcullis_application::user_admin::UserAdmin,
    /// The admin's audit query.
    pub audit_query: portcullis_application::audit_query::AuditQuery,
    /// The caller's own devices.
    pub devices: portcullis_application::devices::DeviceService,
    /// The caller's own sessions.
    pub sessions: portcullis_application::sessions::SessionService,
    /// Invitations: sent by admins, accepted by the invited.
    pub invitations: portcullis_application::invitations::InvitationService,
    /// Roles and who holds them.
    pub roles: portcullis_application::roles::RoleService,
    /// Uploads, listing, reading and deleting files.
    pub files: FileService,
    /// The `/storage` routes of the memory and local stores (`None` with S3).
    pub storage: Option<portcullis_application::files::storage::SelfServedStorage>,
    /// WebSocket ping cadence and patience.
    pub live: LiveSettings,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub rate_limits: RateLimitSettings,
    /// Backends `/health/ready` checks.
    pub health: Vec<Arc<dyn HealthCheck>>,
    pub metrics: Metrics,
    /// The job queue, for queue-depth metrics (always there: in memory or Redis).
    pub jobs: Arc<dyn JobQueue>,
    /// Largest accepted JSON body, in bytes.
    pub json_limit: usize,
    /// How long a request body may take to arrive (408 beyond).
    pub body_timeout: std::time::Duration,
    /// How long a handler may take to answer (503 `REQUEST_TIMEOUT` beyond).
    pub request_timeout: std::time::Duration,
    /// CORS origins and HSTS.
    pub browser: BrowserSettings,
    /// How long a request head may take to arrive (the server answers 408 and
    /// closes the connection beyond).
    pub header_timeout: std::time::Duration,
    /// Serve the magic-link routes (`MAGIC_LINK_ENABLED`); off: 404.
    pub magic_link_enabled: bool,
    /// `/metrics` answers only with `Authorization: Bearer <token>` when set
    /// (kept as its SHA-256, compared in constant time).
    pub metrics_token: Option<portcullis_domain::secret::TokenHash>,
}

/// Status-socket ping cadence and patience (`WS_PING_INTERVAL`, `WS_PING_TIMEOUT`).
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    pub ping_interval: std::time::Duration,
    pub ping_timeout: std::time::Duration,
}

/// Browser-facing settings, decided from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserSettings {
    /// Exact origins (`https://app.example.com`) allowed to call the API with
    /// credentials; empty: no cross-origin access at all.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (only behind TLS: `HSTS_ENABLED`).
    pub hsts: bool,
}
