//! Configuration from the environment, validated at start. Every problem is
//! collected and reported together, each naming its variable.

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

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub database_url: Option<String>,
    pub database_pool_size: usize,
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    pub jwt_algorithm: SigningAlgorithm,
    pub jwt_private_key_path: Option<String>,
    /// Public keys that verify but do not sign (rotation), `JWT_PREVIOUS_PUBLIC_KEYS`.
    pub jwt_previous_public_keys: Vec<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub password_policy: PasswordPolicy,
    pub argon2: Argon2Params,
    /// `PASSWORD_PEPPER` (+ `PASSWORD_PEPPER_ID`) and `PASSWORD_PREVIOUS_PEPPERS`.
    pub peppers: Peppers,
    pub max_hash_concurrency: usize,
    pub hash_queue_size: usize,
    pub rate_limit_window: Duration,
    pub rate_limit_max_requests: u32,
    pub rate_limit_auth_window: Duration,
    pub rate_limit_auth_max_requests: u32,
    /// Peers whose proxy headers are believed (`TRUSTED_PROXIES`, plus
    /// loopback for the deprecated `TRUST_PROXY_HEADERS=true`).
    pub trusted_proxies: TrustedProxies,
    /// `TRUST_PROXY_HEADERS` was set (deprecated; warned about at start).
    pub legacy_trust_proxy_headers: bool,
    pub login_lockout_threshold: u32,
    pub login_lockout_duration: Duration,
    /// Account-wide bound across sources (`LOGIN_ACCOUNT_LOCKOUT_*`).
    pub login_account_lockout_threshold: u32,
    pub login_account_lockout_window: Duration,
    pub json_body_limit: usize,
    /// Time to receive a request's head (`REQUEST_HEADER_TIMEOUT`).
    pub request_header_timeout: Duration,
    /// Time to receive a request's body (`REQUEST_BODY_TIMEOUT`).
    pub request_body_timeout: Duration,
    pub log_level: String,
    pub log_format: LogFormat,
    pub app_base_url: String,
    pub require_email_verification: bool,
    /// Sign-in by mailed link (`MAGIC_LINK_ENABLED`; off: its routes answer 404).
    pub magic_link_enabled: bool,
    /// How long a magic link works (`MAGIC_LINK_TTL`, default 10m).
    pub magic_link_ttl: Duration,
    pub admin_emails: Vec<String>,
    pub smtp: Option<SmtpConfig>,
    pub worker: WorkerConfig,
    /// OTLP/HTTP collector base URL; traces go to `{it}/v1/traces`.
    pub otlp_endpoint: Option<String>,
    pub otel_service_name: String,
    /// When set, `/metrics` requires `Authorization: Bearer <it>`.
    pub metrics_bearer_token: Option<Secret>,
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
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let port = r.number("PORT", 8080u16, 0);
        let password_policy = PasswordPolicy {
            min_length: r.number("PASSWORD_MIN_LENGTH", 12usize, PasswordPolicy::LOWEST_MIN_LENGTH),
            max_length: r.number("PASSWORD_MAX_LENGTH", 128usize, PasswordPolicy::LOWEST_MAX_LENGTH),
            require_uppercase: r.flag("PASSWORD_REQUIRE_UPPERCASE", false),
            require_lowercase: r.flag("PASSWORD_REQUIRE_LOWERCASE", false),
            require_numbers: r.flag("PASSWORD_REQUIRE_NUMBERS", false),
            require_special: r.flag("PASSWORD_REQUIRE_SPECIAL", false),
            min_strength: r.number("PASSWORD_MIN_STRENGTH", 3u8, 0),
        };
        if password_policy.min_length > password_policy.max_length {
            r.problems.push("PASSWORD_MIN_LENGTH: must not exceed PASSWORD_MAX_LENGTH".into());
        }
        if password_policy.max_length > 1024 {
            r.problems.push("PASSWORD_MAX_LENGTH: must be at most 1024".into());
        }
        if password_policy.min_strength > 4 {
            r.problems.push("PASSWORD_MIN_STRENGTH: must be between 0 and 4".into());
        }
        let argon2 = Argon2Params {
            memory_kib: r.number("ARGON2_MEMORY_KIB", Argon2Params::OWASP.memory_kib, 8),
            iterations: r.number("ARGON2_ITERATIONS", Argon2Params::OWASP.iterations, 1),
            parallelism: r.number("ARGON2_PARALLELISM", Argon2Params::OWASP.parallelism, 1),
        };
        let max_hash_concurrency = r.number("MAX_HASH_CONCURRENCY", cores, 1);
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
        let log_format = r.parsed("LOG_FORMAT", LogFormat::Json, |v| match v.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!("expected json or pretty, got {other:?}")),
        });
        let log_level = r.text("LOG_LEVEL", "info");
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            r.problems.push(format!("LOG_LEVEL: not a valid level or filter: {log_level:?}"));
        }
        let database_url = r.raw("DATABASE_URL");
        if database_url
            .as_deref()
            .is_some_and(|url| !(url.starts_with("postgres://") || url.starts_with("postgresql://")))
        {
            r.problems.push("DATABASE_URL: must start with postgres:// or postgresql://".into());
        }
        let redis_url = r.raw("REDIS_URL");
        if redis_url.as_deref().is_some_and(|url| {
            !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://"))
        }) {
            r.problems.push("REDIS_URL: must start with redis://, rediss:// or unix://".into());
        }
        let jwt_private_key_path = r.raw("JWT_PRIVATE_KEY_PATH");
        if jwt_private_key_path.is_none() && database_url.is_some() {
            r.problems.push(
                "JWT_PRIVATE_KEY_PATH: required when DATABASE_URL is set (a generated key would log everyone out at each restart)"
                    .into(),
            );
        }
        let smtp = r.raw("SMTP_HOST").map(|host| SmtpConfig {
            host,
            port: 0,
            username: r.raw("SMTP_USERNAME"),
            password: r.raw("SMTP_PASSWORD").map(Secret::new),
            tls: SmtpTls::StartTls,
            from: String::new(),
            timeout: std::time::Duration::ZERO,
            pool_size: 0,
            ca_cert_path: None,
        });
        let smtp = smtp.map(|mut s| {
            s.tls = r.parsed("SMTP_TLS", SmtpTls::StartTls, |v| v.parse());
            let default_port = match s.tls {
                SmtpTls::None => 25,
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
            };
            s.port = r.number("SMTP_PORT", default_port, 1);
            s.from = r.text("EMAIL_FROM", "Portcullis <no-reply@localhost>");
            let timeout = r.duration("SMTP_TIMEOUT", Duration::seconds(10), Duration::seconds(1));
            s.timeout = std::time::Duration::from_millis(timeout.whole_milliseconds().max(0) as u64);
            s.pool_size = r.number("SMTP_POOL_SIZE", 4u32, 1);
            s.ca_cert_path = r.raw("SMTP_CA_CERT");
            s
        });
        let redis_configured = redis_url.is_some();
        let worker = WorkerConfig {
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
            // Without Redis the queue lives in this process, so must its workers.
            in_process: r.flag("RUN_WORKERS_IN_PROCESS", !redis_configured),
            purge_interval: r.duration("PURGE_INTERVAL", Duration::hours(1), Duration::seconds(1)),
        };
        if !worker.in_process && !redis_configured {
            r.problems.push(
                "RUN_WORKERS_IN_PROCESS: must be true without REDIS_URL (the in-memory queue is not shared)"
                    .into(),
            );
        }
        let admin_emails: Vec<String> = r
            .raw("ADMIN_EMAILS")
            .map(|list| list.split(',').map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect())
            .unwrap_or_default();
        let app_base_url = r.text("APP_BASE_URL", &format!("http://localhost:{port}"));
        if !(app_base_url.starts_with("http://") || app_base_url.starts_with("https://")) {
            r.problems.push("APP_BASE_URL: must start with http:// or https://".into());
        }
        let otlp_endpoint = r.raw("OTEL_EXPORTER_OTLP_ENDPOINT");
        if otlp_endpoint.as_deref().is_some_and(|e| !(e.starts_with("http://") || e.starts_with("https://")))
        {
            r.problems.push("OTEL_EXPORTER_OTLP_ENDPOINT: must start with http:// or https://".into());
        }
        let mut trusted_proxies =
            r.parsed("TRUSTED_PROXIES", TrustedProxies::default(), TrustedProxies::parse_list);
        let legacy_trust_proxy_headers = r.raw("TRUST_PROXY_HEADERS").is_some();
        if r.flag("TRUST_PROXY_HEADERS", false) {
            trusted_proxies.extend(TrustedProxies::loopback());
        }
        let magic_link_ttl = r.duration("MAGIC_LINK_TTL", Duration::minutes(10), Duration::minutes(1));
        if magic_link_ttl > Duration::hours(1) {
            r.problems
                .push("MAGIC_LINK_TTL: must be at most 1h (a sign-in link is a bearer credential)".into());
        }
        let metrics_bearer_token = r.raw("METRICS_BEARER_TOKEN").map(Secret::new);
        if metrics_bearer_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            r.problems.push("METRICS_BEARER_TOKEN: must be at least 16 characters".into());
        }
        let config = Config {
            host: r.text("HOST", "0.0.0.0"),
            port,
            workers: r.number("WORKERS", cores, 1),
            database_pool_size: r.number("DATABASE_POOL_SIZE", 10usize, 1),
            database_url,
            redis_key_prefix: r.text("REDIS_KEY_PREFIX", "portcullis:"),
            redis_url,
            jwt_algorithm: r.parsed("JWT_ALGORITHM", SigningAlgorithm::EdDsa, |v| v.parse()),
            jwt_private_key_path,
            jwt_previous_public_keys: r
                .raw("JWT_PREVIOUS_PUBLIC_KEYS")
                .map(|list| list.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
                .unwrap_or_default(),
            jwt_issuer: r.text("JWT_ISSUER", "portcullis"),
            jwt_audience: r.text("JWT_AUDIENCE", "portcullis"),
            access_token_ttl: r.duration(
                "JWT_ACCESS_TOKEN_EXPIRY",
                Duration::minutes(15),
                Duration::seconds(1),
            ),
            refresh_token_ttl: r.duration(
                "JWT_REFRESH_TOKEN_EXPIRY",
                Duration::days(7),
                Duration::seconds(1),
            ),
            refresh_reuse_grace: r.duration(
                "REFRESH_TOKEN_REUSE_GRACE",
                Duration::seconds(10),
                Duration::ZERO,
            ),
            password_policy,
            argon2,
            peppers,
            max_hash_concurrency,
            hash_queue_size: r.number("HASH_QUEUE_SIZE", max_hash_concurrency * 16, 0),
            rate_limit_window: r.millis("RATE_LIMIT_WINDOW_MS", 60_000),
            rate_limit_max_requests: r.number("RATE_LIMIT_MAX_REQUESTS", 100u32, 1),
            rate_limit_auth_window: r.millis("RATE_LIMIT_AUTH_WINDOW_MS", 900_000),
            rate_limit_auth_max_requests: r.number("RATE_LIMIT_AUTH_MAX_REQUESTS", 5u32, 1),
            trusted_proxies,
            legacy_trust_proxy_headers,
            login_lockout_threshold: r.number("LOGIN_LOCKOUT_THRESHOLD", 5u32, 1),
            login_lockout_duration: r.duration(
                "LOGIN_LOCKOUT_DURATION",
                Duration::minutes(15),
                Duration::seconds(1),
            ),
            login_account_lockout_threshold: r.number("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD", 50u32, 1),
            login_account_lockout_window: r.duration(
                "LOGIN_ACCOUNT_LOCKOUT_WINDOW",
                Duration::hours(1),
                Duration::seconds(1),
            ),
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
            log_level,
            log_format,
            app_base_url,
            require_email_verification: r.flag("REQUIRE_EMAIL_VERIFICATION", false),
            magic_link_enabled: r.flag("MAGIC_LINK_ENABLED", true),
            magic_link_ttl,
            admin_emails,
            smtp,
            worker,
            otlp_endpoint,
            otel_service_name: r.text("OTEL_SERVICE_NAME", "portcullis"),
            metrics_bearer_token,
        };
        if r.problems.is_empty() { Ok(config) } else { Err(ConfigError(r.problems)) }
    }

    /// True when nothing is persisted (no PostgreSQL).
    pub fn in_memory(&self) -> bool {
        self.database_url.is_none()
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
        assert_eq!(c.port, 8080);
        assert_eq!(c.access_token_ttl, Duration::minutes(15));
        assert_eq!(c.refresh_token_ttl, Duration::days(7));
        assert_eq!(c.refresh_reuse_grace, Duration::seconds(10));
        assert_eq!(c.password_policy, PasswordPolicy::default());
        assert_eq!((c.rate_limit_window, c.rate_limit_max_requests), (Duration::minutes(1), 100));
        assert_eq!((c.rate_limit_auth_window, c.rate_limit_auth_max_requests), (Duration::minutes(15), 5));
        assert_eq!((c.login_lockout_threshold, c.login_lockout_duration), (5, Duration::minutes(15)));
        assert_eq!(c.argon2, Argon2Params::OWASP);
        assert_eq!(c.log_format, LogFormat::Json);
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
    fn the_deprecated_proxy_flag_means_loopback() {
        let c = load(&[("TRUST_PROXY_HEADERS", "true")]).unwrap();
        assert!(c.legacy_trust_proxy_headers);
        assert_eq!(c.trusted_proxies, TrustedProxies::loopback());
        let c = load(&[("TRUSTED_PROXIES", "10.0.0.0/8")]).unwrap();
        assert!(!c.legacy_trust_proxy_headers);
        assert!(c.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
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
        assert_eq!(c.port, 9191);
        assert_eq!(c.log_format, LogFormat::Json, "the real environment wins");
        assert!(DotEnv::read(&dir.join("missing")).unwrap().path.is_none());
        std::fs::write(&file, "NOT VALID LINE\n").unwrap();
        assert!(DotEnv::read(&file).is_err());
        let _ = std::fs::remove_dir_all(dir);
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
        assert_eq!((c.password_policy.min_length, c.password_policy.max_length), (8, 64));
    }
}
