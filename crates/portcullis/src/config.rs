//! Configuration from the environment, validated at start. Every problem is
//! collected and reported together, each naming its variable.

use portcullis_domain::email::Email;
use portcullis_domain::password::PasswordPolicy;
use portcullis_domain::secret::Secret;
use portcullis_http::client_ip::TrustedProxies;
use portcullis_infrastructure::jwt::SigningAlgorithm;
use portcullis_infrastructure::password::{Argon2Params, Pepper, Peppers};
use portcullis_infrastructure::smtp::{SmtpConfig, SmtpTls};
use std::fmt;
use std::str::FromStr;
use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The whole configuration, in sections. Each section reads its own
/// variables; every bad variable of every section is reported together.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub tokens: TokenConfig,
    pub passwords: PasswordConfig,
    pub limits: LimitConfig,
    pub accounts: AccountConfig,
    pub mail: MailConfig,
    pub jobs: WorkerConfig,
    pub telemetry: TelemetryConfig,
    pub files: FilesConfig,
    pub encryption: EncryptionConfig,
    pub sms: SmsConfig,
    /// The WebAuthn relying party (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_ORIGIN`,
    /// `WEBAUTHN_RP_NAME`).
    pub webauthn: portcullis_infrastructure::webauthn::RelyingParty,
    pub oauth: OAuthConfig,
}

/// Sign-in providers (`OAUTH_PROVIDERS` and `OAUTH_<NAME>_*`).
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub providers: Vec<portcullis_infrastructure::oauth::ProviderConfig>,
    /// `OAUTH_REDIRECT_BASE_URL` (default `APP_BASE_URL`).
    pub redirect_base_url: String,
    pub timeout: std::time::Duration,
}

/// One provider's settings: `OAUTH_<NAME>_CLIENT_ID` and `_CLIENT_SECRET`
/// always; `google`, `microsoft` (with `_TENANT`) and `github` know their
/// endpoints; any other name is OpenID Connect by discovery from `_ISSUER`.
fn read_provider(r: &mut Reader, name: &str) -> Option<portcullis_infrastructure::oauth::ProviderConfig> {
    use portcullis_infrastructure::oauth::{ProviderConfig, ProviderKind};
    let var = |suffix: &str| format!("OAUTH_{}_{suffix}", name.to_ascii_uppercase().replace('-', "_"));
    if !(1..=32).contains(&name.len())
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        r.problems
            .push(format!("OAUTH_PROVIDERS: {name:?} is not a provider name (a-z, 0-9, -; at most 32)"));
        return None;
    }
    let mut required = |suffix: &str| {
        let key = var(suffix);
        r.raw(&key).or_else(|| {
            r.problems.push(format!("{key}: required for provider {name:?} in OAUTH_PROVIDERS"));
            None
        })
    };
    let client_id = required("CLIENT_ID");
    let client_secret = required("CLIENT_SECRET");
    let oidc_scopes = "openid email profile";
    let (kind, scopes) = match name {
        "github" => {
            let base = |suffix: &str, default: &str| r.text(&var(suffix), default);
            let kind = ProviderKind::GitHub {
                authorize_url: base("AUTHORIZE_URL", "https://github.com/login/oauth/authorize"),
                token_url: base("TOKEN_URL", "https://github.com/login/oauth/access_token"),
                api_url: base("API_URL", "https://api.github.com"),
            };
            (kind, "read:user user:email")
        }
        "google" => (
            ProviderKind::Oidc { issuer: r.text(&var("ISSUER"), "https://accounts.google.com") },
            oidc_scopes,
        ),
        "microsoft" => {
            let tenant = r.raw(&var("TENANT")).unwrap_or_default();
            if tenant.is_empty() || ["common", "organizations"].contains(&tenant.as_str()) {
                r.problems.push(format!(
                    "{}: a tenant id (or `consumers`): `common` and `organizations` issue tokens whose issuer varies by tenant",
                    var("TENANT")
                ));
            }
            let default = format!("https://login.microsoftonline.com/{tenant}/v2.0");
            (ProviderKind::Oidc { issuer: r.text(&var("ISSUER"), &default) }, oidc_scopes)
        }
        _ => match r.raw(&var("ISSUER")) {
            Some(issuer) => (ProviderKind::Oidc { issuer }, oidc_scopes),
            None => {
                r.problems
                    .push(format!("{}: required for the OpenID Connect provider {name:?}", var("ISSUER")));
                return None;
            }
        },
    };
    let scopes = r.text(&var("SCOPES"), scopes).split_whitespace().map(str::to_owned).collect();
    Some(ProviderConfig {
        name: name.to_owned(),
        client_id: client_id?,
        client_secret: Secret::new(client_secret?),
        kind,
        scopes,
    })
}

impl OAuthConfig {
    fn read(r: &mut Reader, app_base_url: &str) -> Self {
        let names = r.raw("OAUTH_PROVIDERS").unwrap_or_default();
        let providers = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .filter_map(|name| read_provider(r, name))
            .collect();
        let timeout = r.duration("OAUTH_TIMEOUT", Duration::seconds(10), Duration::seconds(1));
        Self {
            providers,
            redirect_base_url: r.text("OAUTH_REDIRECT_BASE_URL", app_base_url),
            timeout: std::time::Duration::from_millis(timeout.whole_milliseconds().max(0) as u64),
        }
    }
}

/// The relying party passkeys are bound to. Defaults follow `APP_BASE_URL`
/// (its origin, and its host as the RP id); checked at start by building it.
fn read_webauthn(r: &mut Reader, app_base_url: &str) -> portcullis_infrastructure::webauthn::RelyingParty {
    let (default_origin, default_id) = origin_and_host(app_base_url);
    let origin = r.text("WEBAUTHN_RP_ORIGIN", &default_origin);
    let default_id = if origin == default_origin { default_id } else { origin_and_host(&origin).1 };
    let rp = portcullis_infrastructure::webauthn::RelyingParty {
        id: r.text("WEBAUTHN_RP_ID", &default_id),
        origin,
        name: r.text("WEBAUTHN_RP_NAME", "Portcullis"),
    };
    if let Err(e) = portcullis_infrastructure::webauthn::WebauthnRs::new(&rp) {
        r.problems.push(e.to_string());
    }
    rp
}

/// The origin (`scheme://host[:port]`) and host of a URL; the input and an
/// empty host when it is no URL (building the relying party then says so).
fn origin_and_host(raw: &str) -> (String, String) {
    match url::Url::parse(raw) {
        Ok(u) => (u.origin().ascii_serialization(), u.host_str().unwrap_or_default().to_owned()),
        Err(_) => (raw.to_owned(), String::new()),
    }
}

