//! Who is calling, as audit events and limits record it: the client address
//! (through trusted proxies only), the user agent (capped) and our request id.

use crate::client_ip::{self, TrustedProxies};
use crate::limits::RouteClass;
use crate::request_id::RequestId;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, web};
use portcullis_domain::audit::RequestContext;
use portcullis_domain::device::DeviceHint;

/// The longest user agent stored with an event.
pub const USER_AGENT_CAP: usize = 512;

/// The client address as a string (`unknown` without a peer address).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> String {
    let values = |name: header::HeaderName| -> Vec<&str> {
        req.headers().get_all(name).filter_map(|v| v.to_str().ok()).collect()
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded_for = values(header::HeaderName::from_static("x-forwarded-for"));
    let forwarded = values(header::FORWARDED);
    client_ip::resolve(peer, &forwarded_for, &forwarded, trusted)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The client's own device id header.
pub const DEVICE_ID_HEADER: &str = "x-device-id";

/// "Firefox on Linux": the user agent's family and platform (woothee), or
/// `None` when it names neither.
pub fn agent_label(user_agent: &str) -> Option<String> {
    let parsed = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
    match (known(parsed.name), known(parsed.os)) {
        (true, true) => Some(format!("{} on {}", parsed.name, parsed.os)),
        (true, false) => Some(parsed.name.to_owned()),
        (false, true) => Some(parsed.os.to_owned()),
        (false, false) => None,
    }
}

/// What the request says about its device (read on sign-in routes only).
fn device_hint(req: &HttpRequest) -> DeviceHint {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    DeviceHint {
        client_id: header(DEVICE_ID_HEADER)
            .filter(|id| DeviceHint::acceptable_client_id(id))
            .map(str::to_owned),
        agent: header(header::USER_AGENT.as_str())
            .map(|ua| &ua[..ua.len().min(USER_AGENT_CAP)])
            .and_then(agent_label),
    }
}

/// The caller's context for audit events.
pub fn context(req: &HttpRequest) -> RequestContext {
    let ip = match req.app_data::<web::Data<AppState>>() {
        Some(state) => client_ip(req, &state.rate_limits.trusted_proxies),
        None => client_ip(req, &TrustedProxies::default()),
    };
    RequestContext {
        ip: Some(ip),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(USER_AGENT_CAP).collect()),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        route: req.match_pattern(),
        // The device matters where a session is opened: the credential routes.
        device: matches!(req.extensions().get::<RouteClass>(), Some(RouteClass::Credential(_)))
            .then(|| device_hint(req)),
    }
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(req: &HttpRequest) -> Result<String, crate::error::ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(crate::error::ApiError::App(portcullis_application::AppError::Unauthorized))?
        .to_str()
        .map_err(|_| crate::error::ApiError::App(portcullis_application::AppError::InvalidToken))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(crate::error::ApiError::App(portcullis_application::AppError::Unauthorized))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(crate::error::ApiError::App(portcullis_application::AppError::Unauthorized));
    }
    Ok(token.trim().to_owned())
}
