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
    /// The general budget of a request whose access token carries a high
    /// trust score (`RATE_LIMIT_TRUSTED_MAX_REQUESTS`).
    pub trusted_general: Limit,
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
    /// The budget of `class`; a high-trust session gets the relaxed general one.
    pub fn limit(&self, class: RouteClass, high_trust: bool) -> Limit {
        match class {
            RouteClass::Credential(_) => self.auth,
            RouteClass::General if high_trust => self.trusted_general,
            RouteClass::General => self.general,
        }
    }
}

/// Set on a request whose access token verified with a high trust score.
#[derive(Debug, Clone, Copy)]
pub struct HighTrust;

/// The claims of the request's bearer token, its signature and expiry
/// checked by the rate limiter (the revocation check is left to the route):
/// a token is verified once per request.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub portcullis_application::ports::AccessClaims);

/// The verified and admitted (unrevoked) claims of this request, once
/// `extract::authenticate` or `rate_limit::admit_verified` ran.
#[derive(Debug, Clone)]
pub struct Authenticated(pub portcullis_application::ports::AccessClaims);