/// Texted codes: Twilio (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`,
/// `TWILIO_FROM`, all or none) and the limits per user and per number.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// `None`: texts go to the in-memory outbox and reach no phone.
    pub twilio: Option<portcullis_infrastructure::twilio::TwilioConfig>,
    pub limits: portcullis_application::auth::SmsLimits,
}

impl SmsConfig {
    fn read(r: &mut Reader) -> Self {
        let limits = portcullis_application::auth::SmsLimits {
            max: r.number("SMS_RATE_LIMIT_MAX", 5u32, 1),
            window: r.duration("SMS_RATE_LIMIT_WINDOW", Duration::hours(1), Duration::seconds(1)),
        };
        let names = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"];
        let values: Vec<Option<String>> = names.iter().map(|n| r.raw(n)).collect();
        let twilio = match values.as_slice() {
            [Some(sid), Some(token), Some(from)] => {
                if !(sid.starts_with("AC")
                    && sid.len() == 34
                    && sid.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    r.problems.push("TWILIO_ACCOUNT_SID: expected AC followed by 32 hex characters".into());
                }
                let timeout = r.duration("TWILIO_TIMEOUT", Duration::seconds(10), Duration::seconds(1));
                Some(portcullis_infrastructure::twilio::TwilioConfig {
                    account_sid: sid.clone(),
                    auth_token: Secret::new(token.clone()),
                    from: from.clone(),
                    api_url: r.text("TWILIO_API_URL", "https://api.twilio.com"),
                    timeout: std::time::Duration::from_millis(timeout.whole_milliseconds().max(0) as u64),
                })
            }
            [None, None, None] => None,
            _ => {
                let missing: Vec<&str> =
                    names.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
                r.problems.push(format!(
                    "{}: required with the other TWILIO_* settings (set all three, or none for the in-memory outbox)",
                    missing.join(", ")
                ));
                None
            }
        };
        Self { twilio, limits }
    }
}

/// Secrets kept at rest (TOTP secrets, provider tokens) are sealed with
/// these keys (`ENCRYPTION_KEYS`, `ENCRYPTION_KEY_ID`).
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// `None`: not configured — allowed only without `DATABASE_URL`, where a
    /// throwaway key is generated (and warned about).
    pub cipher: Option<std::sync::Arc<portcullis_infrastructure::cipher::AesGcmCipher>>,
}

impl EncryptionConfig {
    fn read(r: &mut Reader) -> Self {
        use portcullis_infrastructure::cipher::{AesGcmCipher, parse_keys};
        let current = r.raw("ENCRYPTION_KEY_ID");
        let Some(raw) = r.raw("ENCRYPTION_KEYS") else {
            if current.is_some() {
                r.problems.push("ENCRYPTION_KEY_ID: set without ENCRYPTION_KEYS".into());
            }
            return Self { cipher: None };
        };
        match parse_keys(&raw).and_then(|keys| AesGcmCipher::new(&keys, current.as_deref())) {
            Ok(cipher) => Self { cipher: Some(std::sync::Arc::new(cipher)) },
            Err(e) => {
                r.problems.push(format!("ENCRYPTION_KEYS / ENCRYPTION_KEY_ID: {e}"));
                Self { cipher: None }
            }
        }
    }
}

/// Where uploaded bytes live: chosen here, once, from `STORAGE_BACKEND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// In this process; lost when it stops.
    Memory,
    /// A directory (`UPLOAD_DIR`).
    Local { dir: std::path::PathBuf },
    /// An S3-compatible bucket (`S3_BUCKET_NAME`, `AWS_*`).
    S3(portcullis_infrastructure::s3::S3Config),
}

/// Which virus scanner runs: clamd when `CLAMAV_HOST` or `CLAMAV_SOCKET` is
/// set, otherwise the in-memory one that knows only the EICAR test string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerBackend {
    Memory,
    Clamd { address: portcullis_infrastructure::clamav::ClamdAddress, timeout: Duration },
}

/// File intake.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    pub storage: StorageBackend,
    pub scanner: ScannerBackend,
    pub settings: portcullis_application::files::FileSettings,
    /// Most bytes an xlsx may unpack to before processing gives up on it
    /// (`XLSX_MAX_UNPACKED_SIZE`).
    pub max_unpacked_size: u64,
    /// `WS_PING_INTERVAL`: how often a status socket is pinged (and its token re-checked).
    pub ws_ping_interval: Duration,
    /// `WS_PING_TIMEOUT`: how long past a ping a socket may stay silent.
    pub ws_ping_timeout: Duration,
    /// `PRESIGNED_URL_SECRET`: signs the memory and local stores' links
    /// (`None` with memory storage: a random one per process, warned about).
    pub url_secret: Option<Secret>,
    /// `STORAGE_BASE_URL`: where this server's `/storage` routes are reached.
    pub storage_base_url: String,
}

/// Where users, sessions, the audit log and the outbox live: chosen here,
/// once, from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationalBackend {
    /// In this process; lost when it stops.
    Memory,
    Postgres {
        url: String,
    },
}

/// Where rate limits, lockout counters, the revocation cache and the job
/// queue live: chosen here, once, from `REDIS_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedBackend {
    /// In this process; not shared with other instances.
    Memory,
    Redis {
        url: String,
    },
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub json_body_limit: usize,
    /// Time to receive a request's head (`REQUEST_HEADER_TIMEOUT`).
    pub request_header_timeout: Duration,
    /// Time to receive a request's body (`REQUEST_BODY_TIMEOUT`).
    pub request_body_timeout: Duration,
    /// Peers whose proxy headers are believed (`TRUSTED_PROXIES`, plus
    /// loopback for the deprecated `TRUST_PROXY_HEADERS=true`).
    pub trusted_proxies: TrustedProxies,
    /// `TRUST_PROXY_HEADERS` was set (deprecated; warned about at start).
    pub legacy_trust_proxy_headers: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <it>`.
    pub metrics_bearer_token: Option<Secret>,
    /// Time a handler may take to answer (`REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Exact origins a browser front end may call from (`CORS_ALLOWED_ORIGINS`).
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (`HSTS_ENABLED`; only behind TLS).
    pub hsts_enabled: bool,
}

/// One exact origin, `scheme://host[:port]`, as browsers send it in `Origin`.
fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{raw:?} is not an origin: it must start with https:// or http://"))?;
    if origin.contains('*') {
        return Err(format!(
            "{raw:?}: wildcards are not allowed (credentials are sent to listed origins only)"
        ));
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("{raw:?} is not an origin: scheme://host[:port], no path or trailing slash"));
    }
    Ok(origin)
}

fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',').map(str::trim).filter(|o| !o.is_empty()).map(parse_origin).collect()
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub backend: RelationalBackend,
    pub pool_size: usize,
}

