//! Rate-limit settings and the classes routes are declared with. A leaf
//! module: the middleware (`rate_limit`) and the state both use it.

use crate::client_ip::TrustedProxies;
use time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_requests: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub general: Limit,
    pub auth: Limit,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: TrustedProxies,
}

/// A route's rate-limit class, declared where the route is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// A credential-guessing target (register, login, recovery), named: each
    /// gets its own strict `RATE_LIMIT_AUTH_*` budget per IP and per account,
    /// so exhausting one (failed logins) never blocks another (recovery).
    Credential(&'static str),
    General,
}

impl RouteClass {
    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::Credential(_) => "auth",
            Self::General => "general",
        }
    }

    /// The budget the route's requests are counted in.
    pub fn budget(self) -> String {
        match self {
            Self::Credential(route) => format!("auth.{route}"),
            Self::General => "general".to_owned(),
        }
    }
}

/// What a budget is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client source (IPv4 address, IPv6 /64).
    Source,
    /// The account email a credential request names.
    Email,
    /// The authenticated user.
    User,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "ip",
            Self::Email => "email",
            Self::User => "user",
        }
    }
}

impl RateLimitSettings {
    pub fn limit(&self, class: RouteClass) -> Limit {
        match class {
            RouteClass::Credential(_) => self.auth,
            RouteClass::General => self.general,
        }
    }
}
