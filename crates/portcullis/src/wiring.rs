//! Builds the application from configuration: the real adapters where a
//! backend is configured, the in-memory twins where not.

use crate::config::{Config, RelationalBackend, ScannerBackend, SharedBackend, StorageBackend};
use crate::metered::{MeteredEvents, MeteredScanner};
use crate::worker::{MeteredQueue, Worker};
use portcullis_application::access::AccessControl;
use portcullis_application::admin::AdminService;
use portcullis_application::audit_query::AuditQuery;
use portcullis_application::audit_trail::AuditTrail;
use portcullis_application::auth::{AuthPorts, AuthSettings, Identity, SendSmsCode};
use portcullis_application::devices::DeviceService;
use portcullis_application::files::pipeline::{
    ProcessFile, PurgeAbandonedUploads, PurgeQuarantine, ScanFile,
};
use portcullis_application::files::storage::SelfServedStorage;
use portcullis_application::files::{FilePorts, FileService};
use portcullis_application::invitations::{InvitationService, SendInvitation};
use portcullis_application::jobs::JobHandler;
use portcullis_application::links::{LinkSettings, SendLink};
use portcullis_application::mail::SendEmail;
use portcullis_application::maintenance::{PurgeDevices, PurgeSessions};
use portcullis_application::ports::{
    AuditLog, Cipher, Clock, CredentialStore, DeviceStore, EphemeralStore, EventBus, FactorStore,
    FileRepository, HealthCheck, InvitationStore, JobQueue, LinkedAccountStore, LockoutPolicy, LoginAttempts,
    Mailer, ObjectStore, ObjectStoreError, OneTimeTokenStore, Outbox, PermissionCache, RateLimiter,
    RevocationList, RoleRepository, SessionStore, SmsSender, TokenGenerator, UrlPresigner, UserRepository,
    VirusScanner,
};
use portcullis_application::relay::OutboxRelay;
use portcullis_application::roles::{Bootstrap, RoleService};
use portcullis_application::sessions::SessionService;
use portcullis_application::user_admin::UserAdmin;
use portcullis_domain::secret::TokenHash;
use portcullis_http::AppState;
use portcullis_http::limits::{Limit, RateLimitSettings};
use portcullis_infrastructure::audit_batch::BatchedAuditLog;
use portcullis_infrastructure::cipher::AesGcmCipher;
use portcullis_infrastructure::clamav::ClamdScanner;
use portcullis_infrastructure::clock::SystemClock;
use portcullis_infrastructure::fallback::{FallbackLoginAttempts, FallbackRateLimiter};
use portcullis_infrastructure::jwt::JwtIssuer;
use portcullis_infrastructure::local_disk::LocalDiskStore;
use portcullis_infrastructure::memory::{
    MemoryAuditLog, MemoryCredentialStore, MemoryDeviceStore, MemoryEphemeralStore, MemoryEventBus,
    MemoryFactorStore, MemoryFileRepository, MemoryInvitations, MemoryJobQueue, MemoryLinkedAccounts,
    MemoryLoginAttempts, MemoryObjectStore, MemoryOneTimeTokens, MemoryOutbox, MemoryOutboxStore,
    MemoryPermissionCache, MemoryRateLimiter, MemoryRevocationList, MemoryRoleStore, MemorySessionStore,
    MemoryTexts, MemoryUserRepository, MemoryVirusScanner,
};
use portcullis_infrastructure::oauth::OAuthProviders;
use portcullis_infrastructure::password::{Argon2Hasher, PoolLimits};
use portcullis_infrastructure::postgres::{
    self, PgAuditLog, PgCredentialStore, PgDeviceStore, PgFactorStore, PgFileRepository, PgHealth,
    PgInvitations, PgLinkedAccounts, PgOneTimeTokens, PgOutbox, PgRoleRepository, PgSessionStore,
    PgUserRepository,
};
use portcullis_infrastructure::random::OsTokenGenerator;
use portcullis_infrastructure::redis::{
    LeasePolicy, RedisCachedUsers, RedisEphemeralStore, RedisEventBus, RedisJobQueue, RedisLoginAttempts,
    RedisPermissionCache, RedisRateLimiter, RedisRevocationList, RedisStore,
};
use portcullis_infrastructure::s3::S3ObjectStore;
use portcullis_infrastructure::signed_urls::SignedUrls;
use portcullis_infrastructure::smtp::SmtpMailer;
use portcullis_infrastructure::totp::RfcTotp;
use portcullis_infrastructure::twilio::TwilioSms;
use portcullis_infrastructure::webauthn::WebauthnRs;
use portcullis_metrics::Metrics;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("PostgreSQL")]
    Postgres(#[from] postgres::PgSetupError),
    #[error("Redis")]
    Redis(#[from] portcullis_infrastructure::redis::RedisConfigError),
    #[error("JWT key")]
    Key(#[from] portcullis_infrastructure::jwt::KeyError),
    #[error("password hasher")]
    Hasher(#[source] portcullis_application::ports::HashError),
    #[error("metrics registry")]
    Metrics(#[source] portcullis_metrics::MetricsError),
    #[error("SMTP")]
    Smtp(#[from] portcullis_infrastructure::smtp::SmtpSetupError),
    #[error("UPLOAD_DIR")]
    Storage(#[source] ObjectStoreError),
    #[error("PRESIGNED_URL_SECRET")]
    UrlSecret(#[source] portcullis_infrastructure::signed_urls::WeakSecret),
    #[error("S3")]
    S3(#[from] portcullis_infrastructure::s3::S3SetupError),
    #[error("OAuth providers")]
    OAuth(#[from] portcullis_infrastructure::oauth::OAuthSetupError),
    #[error("WebAuthn relying party")]
    Webauthn(#[from] portcullis_infrastructure::webauthn::RelyingPartyError),
    #[error("TWILIO_*: the HTTP client could not be built")]
    Twilio(#[from] portcullis_infrastructure::twilio::TwilioSetupError),
    #[error("BOOTSTRAP_ADMIN_EMAIL / BOOTSTRAP_ADMIN_PASSWORD: {}", bootstrap_problem(.0))]
    Bootstrap(#[source] portcullis_application::AppError),
}

/// What was wrong with the bootstrap admin, in words an operator can act on.
fn bootstrap_problem(error: &portcullis_application::AppError) -> String {
    match error {
        portcullis_application::AppError::Validation(errors) => {
            let problems: Vec<&str> = errors.0.iter().map(|v| v.message.as_str()).collect();
            format!("the password does not meet the password policy: {}", problems.join("; "))
        }
        other => format!("the first admin could not be created: {other}"),
    }
}

/// Replaceable parts, for tests (e.g. a manual clock).
#[derive(Default, Clone)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    /// Replaces the configured virus scanner (e.g. one a test switches off).
    pub scanner: Option<Arc<dyn VirusScanner>>,
}

/// Everything `serve` and `worker` run.
pub struct Application {
    pub state: AppState,
    pub worker: Worker,
    /// The in-memory outbox, when no SMTP server is configured.
    pub outbox: Option<Arc<MemoryOutbox>>,
    /// The in-memory text messages, when Twilio is not configured.
    pub texts: Option<Arc<MemoryTexts>>,
    /// The batching audit writer on PostgreSQL: flush it before exiting.
    pub audit_writer: Option<Arc<BatchedAuditLog>>,
}

/// Assembles every adapter. With `DATABASE_URL` set the migrations are applied
/// first; a failure there stops start-up.
pub async fn build(config: &Config, overrides: Overrides) -> Result<Application, StartupError> {
    if config.server.legacy_trust_proxy_headers {
        tracing::warn!(
            "TRUST_PROXY_HEADERS is deprecated: use TRUSTED_PROXIES (CIDRs); TRUST_PROXY_HEADERS=true means TRUSTED_PROXIES=127.0.0.0/8,::1"
        );
    }
    let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let metrics = Metrics::new().map_err(StartupError::Metrics)?;
    let mut health: Vec<Arc<dyn HealthCheck>> = Vec::new();
    let std_duration = |d: time::Duration| std::time::Duration::from_millis(d.whole_milliseconds() as u64);

    type Relational = (
        Arc<dyn UserRepository>,
        Arc<dyn SessionStore>,
        Arc<dyn AuditLog>,
        Arc<dyn OneTimeTokenStore>,
        Arc<dyn Outbox>,
        Arc<dyn FileRepository>,
        Arc<dyn RoleRepository>,
        Arc<dyn DeviceStore>,
        Arc<dyn InvitationStore>,
        Arc<dyn FactorStore>,
        Arc<dyn CredentialStore>,
        Arc<dyn LinkedAccountStore>,
    );
    // Audit events reach PostgreSQL in batches (ADR 0016); kept to flush at stop.
    let mut audit_writer = None;
    let (
        mut users,
        sessions,
        audit,
        one_time_tokens,
        promised,
        files,
        roles,
        devices,
        invitation_store,
        factors,
        credentials,
        linked,
    ): Relational = match &config.database.backend {
        RelationalBackend::Postgres { url } => {
            let applied = postgres::run_migrations(url)?;
            tracing::info!(applied = applied.len(), versions = ?applied, "database migrations applied");
            let pool = postgres::pool(url, config.database.pool_size)?;
            health.push(Arc::new(PgHealth(pool.clone())));
            (
                Arc::new(PgUserRepository::new(pool.clone())),
                Arc::new(PgSessionStore::new(pool.clone())),
                {
                    let batched = Arc::new(BatchedAuditLog::new(Arc::new(PgAuditLog::new(pool.clone()))));
                    audit_writer = Some(batched.clone());
                    batched
                },
                Arc::new(PgOneTimeTokens::new(pool.clone())),
                Arc::new(PgOutbox::new(pool.clone())),
                Arc::new(PgFileRepository::new(pool.clone())),
                Arc::new(PgRoleRepository::new(pool.clone())),
                Arc::new(PgDeviceStore::new(pool.clone())),
                Arc::new(PgInvitations::new(pool.clone())),
                Arc::new(PgFactorStore::new(pool.clone())),
                Arc::new(PgCredentialStore::new(pool.clone())),
                Arc::new(PgLinkedAccounts::new(pool)),
            )
        }
        RelationalBackend::Memory => {
            tracing::warn!(
                "DATABASE_URL is not set: users, sessions, files and the audit log live IN MEMORY and are LOST when the process stops"
            );
            let outbox = Arc::new(MemoryOutboxStore::default());
            let roles = Arc::new(MemoryRoleStore::default());
            let credentials = Arc::new(MemoryCredentialStore::default());
            (
                Arc::new(MemoryUserRepository::with_outbox_and_roles(outbox.clone(), roles.clone())),
                Arc::new(MemorySessionStore::default()),
                Arc::new(MemoryAuditLog::default()),
                Arc::new(MemoryOneTimeTokens::default()),
                outbox.clone(),
                Arc::new(MemoryFileRepository::with_outbox(outbox.clone())),
                roles,
                Arc::new(MemoryDeviceStore::default()),
                Arc::new(MemoryInvitations::with_outbox(outbox)),
                Arc::new(MemoryFactorStore::with_credentials(credentials.clone())),
                credentials,
                Arc::new(MemoryLinkedAccounts::default()),
            )
        }
    };

    let in_process_limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(clock.clone()));
    type Shared = (
        Arc<dyn RateLimiter>,
        Arc<dyn LoginAttempts>,
        Arc<dyn RevocationList>,
        Arc<dyn JobQueue>,
        Arc<dyn EventBus>,
        Arc<dyn PermissionCache>,
        Arc<dyn EphemeralStore>,
    );
    let (rate_limiter, attempts, revocations, queue, bus, grants, ephemeral): Shared = match &config
        .redis
        .backend
    {
        SharedBackend::Redis { url } => {
            let store = RedisStore::new(url, &config.redis.key_prefix, config.database.pool_size.max(8))?;
            health.push(Arc::new(store.clone()));
            if matches!(config.database.backend, RelationalBackend::Postgres { .. }) {
                // The hot paths read accounts from memory, invalidated over
                // Redis; PostgreSQL stays the source of truth (ADR 0017).
                users = Arc::new(RedisCachedUsers::new(users, store.clone(), url));
            }
            let fallbacks = metrics.rate_limit_fallbacks.clone();
            let limiter = FallbackRateLimiter::new(
                Arc::new(RedisRateLimiter::leasing(store.clone(), LeasePolicy::default())),
                in_process_limiter,
                Arc::new(move || fallbacks.inc()),
            );
            let lockout_fallbacks = metrics.lockout_fallbacks.clone();
            let attempts = FallbackLoginAttempts::new(
                Arc::new(RedisLoginAttempts::new(store.clone())),
                Arc::new(MemoryLoginAttempts::new(clock.clone())),
                Arc::new(move || lockout_fallbacks.inc()),
            );
            (
                Arc::new(limiter),
                Arc::new(attempts),
                Arc::new(RedisRevocationList::new(store.clone(), url)),
                Arc::new(RedisJobQueue::new(store.clone())),
                Arc::new(RedisEventBus::new(store.clone(), url)),
                Arc::new(RedisPermissionCache::new(store.clone())),
                Arc::new(RedisEphemeralStore::new(store)),
            )
        }
        SharedBackend::Memory => {
            tracing::warn!(
                "REDIS_URL is not set: rate limits, lockouts, revocations, the job queue and file status events are IN MEMORY, per process, and LOST on restart"
            );
            (
                in_process_limiter,
                Arc::new(MemoryLoginAttempts::new(clock.clone())),
                Arc::new(MemoryRevocationList::new(clock.clone())),
                Arc::new(MemoryJobQueue::new(clock.clone())),
                Arc::new(MemoryEventBus::default()),
                Arc::new(MemoryPermissionCache::new(clock.clone())),
                Arc::new(MemoryEphemeralStore::new(clock.clone())),
            )
        }
    };
    let jobs: Arc<dyn JobQueue> =
        Arc::new(MeteredQueue::new(queue, metrics.clone(), config.jobs.max_retries));

    let (mailer, outbox): (Arc<dyn Mailer>, Option<Arc<MemoryOutbox>>) = match &config.mail.smtp {
        Some(smtp) => (Arc::new(SmtpMailer::new(smtp)?), None),
        None => {
            tracing::warn!("SMTP_HOST is not set: mail goes to the in-memory outbox and is NOT DELIVERED");
            let outbox = if config.mail.to_console {
                tracing::warn!(
                    "MAIL_TO_CONSOLE: each mail (links included) is printed to the console — development only, nothing here is real"
                );
                Arc::new(MemoryOutbox::printing())
            } else {
                Arc::new(MemoryOutbox::default())
            };
            (outbox.clone(), Some(outbox))
        }
    };

    let (sms, texts): (Arc<dyn SmsSender>, Option<Arc<MemoryTexts>>) = match &config.sms.twilio {
        Some(twilio) => {
            let sender = TwilioSms::new(twilio.clone())?;
            (Arc::new(sender), None)
        }
        None => {
            tracing::warn!(
                "TWILIO_ACCOUNT_SID is not set: texted codes go to the in-memory outbox and reach NO PHONE"
            );
            let texts = Arc::new(if config.mail.to_console {
                MemoryTexts::printing()
            } else {
                MemoryTexts::default()
            });
            (texts.clone(), Some(texts))
        }
    };

    let mut access_tokens = match &config.tokens.private_key_path {
        Some(path) => JwtIssuer::from_pem_file(
            config.tokens.algorithm,
            path,
            &config.tokens.issuer,
            &config.tokens.audience,
            config.tokens.access_token_ttl,
        )?,
        None => {
            tracing::warn!(
                "JWT_PRIVATE_KEY_PATH is not set: generated a throwaway Ed25519 signing key; tokens stop verifying when the process stops"
            );
            JwtIssuer::generate_ed25519(
                &config.tokens.issuer,
                &config.tokens.audience,
                config.tokens.access_token_ttl,
            )?
        }
    };
    tracing::info!(kid = access_tokens.kid(), "access-token signing key loaded");
    let verifying = access_tokens.add_verification_keys(&config.tokens.previous_public_keys)?;
    if !verifying.is_empty() {
        tracing::info!(kids = ?verifying, "additional access-token verification keys loaded (rotation)");
    }

    let hasher = Argon2Hasher::with_peppers(
        config.passwords.argon2,
        PoolLimits {
            concurrency: config.passwords.max_hash_concurrency,
            queue: config.passwords.hash_queue_size,
        },
        config.passwords.peppers.clone(),
    )
    .map_err(StartupError::Hasher)?;

    let settings = AuthSettings {
        password_policy: config.passwords.policy.clone(),
        refresh_token_ttl: config.tokens.refresh_token_ttl,
        session_limits: config.tokens.session_limits,
        refresh_reuse_grace: config.tokens.refresh_reuse_grace,
        lockout: LockoutPolicy {
            threshold: config.limits.lockout_threshold,
            window: config.limits.auth_window,
            lock_for: config.limits.lockout_duration,
        },
        account_lockout: LockoutPolicy {
            threshold: config.limits.account_lockout_threshold,
            window: config.limits.account_lockout_window,
            lock_for: config.limits.lockout_duration,
        },
        app_base_url: config.accounts.app_base_url.clone(),
        require_email_verification: config.accounts.require_email_verification,
        reauth_window: config.accounts.reauth_window,
        sms_limits: config.sms.limits,
        oauth_redirect_base_url: config.oauth.redirect_base_url.clone(),
    };
    let cipher: Arc<dyn Cipher> = match &config.encryption.cipher {
        Some(cipher) => {
            tracing::info!(
                key_id = cipher.current_key_id(),
                "secrets at rest are sealed with ENCRYPTION_KEYS"
            );
            cipher.clone()
        }
        None => {
            tracing::warn!(
                "ENCRYPTION_KEYS is not set: generated a THROWAWAY key for secrets at rest (TOTP secrets); what it seals cannot be read after a restart"
            );
            Arc::new(AesGcmCipher::ephemeral())
        }
    };
    let token_generator: Arc<dyn TokenGenerator> = Arc::new(OsTokenGenerator);
    let app_base_url = settings.app_base_url.clone();
    let identity = Identity::new(
        AuthPorts {
            users: users.clone(),
            sessions: sessions.clone(),
            attempts,
            revocations,
            audit: audit.clone(),
            hasher: Arc::new(hasher),
            access_tokens: Arc::new(access_tokens),
            token_generator: token_generator.clone(),
            clock: clock.clone(),
            outbox: promised.clone(),
            one_time_tokens: one_time_tokens.clone(),
            devices: devices.clone(),
            factors: factors.clone(),
            totp: Arc::new(RfcTotp::new(&config.accounts.totp_issuer)),
            cipher,
            ephemeral: ephemeral.clone(),
            limiter: rate_limiter.clone(),
            credentials,
            ceremonies: Arc::new(WebauthnRs::new(&config.webauthn)?),
            providers: Arc::new(OAuthProviders::new(config.oauth.providers.clone(), config.oauth.timeout)?),
            linked,
        },
        settings,
    );
    let limits = RateLimitSettings {
        general: Limit { max_requests: config.limits.max_requests, window: config.limits.window },
        auth: Limit { max_requests: config.limits.auth_max_requests, window: config.limits.auth_window },
        trusted_general: Limit {
            max_requests: config.limits.trusted_max_requests,
            window: config.limits.window,
        },
        trusted_proxies: config.server.trusted_proxies.clone(),
    };
    let access = AccessControl::new(roles.clone(), grants, AuditTrail::new(audit.clone(), clock.clone()));
    let role_service = RoleService::new(
        roles.clone(),
        users.clone(),
        access.clone(),
        AuditTrail::new(audit.clone(), clock.clone()),
        clock.clone(),
    );
    if let Some((email, password)) = &config.accounts.bootstrap_admin {
        match role_service.bootstrap_admin(&identity.accounts, email, password).await {
            Ok(Bootstrap::Created(id)) => {
                tracing::warn!(user_id = %id, email = email.as_str(), "BOOTSTRAP_ADMIN_EMAIL: the first admin account was created; remove BOOTSTRAP_ADMIN_PASSWORD from the environment now")
            }
            Ok(Bootstrap::AlreadyAdmin(_)) => {
                tracing::info!("BOOTSTRAP_ADMIN_EMAIL: the account exists and is an admin; nothing to do")
            }
            Ok(Bootstrap::ExistsWithoutAdmin(id)) => {
                tracing::error!(user_id = %id, email = email.as_str(), "BOOTSTRAP_ADMIN_EMAIL: an account with this address exists WITHOUT the admin role; it was NOT promoted (it may not be yours). Grant the role through PUT /api/v1/admin/users/{id}/roles, or use another address")
            }
            Err(error) => return Err(StartupError::Bootstrap(error)),
        }
    }
    // The store, its presigned URLs, and the `/storage` routes when the URLs
    // point at this server (memory and local stores).
    let self_signed = |objects: Arc<dyn ObjectStore>| -> Result<_, StartupError> {
        let secret = match &config.files.url_secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::warn!(
                    "PRESIGNED_URL_SECRET is not set: presigned links are signed with a random per-process key; they stop working when the process stops and are not valid on other instances"
                );
                portcullis_domain::secret::Secret::new(
                    uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string(),
                )
            }
        };
        let signer = Arc::new(
            SignedUrls::new(secret, &config.files.storage_base_url).map_err(StartupError::UrlSecret)?,
        );
        let storage = SelfServedStorage::new(objects.clone(), signer.clone(), clock.clone());
        Ok((objects, signer as Arc<dyn UrlPresigner>, Some(storage)))
    };
    let (objects, urls, storage): (Arc<dyn ObjectStore>, Arc<dyn UrlPresigner>, Option<SelfServedStorage>) =
        match &config.files.storage {
            StorageBackend::Memory => {
                tracing::warn!(
                    "STORAGE_BACKEND=memory: uploaded files are kept IN MEMORY and are LOST when the process stops"
                );
                self_signed(Arc::new(MemoryObjectStore::default()))?
            }
            StorageBackend::Local { dir } => {
                tracing::info!(dir = %dir.display(), "uploaded files are stored on local disk");
                self_signed(Arc::new(
                    LocalDiskStore::open(dir.clone()).await.map_err(StartupError::Storage)?,
                ))?
            }
            StorageBackend::S3(s3) => {
                tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "uploaded files are stored in S3");
                let store = Arc::new(S3ObjectStore::new(s3)?);
                health.push(store.clone());
                (store.clone(), store, None)
            }
        };
    let scanner: Arc<dyn VirusScanner> = match (overrides.scanner, &config.files.scanner) {
        (Some(scanner), _) => scanner,
        (None, ScannerBackend::Clamd { address, timeout }) => {
            let clamd = Arc::new(ClamdScanner::new(address.clone(), std_duration(*timeout)));
            health.push(clamd.clone());
            clamd
        }
        (None, ScannerBackend::Memory) => {
            tracing::warn!(
                "CLAMAV_HOST / CLAMAV_SOCKET are not set: uploads are scanned by the IN-MEMORY scanner, which knows ONLY the EICAR test string — NOT A REAL VIRUS SCAN"
            );
            Arc::new(MemoryVirusScanner::new(config.files.settings.max_file_size))
        }
    };
    let scanner: Arc<dyn VirusScanner> = Arc::new(MeteredScanner::new(scanner, metrics.clone()));
    let events: Arc<dyn EventBus> = Arc::new(MeteredEvents::new(bus, metrics.clone()));
    let file_audit = AuditTrail::new(audit.clone(), clock.clone());
    let file_service = FileService::new(
        FilePorts {
            files: files.clone(),
            objects: objects.clone(),
            urls,
            events: events.clone(),
            audit: file_audit.clone(),
            clock: clock.clone(),
        },
        config.files.settings.clone(),
    );
    let session_service = SessionService::new(
        sessions.clone(),
        devices.clone(),
        identity.sign_in.issuer.revocations.clone(),
        events.clone(),
        AuditTrail::new(audit.clone(), clock.clone()),
        clock.clone(),
        config.tokens.session_limits,
    );
    let invitations = InvitationService::new(
        invitation_store.clone(),
        users.clone(),
        role_service.clone(),
        identity.accounts.clone(),
        identity.sign_in.issuer.clone(),
        access.clone(),
        token_generator.clone(),
        AuditTrail::new(audit.clone(), clock.clone()),
        clock.clone(),
    );
    let state = AppState {
        invitations,
        sign_in: identity.sign_in,
        accounts: identity.accounts,
        links: identity.links,
        mfa: identity.mfa,
        webauthn: identity.webauthn,
        oauth: identity.oauth,
        audit: identity.audit,
        keys: identity.keys,
        admin: AdminService::new(access.clone(), jobs.clone(), AuditTrail::new(audit.clone(), clock.clone())),
        roles: role_service,
        audit_query: AuditQuery::new(audit.clone(), access.clone()),
        user_admin: UserAdmin::new(
            users.clone(),
            roles.clone(),
            devices.clone(),
            audit.clone(),
            session_service.clone(),
            access.clone(),
            AuditTrail::new(audit.clone(), clock.clone()),
            clock.clone(),
        ),
        devices: DeviceService::new(
            devices.clone(),
            sessions.clone(),
            session_service.clone(),
            AuditTrail::new(audit.clone(), clock.clone()),
            clock.clone(),
        ),
        sessions: session_service,
        files: file_service,
        storage,
        live: portcullis_http::state::LiveSettings {
            ping_interval: std_duration(config.files.ws_ping_interval),
            ping_timeout: std_duration(config.files.ws_ping_timeout),
        },
        access,
        rate_limiter,
        rate_limits: limits,
        health,
        metrics: metrics.clone(),
        jobs: jobs.clone(),
        json_limit: config.server.json_body_limit,
        body_timeout: std_duration(config.server.request_body_timeout),
        header_timeout: std_duration(config.server.request_header_timeout),
        magic_link_enabled: config.accounts.magic_link_enabled,
        request_timeout: std_duration(config.server.request_timeout),
        browser: portcullis_http::state::BrowserSettings {
            cors_allowed_origins: config.server.cors_allowed_origins.clone(),
            hsts: config.server.hsts_enabled,
        },
        metrics_token: config.server.metrics_bearer_token.as_ref().map(TokenHash::of),
    };

    let handlers: Vec<Arc<dyn JobHandler>> = vec![
        Arc::new(SendEmail::new(mailer.clone())),
        Arc::new(SendInvitation {
            invitations: invitation_store,
            tokens: token_generator.clone(),
            mailer: mailer.clone(),
            clock: clock.clone(),
            app_base_url: app_base_url.clone(),
        }),
        Arc::new(SendLink {
            users,
            one_time_tokens,
            token_generator: token_generator.clone(),
            clock: clock.clone(),
            mailer,
            audit: AuditTrail::new(audit.clone(), clock.clone()),
            settings: LinkSettings { app_base_url, magic_link_ttl: config.accounts.magic_link_ttl },
        }),
        Arc::new(SendSmsCode {
            factors,
            codes: ephemeral,
            tokens: token_generator,
            sms,
            audit: AuditTrail::new(audit, clock.clone()),
            product: config.accounts.totp_issuer.clone(),
        }),
        Arc::new(PurgeSessions::new(sessions, clock.clone())),
        Arc::new(PurgeDevices::new(devices, clock.clone(), config.accounts.device_retention)),
        Arc::new(ScanFile::new(
            files.clone(),
            objects.clone(),
            scanner,
            jobs.clone(),
            events.clone(),
            file_audit.clone(),
            clock.clone(),
        )),
        Arc::new(ProcessFile::new(
            files.clone(),
            objects.clone(),
            portcullis_infrastructure::inspect::builtin(config.files.max_unpacked_size),
            events,
            file_audit.clone(),
            clock.clone(),
        )),
        Arc::new(PurgeAbandonedUploads::new(
            files.clone(),
            objects.clone(),
            clock.clone(),
            config.files.settings.url_expiry,
        )),
        Arc::new(PurgeQuarantine::new(
            files,
            objects,
            file_audit,
            clock.clone(),
            config.files.settings.quarantine_retention,
        )),
    ];
    let relay = OutboxRelay::new(promised, jobs.clone(), clock.clone());
    let worker = Worker::new(jobs, relay, handlers, clock, metrics, config.jobs.clone());
    Ok(Application { state, worker, outbox, texts, audit_writer })
}