impl DatabaseConfig {
    /// The PostgreSQL URL, when that is the backend.
    pub fn url(&self) -> Option<&str> {
        match &self.backend {
            RelationalBackend::Postgres { url } => Some(url),
            RelationalBackend::Memory => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub backend: SharedBackend,
    pub key_prefix: String,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub algorithm: SigningAlgorithm,
    pub private_key_path: Option<String>,
    /// Public keys that verify but do not sign (rotation), `JWT_PREVIOUS_PUBLIC_KEYS`.
    pub previous_public_keys: Vec<String>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    /// `SESSION_IDLE_TIMEOUT` (default: the refresh-token lifetime) and
    /// `SESSION_ABSOLUTE_TIMEOUT` (default 30 d).
    pub session_limits: portcullis_domain::session::SessionLimits,
}

#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub policy: PasswordPolicy,
    pub argon2: Argon2Params,
    /// `PASSWORD_PEPPER` (+ `PASSWORD_PEPPER_ID`) and `PASSWORD_PREVIOUS_PEPPERS`.
    pub peppers: Peppers,
    pub max_hash_concurrency: usize,
    pub hash_queue_size: usize,
}

#[derive(Debug, Clone)]
pub struct LimitConfig {
    pub window: Duration,
    pub max_requests: u32,
    /// The general budget of a high-trust session (`RATE_LIMIT_TRUSTED_MAX_REQUESTS`,
    /// default three times `RATE_LIMIT_MAX_REQUESTS`).
    pub trusted_max_requests: u32,
    pub auth_window: Duration,
    pub auth_max_requests: u32,
    pub lockout_threshold: u32,
    pub lockout_duration: Duration,
    /// Account-wide bound across sources (`LOGIN_ACCOUNT_LOCKOUT_*`).
    pub account_lockout_threshold: u32,
    pub account_lockout_window: Duration,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub app_base_url: String,
    pub require_email_verification: bool,
    /// Sign-in by mailed link (`MAGIC_LINK_ENABLED`; off: its routes answer 404).
    pub magic_link_enabled: bool,
    /// How long a magic link works (`MAGIC_LINK_TTL`, default 10m).
    pub magic_link_ttl: Duration,
    /// The first admin (`BOOTSTRAP_ADMIN_EMAIL`, `BOOTSTRAP_ADMIN_PASSWORD`),
    /// created at start when no account has the address.
    pub bootstrap_admin: Option<(Email, Secret)>,
    /// Devices unused this long are forgotten (`DEVICE_RETENTION`, 90 d).
    pub device_retention: Duration,
    /// Sensitive operations need a sign-in this recent (`REAUTH_WINDOW`, 5 m).
    pub reauth_window: Duration,
    /// The name authenticator apps show beside the account (`TOTP_ISSUER`).
    pub totp_issuer: String,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `None`: mail goes to the in-memory outbox.
    pub smtp: Option<SmtpConfig>,
    /// Print in-memory mail (with its links) to the console (`MAIL_TO_CONSOLE`;
    /// default: on when there is neither a database nor SMTP).
    pub to_console: bool,
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL; traces go to `{it}/v1/traces`.
    pub otlp_endpoint: Option<String>,
    pub otel_service_name: String,
}

/// Background workers (`portcullis worker`, or in-process with `serve`).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub visibility_timeout: Duration,
    pub poll_interval: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub shutdown_grace: Duration,
    pub in_process: bool,
    pub purge_interval: Duration,
}

/// The variables of a `.env` file, if there is one.
#[derive(Debug, Default)]
pub struct DotEnv {
    /// Where it was read from (`None`: no file).
    pub path: Option<std::path::PathBuf>,
    vars: std::collections::HashMap<String, String>,
}

impl DotEnv {
    pub fn read(path: &std::path::Path) -> Result<Self, ConfigError> {
        let entries = match dotenvy::from_path_iter(path) {
            Ok(entries) => entries,
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => return Err(ConfigError(vec![format!("{}: {e}", path.display())])),
        };
        let mut vars = std::collections::HashMap::new();
        for entry in entries {
            let (key, value) = entry.map_err(|e| ConfigError(vec![format!("{}: {e}", path.display())]))?;
            vars.insert(key, value);
        }
        Ok(Self { path: Some(path.to_path_buf()), vars })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

/// Every invalid variable, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Parses `15m`, `7d`, `10s`, `500ms`, `1h`; a bare number means seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: i64 =
        number.parse().map_err(|_| format!("expected a duration like 15m, 7d, 10s or 500ms, got {raw:?}"))?;
    match unit.trim() {
        "" | "s" => Ok(Duration::seconds(n)),
        "ms" => Ok(Duration::milliseconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        other => Err(format!("unknown duration unit {other:?} in {raw:?} (use ms, s, m, h or d)")),
    }
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn parsed<T>(&mut self, name: &str, default: T, parse: impl Fn(&str) -> Result<T, String>) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => parse(&v).unwrap_or_else(|e| {
                self.problems.push(format!("{name}: {e}"));
                default
            }),
        }
    }

    fn number<T: FromStr + Copy + PartialOrd + fmt::Display>(&mut self, name: &str, default: T, min: T) -> T {
        let value = self
            .parsed(name, default, |v| v.parse::<T>().map_err(|_| format!("expected a number, got {v:?}")));
        if value < min {
            self.problems.push(format!("{name}: must be at least {min}, got {value}"));
        }
        value
    }

    fn duration(&mut self, name: &str, default: Duration, min: Duration) -> Duration {
        let value = self.parsed(name, default, parse_duration);
        if value < min {
            self.problems.push(format!("{name}: must be at least {min}, got {value}"));
        }
        value
    }

    /// A duration where a bare number means milliseconds (`CLAMAV_TIMEOUT=60000`,
    /// as other tools write it); units work too.
    fn duration_ms(&mut self, name: &str, default: Duration, min: Duration) -> Duration {
        let value = self.parsed(name, default, |v| match v.parse::<i64>() {
            Ok(ms) => Ok(Duration::milliseconds(ms)),
            Err(_) => parse_duration(v),
        });
        if value < min {
            self.problems.push(format!("{name}: must be at least {min}, got {value}"));
        }
        value
    }

    fn millis(&mut self, name: &str, default_ms: i64) -> Duration {
        Duration::milliseconds(self.number(name, default_ms, 1))
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        self.parsed(name, default, parse_bool)
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }
}

