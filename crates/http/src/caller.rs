//! Who is calling, as audit events and limits record it: the client address
//! (through trusted proxies only), the user agent (capped) and our request id.

use crate::client_ip::{self, TrustedProxies};
use crate::request_id::RequestId;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, web};
use portcullis_domain::audit::RequestContext;

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
    }
}