impl Config {
    /// From the process environment, then `.env` in the working directory for
    /// what the environment does not set (the real environment wins). The
    /// file is read, never written into the process environment.
    pub fn from_env() -> Result<(Self, DotEnv), ConfigError> {
        let dot_env = DotEnv::read(std::path::Path::new(".env"))?;
        let config = Self::from_lookup(&|name| std::env::var(name).ok().or_else(|| dot_env.get(name)))?;
        Ok((config, dot_env))
    }

    /// From any lookup (tests pass a map).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader { get, problems: Vec::new() };
        let server = ServerConfig::read(&mut r);
        let database = DatabaseConfig::read(&mut r);
        let redis = RedisConfig::read(&mut r);
        let tokens = TokenConfig::read(&mut r);
        let passwords = PasswordConfig::read(&mut r);
        let limits = LimitConfig::read(&mut r);
        let accounts = AccountConfig::read(&mut r, server.port);
        let mail = MailConfig::read(&mut r, &database.backend);
        let jobs = WorkerConfig::read(&mut r, &redis.backend);
        let telemetry = TelemetryConfig::read(&mut r);
        let files = FilesConfig::read(&mut r, server.port);
        let encryption = EncryptionConfig::read(&mut r);
        let sms = SmsConfig::read(&mut r);
        let webauthn = read_webauthn(&mut r, &accounts.app_base_url);
        let oauth = OAuthConfig::read(&mut r, &accounts.app_base_url);
        // Rules across sections.
        // Asked of the variable itself: a malformed DATABASE_URL is still a
        // database the operator meant to use.
        if tokens.private_key_path.is_none() && r.raw("DATABASE_URL").is_some() {
            r.problems.push(
                "JWT_PRIVATE_KEY_PATH: required when DATABASE_URL is set (a generated key would log everyone out at each restart)"
                    .into(),
            );
        }
        if r.raw("ENCRYPTION_KEYS").is_none() && r.raw("DATABASE_URL").is_some() {
            r.problems.push(
                "ENCRYPTION_KEYS: required when DATABASE_URL is set (it seals TOTP secrets and provider tokens at rest); generate one with `echo \"k1:$(openssl rand -base64 32)\"`"
                    .into(),
            );
        }
        let config = Config {
            server,
            database,
            redis,
            tokens,
            passwords,
            limits,
            accounts,
            mail,
            jobs,
            telemetry,
            files,
            encryption,
            sms,
            webauthn,
            oauth,
        };
        if r.problems.is_empty() { Ok(config) } else { Err(ConfigError(r.problems)) }
    }

    /// True when nothing is persisted (no PostgreSQL).
    pub fn in_memory(&self) -> bool {
        self.database.backend == RelationalBackend::Memory
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ServerConfig {
    fn read(r: &mut Reader) -> Self {
        let mut trusted_proxies =
            r.parsed("TRUSTED_PROXIES", TrustedProxies::default(), TrustedProxies::parse_list);
        let legacy_trust_proxy_headers = r.raw("TRUST_PROXY_HEADERS").is_some();
        if r.flag("TRUST_PROXY_HEADERS", false) {
            trusted_proxies.extend(TrustedProxies::loopback());
        }
        let metrics_bearer_token = r.raw("METRICS_BEARER_TOKEN").map(Secret::new);
        if metrics_bearer_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            r.problems.push("METRICS_BEARER_TOKEN: must be at least 16 characters".into());
        }
        Self {
            host: r.text("HOST", "127.0.0.1"),
            port: r.number("PORT", 8080u16, 0),
            workers: r.number("WORKERS", cores(), 1),
            json_body_limit: r.number("JSON_BODY_LIMIT", 64 * 1024usize, 1024),
            request_header_timeout: r.duration(
                "REQUEST_HEADER_TIMEOUT",
                Duration::seconds(5),
                Duration::milliseconds(100),
            ),
            request_body_timeout: r.duration(
                "REQUEST_BODY_TIMEOUT",
                Duration::seconds(10),
                Duration::milliseconds(100),
            ),
            trusted_proxies,
            legacy_trust_proxy_headers,
            metrics_bearer_token,
            request_timeout: r.duration("REQUEST_TIMEOUT", Duration::seconds(30), Duration::milliseconds(1)),
            cors_allowed_origins: r.parsed("CORS_ALLOWED_ORIGINS", Vec::new(), parse_origins),
            hsts_enabled: r.flag("HSTS_ENABLED", false),
        }
    }
}

impl DatabaseConfig {
    fn read(r: &mut Reader) -> Self {
        let backend = match r.raw("DATABASE_URL") {
            None => RelationalBackend::Memory,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                RelationalBackend::Postgres { url }
            }
            Some(_) => {
                r.problems.push("DATABASE_URL: must start with postgres:// or postgresql://".into());
                RelationalBackend::Memory
            }
        };
        Self { backend, pool_size: r.number("DATABASE_POOL_SIZE", 10usize, 1) }
    }
}

impl RedisConfig {
    fn read(r: &mut Reader) -> Self {
        let backend = match r.raw("REDIS_URL") {
            None => SharedBackend::Memory,
            Some(url) if ["redis://", "rediss://", "unix://"].iter().any(|s| url.starts_with(s)) => {
                SharedBackend::Redis { url }
            }
            Some(_) => {
                r.problems.push("REDIS_URL: must start with redis://, rediss:// or unix://".into());
                SharedBackend::Memory
            }
        };
        Self { backend, key_prefix: r.text("REDIS_KEY_PREFIX", "portcullis:") }
    }
}

impl TokenConfig {
    fn read(r: &mut Reader) -> Self {
        let refresh_token_ttl =
            r.duration("JWT_REFRESH_TOKEN_EXPIRY", Duration::days(7), Duration::seconds(1));
        Self {
            algorithm: r.parsed("JWT_ALGORITHM", SigningAlgorithm::EdDsa, |v| v.parse()),
            private_key_path: r.raw("JWT_PRIVATE_KEY_PATH"),
            previous_public_keys: r
                .raw("JWT_PREVIOUS_PUBLIC_KEYS")
                .map(|list| list.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
                .unwrap_or_default(),
            issuer: r.text("JWT_ISSUER", "portcullis"),
            audience: r.text("JWT_AUDIENCE", "portcullis"),
            access_token_ttl: r.duration(
                "JWT_ACCESS_TOKEN_EXPIRY",
                Duration::minutes(15),
                Duration::seconds(1),
            ),
            refresh_token_ttl,
            refresh_reuse_grace: r.duration(
                "REFRESH_TOKEN_REUSE_GRACE",
                Duration::seconds(10),
                Duration::ZERO,
            ),
            session_limits: portcullis_domain::session::SessionLimits {
                idle: r.duration("SESSION_IDLE_TIMEOUT", refresh_token_ttl, Duration::minutes(1)),
                absolute: r.duration("SESSION_ABSOLUTE_TIMEOUT", Duration::days(30), Duration::minutes(1)),
            },
        }
    }
}

impl PasswordConfig {
    fn read(r: &mut Reader) -> Self {
        let policy = PasswordPolicy {
            min_length: r.number("PASSWORD_MIN_LENGTH", 12usize, PasswordPolicy::LOWEST_MIN_LENGTH),
            max_length: r.number("PASSWORD_MAX_LENGTH", 128usize, PasswordPolicy::LOWEST_MAX_LENGTH),
            require_uppercase: r.flag("PASSWORD_REQUIRE_UPPERCASE", false),
            require_lowercase: r.flag("PASSWORD_REQUIRE_LOWERCASE", false),
            require_numbers: r.flag("PASSWORD_REQUIRE_NUMBERS", false),
            require_special: r.flag("PASSWORD_REQUIRE_SPECIAL", false),
            min_strength: r.number("PASSWORD_MIN_STRENGTH", 3u8, 0),
        };
        if policy.min_length > policy.max_length {
            r.problems.push("PASSWORD_MIN_LENGTH: must not exceed PASSWORD_MAX_LENGTH".into());
        }
        if policy.max_length > 1024 {
            r.problems.push("PASSWORD_MAX_LENGTH: must be at most 1024".into());
        }
        if policy.min_strength > 4 {
            r.problems.push("PASSWORD_MIN_STRENGTH: must be between 0 and 4".into());
        }
        let argon2 = Argon2Params {
            memory_kib: r.number("ARGON2_MEMORY_KIB", Argon2Params::OWASP.memory_kib, 8),
            iterations: r.number("ARGON2_ITERATIONS", Argon2Params::OWASP.iterations, 1),
            parallelism: r.number("ARGON2_PARALLELISM", Argon2Params::OWASP.parallelism, 1),
        };
        let mut peppers = Peppers::default();
        if let Some(secret) = r.raw("PASSWORD_PEPPER") {
            let id = r.text("PASSWORD_PEPPER_ID", "1");
            match Pepper::new(&id, Secret::new(secret)) {
                Ok(pepper) => peppers.current = Some(pepper),
                Err(e) => r.problems.push(format!("PASSWORD_PEPPER / PASSWORD_PEPPER_ID: {e}")),
            }
        }
        for item in
            r.raw("PASSWORD_PREVIOUS_PEPPERS").unwrap_or_default().split(',').filter(|i| !i.trim().is_empty())
        {
            match item.trim().split_once(':').map(|(id, secret)| Pepper::new(id, Secret::new(secret))) {
                Some(Ok(pepper)) => peppers.previous.push(pepper),
                Some(Err(e)) => r.problems.push(format!("PASSWORD_PREVIOUS_PEPPERS: {e}")),
                None => r
                    .problems
                    .push("PASSWORD_PREVIOUS_PEPPERS: expected id:secret pairs, comma-separated".into()),
            }
        }
        let max_hash_concurrency = r.number("MAX_HASH_CONCURRENCY", cores(), 1);
        Self {
            policy,
            argon2,
            peppers,
            max_hash_concurrency,
            hash_queue_size: r.number("HASH_QUEUE_SIZE", max_hash_concurrency * 16, 0),
        }
    }
}

impl LimitConfig {
    fn read(r: &mut Reader) -> Self {
        let max_requests = r.number("RATE_LIMIT_MAX_REQUESTS", 100u32, 1);
        let trusted_max_requests =
            r.number("RATE_LIMIT_TRUSTED_MAX_REQUESTS", max_requests.saturating_mul(3), max_requests);
        Self {
            window: r.millis("RATE_LIMIT_WINDOW_MS", 60_000),
            max_requests,
            trusted_max_requests,
            auth_window: r.millis("RATE_LIMIT_AUTH_WINDOW_MS", 900_000),
            auth_max_requests: r.number("RATE_LIMIT_AUTH_MAX_REQUESTS", 5u32, 1),
            lockout_threshold: r.number("LOGIN_LOCKOUT_THRESHOLD", 5u32, 1),
            lockout_duration: r.duration(
                "LOGIN_LOCKOUT_DURATION",
                Duration::minutes(15),
                Duration::seconds(1),
            ),
            account_lockout_threshold: r.number("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD", 50u32, 1),
            account_lockout_window: r.duration(
                "LOGIN_ACCOUNT_LOCKOUT_WINDOW",
                Duration::hours(1),
                Duration::seconds(1),
            ),
        }
    }
}

impl AccountConfig {
    fn read(r: &mut Reader, port: u16) -> Self {
        let app_base_url = r.text("APP_BASE_URL", &format!("http://localhost:{port}"));
        if !(app_base_url.starts_with("http://") || app_base_url.starts_with("https://")) {
            r.problems.push("APP_BASE_URL: must start with http:// or https://".into());
        }
        let magic_link_ttl = r.duration("MAGIC_LINK_TTL", Duration::minutes(10), Duration::minutes(1));
        if r.raw("ADMIN_EMAILS").is_some() {
            r.problems.push(
                "ADMIN_EMAILS: removed — admins are users holding the `admin` role. Set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD for the first admin, then grant roles with PUT /api/v1/admin/users/{id}/roles (docs/admin.md)"
                    .into(),
            );
        }
        let bootstrap_admin = match (r.raw("BOOTSTRAP_ADMIN_EMAIL"), r.raw("BOOTSTRAP_ADMIN_PASSWORD")) {
            (None, None) => None,
            (Some(email), Some(password)) => match Email::parse(&email) {
                Ok(email) => Some((email, Secret::new(password))),
                Err(_) => {
                    r.problems.push(format!("BOOTSTRAP_ADMIN_EMAIL: {email:?} is not an email address"));
                    None
                }
            },
            _ => {
                r.problems.push(
                    "BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD: set both (the first admin) or neither".into(),
                );
                None
            }
        };
        if magic_link_ttl > Duration::hours(1) {
            r.problems
                .push("MAGIC_LINK_TTL: must be at most 1h (a sign-in link is a bearer credential)".into());
        }
        Self {
            app_base_url,
            require_email_verification: r.flag("REQUIRE_EMAIL_VERIFICATION", false),
            magic_link_enabled: r.flag("MAGIC_LINK_ENABLED", true),
            magic_link_ttl,
            bootstrap_admin,
            device_retention: r.duration("DEVICE_RETENTION", Duration::days(90), Duration::days(1)),
            reauth_window: r.duration("REAUTH_WINDOW", Duration::minutes(5), Duration::seconds(10)),
            totp_issuer: r.text("TOTP_ISSUER", "Portcullis"),
        }
    }
}

impl MailConfig {
    fn read(r: &mut Reader, database: &RelationalBackend) -> Self {
        let nothing_real = r.raw("SMTP_HOST").is_none() && *database == RelationalBackend::Memory;
        let to_console = r.flag("MAIL_TO_CONSOLE", nothing_real);
        let Some(host) = r.raw("SMTP_HOST") else { return Self { smtp: None, to_console } };
        let tls = r.parsed("SMTP_TLS", SmtpTls::StartTls, |v| v.parse());
        let default_port = match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let timeout = r.duration("SMTP_TIMEOUT", Duration::seconds(10), Duration::seconds(1));
        Self {
            smtp: Some(SmtpConfig {
                host,
                port: r.number("SMTP_PORT", default_port, 1),
                username: r.raw("SMTP_USERNAME"),
                password: r.raw("SMTP_PASSWORD").map(Secret::new),
                tls,
                from: r.text("EMAIL_FROM", "Portcullis <no-reply@localhost>"),
                timeout: std::time::Duration::from_millis(timeout.whole_milliseconds().max(0) as u64),
                pool_size: r.number("SMTP_POOL_SIZE", 4u32, 1),
                ca_cert_path: r.raw("SMTP_CA_CERT"),
            }),
            to_console,
        }
    }
}

/// The bucket, with the names every AWS tool uses.
fn read_s3(r: &mut Reader) -> portcullis_infrastructure::s3::S3Config {
    let mut required = |name: &str| {
        r.raw(name).unwrap_or_else(|| {
            r.problems.push(format!("{name}: required with STORAGE_BACKEND=s3"));
            String::new()
        })
    };
    let bucket = required("S3_BUCKET_NAME");
    let access_key_id = required("AWS_ACCESS_KEY_ID");
    let secret = required("AWS_SECRET_ACCESS_KEY");
    let region = r.text("AWS_REGION", "us-east-1");
    let endpoint = r.text("AWS_ENDPOINT_URL", &format!("https://s3.{region}.amazonaws.com"));
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        r.problems.push("AWS_ENDPOINT_URL: must start with http:// or https://".into());
    }
    let timeout = r.duration("S3_TIMEOUT", Duration::seconds(60), Duration::seconds(1));
    portcullis_infrastructure::s3::S3Config {
        endpoint,
        region,
        bucket,
        access_key_id,
        secret_access_key: Secret::new(secret),
        force_path_style: r.flag("S3_FORCE_PATH_STYLE", false),
        timeout: std::time::Duration::from_millis(timeout.whole_milliseconds().max(0) as u64),
    }
}

impl FilesConfig {
    fn read(r: &mut Reader, server_port: u16) -> Self {
        use portcullis_domain::files::FileTypes;
        let storage = match r.text("STORAGE_BACKEND", "memory").to_ascii_lowercase().as_str() {
            "memory" => StorageBackend::Memory,
            "local" => StorageBackend::Local { dir: r.text("UPLOAD_DIR", "./uploads").into() },
            "s3" => StorageBackend::S3(read_s3(r)),
            other => {
                r.problems.push(format!("STORAGE_BACKEND: expected memory, local or s3, got {other:?}"));
                StorageBackend::Memory
            }
        };
        let timeout = r.duration_ms("CLAMAV_TIMEOUT", Duration::seconds(60), Duration::milliseconds(100));
        let port = r.number("CLAMAV_PORT", 3310u16, 1);
        let scanner = match (r.raw("CLAMAV_SOCKET"), r.raw("CLAMAV_HOST")) {
            (Some(_), Some(_)) => {
                r.problems.push("CLAMAV_SOCKET / CLAMAV_HOST: set one of them, not both".into());
                ScannerBackend::Memory
            }
            (Some(path), None) => ScannerBackend::Clamd {
                address: portcullis_infrastructure::clamav::ClamdAddress::Socket(path.into()),
                timeout,
            },
            (None, Some(host)) => ScannerBackend::Clamd {
                address: portcullis_infrastructure::clamav::ClamdAddress::Tcp { host, port },
                timeout,
            },
            (None, None) => ScannerBackend::Memory,
        };
        let allowed_types = r.parsed("ALLOWED_FILE_TYPES", FileTypes::all(), |v| {
            FileTypes::parse(v).map_err(|e| e.to_string())
        });
        let max_file_size = r.number("MAX_FILE_SIZE", 10 * 1024 * 1024u64, 1);
        if max_file_size > 1024 * 1024 * 1024 {
            r.problems.push("MAX_FILE_SIZE: must be at most 1073741824 (1 GiB)".into());
        }
        let settings = portcullis_application::files::FileSettings {
            max_file_size,
            allowed_types,
            max_files_per_user: r.number("MAX_FILES_PER_USER", 50u32, 1),
            quarantine_retention: r.duration("QUARANTINE_RETENTION", Duration::days(30), Duration::ZERO),
            url_expiry: r.duration("PRESIGNED_URL_EXPIRY", Duration::minutes(15), Duration::seconds(1)),
        };
        if settings.url_expiry > Duration::days(7) {
            r.problems.push("PRESIGNED_URL_EXPIRY: must be at most 7d (S3's limit)".into());
        }
        let url_secret = r.raw("PRESIGNED_URL_SECRET").map(Secret::new);
        let min = portcullis_infrastructure::signed_urls::MIN_SECRET_LEN;
        if url_secret.as_ref().is_some_and(|s| s.expose().len() < min) {
            r.problems.push(format!("PRESIGNED_URL_SECRET: must be at least {min} bytes"));
        }
        if url_secret.is_none() && matches!(storage, StorageBackend::Local { .. }) {
            r.problems.push(format!(
                "PRESIGNED_URL_SECRET: required with STORAGE_BACKEND=local (at least {min} bytes, e.g. `openssl rand -hex 32`)"
            ));
        }
        let storage_base_url = r.text("STORAGE_BASE_URL", &format!("http://localhost:{server_port}/storage"));
        if !(storage_base_url.starts_with("http://") || storage_base_url.starts_with("https://")) {
            r.problems.push("STORAGE_BASE_URL: must start with http:// or https://".into());
        }
        let max_unpacked_size = r.number("XLSX_MAX_UNPACKED_SIZE", 100 * 1024 * 1024u64, 1024);
        let ws_ping_interval =
            r.duration_ms("WS_PING_INTERVAL", Duration::seconds(25), Duration::milliseconds(50));
        let ws_ping_timeout =
            r.duration_ms("WS_PING_TIMEOUT", Duration::seconds(20), Duration::milliseconds(50));
        Self {
            storage,
            scanner,
            settings,
            max_unpacked_size,
            ws_ping_interval,
            ws_ping_timeout,
            url_secret,
            storage_base_url,
        }
    }
}

impl WorkerConfig {
    fn read(r: &mut Reader, shared: &SharedBackend) -> Self {
        let redis_configured = *shared != SharedBackend::Memory;
        let worker = Self {
            concurrency: r.number("WORKER_CONCURRENCY", 4usize, 1),
            visibility_timeout: r.duration(
                "JOB_VISIBILITY_TIMEOUT",
                Duration::seconds(60),
                Duration::seconds(1),
            ),
            poll_interval: r.duration(
                "JOB_POLL_INTERVAL",
                Duration::milliseconds(500),
                Duration::milliseconds(10),
            ),
            max_retries: r.number("MAX_RETRIES", 3u32, 0),
            backoff_base: r.duration("JOB_BACKOFF_BASE", Duration::seconds(5), Duration::milliseconds(1)),
            backoff_max: r.duration("JOB_BACKOFF_MAX", Duration::minutes(10), Duration::milliseconds(1)),
            shutdown_grace: r.duration("WORKER_SHUTDOWN_GRACE", Duration::seconds(30), Duration::ZERO),
            // In every mode by default: a separate `portcullis worker` is for
            // scaling out (without Redis the queue lives in this process, so
            // its workers must too).
            in_process: r.flag("RUN_WORKERS_IN_PROCESS", true),
            purge_interval: r.duration("PURGE_INTERVAL", Duration::hours(1), Duration::seconds(1)),
        };
        if !worker.in_process && !redis_configured {
            r.problems.push(
                "RUN_WORKERS_IN_PROCESS: must be true without REDIS_URL (the in-memory queue is not shared)"
                    .into(),
            );
        }
        worker
    }
}

impl TelemetryConfig {
    fn read(r: &mut Reader) -> Self {
        let log_format = r.parsed("LOG_FORMAT", LogFormat::Json, |v| match v.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!("expected json or pretty, got {other:?}")),
        });
        let log_level = r.text("LOG_LEVEL", "info");
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            r.problems.push(format!("LOG_LEVEL: not a valid level or filter: {log_level:?}"));
        }
        let otlp_endpoint = r.raw("OTEL_EXPORTER_OTLP_ENDPOINT");
        if otlp_endpoint.as_deref().is_some_and(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            r.problems.push("OTEL_EXPORTER_OTLP_ENDPOINT: must start with http:// or https://".into());
        }
        Self {
            log_level,
            log_format,
            otlp_endpoint,
            otel_service_name: r.text("OTEL_SERVICE_NAME", "portcullis"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(&move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = load(&[]).unwrap();
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.server.host, "127.0.0.1", "a development default: not every interface");
        assert_eq!(c.tokens.access_token_ttl, Duration::minutes(15));
        assert_eq!(c.tokens.refresh_token_ttl, Duration::days(7));
        assert_eq!(c.tokens.refresh_reuse_grace, Duration::seconds(10));
        assert_eq!(c.passwords.policy, PasswordPolicy::default());
        assert_eq!((c.limits.window, c.limits.max_requests), (Duration::minutes(1), 100));
        assert_eq!((c.limits.auth_window, c.limits.auth_max_requests), (Duration::minutes(15), 5));
        assert_eq!((c.limits.lockout_threshold, c.limits.lockout_duration), (5, Duration::minutes(15)));
        assert_eq!(c.passwords.argon2, Argon2Params::OWASP);
        assert_eq!(c.telemetry.log_format, LogFormat::Json);
        assert!(c.in_memory());
    }

    #[test]
    fn every_bad_variable_is_named() {
        let err = load(&[
            ("PORT", "eighty"),
            ("JWT_ACCESS_TOKEN_EXPIRY", "15 fortnights"),
            ("PASSWORD_REQUIRE_UPPERCASE", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("RATE_LIMIT_MAX_REQUESTS", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
            ("METRICS_BEARER_TOKEN", "short"),
            ("MAGIC_LINK_TTL", "2h"),
            ("PASSWORD_PEPPER", "short"),
            ("PASSWORD_PREVIOUS_PEPPERS", "no-colon-here"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "PORT",
            "JWT_ACCESS_TOKEN_EXPIRY",
            "PASSWORD_REQUIRE_UPPERCASE",
            "LOG_FORMAT",
            "RATE_LIMIT_MAX_REQUESTS",
            "DATABASE_URL",
            "JWT_PRIVATE_KEY_PATH",
            "TRUSTED_PROXIES",
            "METRICS_BEARER_TOKEN",
            "MAGIC_LINK_TTL",
            "PASSWORD_PEPPER",
            "PASSWORD_PREVIOUS_PEPPERS",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }

    #[test]
    fn file_intake_is_configured_and_checked() {
        use portcullis_infrastructure::clamav::ClamdAddress;
        let c = load(&[]).unwrap();
        assert_eq!(
            (c.files.storage.clone(), c.files.scanner.clone()),
            (StorageBackend::Memory, ScannerBackend::Memory)
        );
        assert_eq!((c.files.settings.max_file_size, c.files.settings.max_files_per_user), (10_485_760, 50));
        let c = load(&[
            ("STORAGE_BACKEND", "local"),
            ("PRESIGNED_URL_SECRET", "0123456789abcdef0123456789abcdef"),
            ("UPLOAD_DIR", "/srv/uploads"),
            ("CLAMAV_HOST", "clamd"),
            ("CLAMAV_TIMEOUT", "60000"),
            ("ALLOWED_FILE_TYPES", "csv, .PDF"),
        ])
        .unwrap();
        assert_eq!(c.files.storage, StorageBackend::Local { dir: "/srv/uploads".into() });
        assert_eq!(
            c.files.scanner,
            ScannerBackend::Clamd {
                address: ClamdAddress::Tcp { host: "clamd".into(), port: 3310 },
                timeout: Duration::seconds(60)
            },
            "a bare CLAMAV_TIMEOUT is milliseconds, as the source documents write it"
        );
        let allowed: Vec<&str> = c.files.settings.allowed_types.iter().map(|t| t.name()).collect();
        assert_eq!(allowed, vec!["pdf", "csv"]);
        assert_eq!(c.files.storage_base_url, "http://localhost:8080/storage", "this server's own port");
        let c = load(&[
            ("STORAGE_BACKEND", "s3"),
            ("S3_BUCKET_NAME", "uploads"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-west-3"),
        ])
        .unwrap();
        let StorageBackend::S3(s3) = c.files.storage else { panic!("{:?}", c.files.storage) };
        assert_eq!(
            (s3.endpoint.as_str(), s3.force_path_style),
            ("https://s3.eu-west-3.amazonaws.com", false)
        );
        let err = load(&[("STORAGE_BACKEND", "s3"), ("AWS_ENDPOINT_URL", "minio:9000")]).unwrap_err();
        for name in ["S3_BUCKET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"] {
            assert!(err.0.iter().any(|p| p.starts_with(name)), "{name} not named in {err}");
        }
        let err = load(&[("STORAGE_BACKEND", "local"), ("PRESIGNED_URL_EXPIRY", "8d")]).unwrap_err();
        for name in ["PRESIGNED_URL_SECRET", "PRESIGNED_URL_EXPIRY"] {
            assert!(err.0.iter().any(|p| p.starts_with(name)), "{name} not named in {err}");
        }
        let err = load(&[
            ("STORAGE_BACKEND", "floppy"),
            ("ALLOWED_FILE_TYPES", "csv,exe"),
            ("CLAMAV_HOST", "clamd"),
            ("CLAMAV_SOCKET", "/run/clamd.ctl"),
            ("MAX_FILE_SIZE", "0"),
            ("MAX_FILES_PER_USER", "none"),
        ])
        .unwrap_err();
        for name in [
            "STORAGE_BACKEND",
            "ALLOWED_FILE_TYPES",
            "CLAMAV_SOCKET / CLAMAV_HOST",
            "MAX_FILE_SIZE",
            "MAX_FILES_PER_USER",
        ] {
            assert!(err.0.iter().any(|p| p.starts_with(name)), "{name} not named in {err}");
        }
    }

    #[test]
    fn the_deprecated_proxy_flag_means_loopback() {
        let c = load(&[("TRUST_PROXY_HEADERS", "true")]).unwrap();
        assert!(c.server.legacy_trust_proxy_headers);
        assert_eq!(c.server.trusted_proxies, TrustedProxies::loopback());
        let c = load(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).unwrap();
        assert!(!c.server.legacy_trust_proxy_headers);
        assert!(c.server.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
        assert!(!c.server.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_dot_env_file_fills_in_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("portcullis-dotenv-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env");
        std::fs::write(&file, "# comment\nPORT=9191\nLOG_FORMAT=pretty\n").unwrap();
        let dot = DotEnv::read(&file).unwrap();
        assert_eq!(dot.path.as_deref(), Some(file.as_path()));
        let env: HashMap<&str, &str> = [("LOG_FORMAT", "json")].into();
        let c = Config::from_lookup(&|n| env.get(n).map(|v| (*v).to_owned()).or_else(|| dot.get(n))).unwrap();
        assert_eq!(c.server.port, 9191);
        assert_eq!(c.telemetry.log_format, LogFormat::Json, "the real environment wins");
        assert!(DotEnv::read(&dir.join("missing")).unwrap().path.is_none());
        std::fs::write(&file, "NOT VALID LINE\n").unwrap();
        assert!(DotEnv::read(&file).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Each store's backend is chosen once, here, from its URL.
    #[test]
    fn backends_are_an_explicit_choice() {
        let c = load(&[]).unwrap();
        assert_eq!((c.database.backend, c.redis.backend), (RelationalBackend::Memory, SharedBackend::Memory));
        let c = load(&[
            ("DATABASE_URL", "postgres://db/portcullis"),
            ("REDIS_URL", "redis://cache:6379"),
            ("JWT_PRIVATE_KEY_PATH", "/k.pem"),
            ("ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ])
        .unwrap();
        assert_eq!(
            c.database.backend,
            RelationalBackend::Postgres { url: "postgres://db/portcullis".into() }
        );
        assert_eq!(c.redis.backend, SharedBackend::Redis { url: "redis://cache:6379".into() });
        assert_eq!(c.database.url(), Some("postgres://db/portcullis"));
        assert!(!c.in_memory());
        assert!(c.jobs.in_process, "workers run in-process by default, with Redis too");
    }

    /// Issue 12: secrets at rest need a key that outlives the process.
    #[test]
    fn encryption_keys_are_required_with_a_database_and_checked() {
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let db = [("DATABASE_URL", "postgres://db/p"), ("JWT_PRIVATE_KEY_PATH", "/k.pem")];
        let err = load(&db).unwrap_err().to_string();
        assert!(
            err.contains("ENCRYPTION_KEYS: required") && err.contains("openssl rand -base64 32"),
            "{err}"
        );
        assert!(load(&[]).unwrap().encryption.cipher.is_none(), "memory mode: generated at start");
        let two = format!("old:{key},new:{key}");
        let c = load(&[("ENCRYPTION_KEYS", two.as_str()), ("ENCRYPTION_KEY_ID", "new")]).unwrap();
        assert_eq!(c.encryption.cipher.unwrap().current_key_id(), "new");
        for bad in [
            vec![("ENCRYPTION_KEYS", "k1:short")],
            vec![("ENCRYPTION_KEYS", two.as_str())],
            vec![("ENCRYPTION_KEYS", two.as_str()), ("ENCRYPTION_KEY_ID", "other")],
            vec![("ENCRYPTION_KEY_ID", "k1")],
        ] {
            let err = load(&bad).unwrap_err().to_string();
            assert!(err.contains("ENCRYPTION_KEY"), "{bad:?}: {err}");
            assert!(!err.contains(key), "a key is never echoed: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_duration("7d"), Ok(Duration::days(7)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::milliseconds(500)));
        assert_eq!(parse_duration("90"), Ok(Duration::seconds(90)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn min_length_above_max_is_rejected() {
        let err = load(&[("PASSWORD_MIN_LENGTH", "100"), ("PASSWORD_MAX_LENGTH", "80")]).unwrap_err();
        assert!(err.to_string().contains("PASSWORD_MIN_LENGTH"));
    }

    /// ASVS review #5: a minimum below 8 or a maximum below 64 is refused.
    #[test]
    fn password_bounds_follow_asvs() {
        for (name, value) in [("PASSWORD_MIN_LENGTH", "7"), ("PASSWORD_MAX_LENGTH", "63")] {
            let err = load(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        let c = load(&[("PASSWORD_MIN_LENGTH", "8"), ("PASSWORD_MAX_LENGTH", "64")]).unwrap();
        assert_eq!((c.passwords.policy.min_length, c.passwords.policy.max_length), (8, 64));
    }

    #[test]
    fn cors_origins_are_exact() {
        let c = load(&[("CORS_ALLOWED_ORIGINS", "https://App.example.com, http://localhost:5173")]).unwrap();
        assert_eq!(c.server.cors_allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
        for bad in
            ["*", "https://*.example.com", "app.example.com", "https://app.example.com/", "https://a.com/x"]
        {
            let err = load(&[("CORS_ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert!(err.to_string().contains("CORS_ALLOWED_ORIGINS"), "{bad}: {err}");
        }
        assert!(load(&[]).unwrap().server.cors_allowed_origins.is_empty());
    }
}
