//! Browser-facing defaults: CORS for listed origins only, security headers on
//! every answer (errors too), HSTS when asked, and the handler deadline.

use crate::helpers::{expect_error, spawn_app, spawn_app_with};
use reqwest::Response;
use reqwest::header::HeaderMap;

const FRONT_END: &str = "https://app.example.com";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_security_headers(res: &Response) {
    let h = res.headers();
    assert_eq!(header(h, "x-content-type-options"), Some("nosniff"), "{h:?}");
    assert_eq!(header(h, "x-frame-options"), Some("DENY"));
    assert_eq!(header(h, "referrer-policy"), Some("no-referrer"));
    let csp = header(h, "content-security-policy").expect("a CSP on every answer");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

async fn preflight(app: &crate::helpers::TestApp, origin: &str, method: &str, headers: &str) -> Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/me"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_and_credentials() {
    let app =
        spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:5173")]).await;
    let res = preflight(&app, FRONT_END, "GET", "authorization").await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(FRONT_END), "the exact origin, never *");
    assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
    assert!(header(h, "access-control-allow-methods").unwrap().contains("GET"));
    assert!(
        header(h, "access-control-allow-headers").unwrap().to_ascii_lowercase().contains("authorization")
    );
    assert!(h.get("x-request-id").is_some());
    assert_security_headers(&res);

    // The real request: the origin is echoed, the request id readable by script.
    let res = app.client.get(app.url("/health")).header("Origin", FRONT_END).send().await.unwrap();
    let h = res.headers();
    assert_eq!(header(h, "access-control-allow-origin"), Some(FRONT_END));
    assert!(header(h, "access-control-expose-headers").unwrap().contains("x-request-id"));
}

#[tokio::test]
async fn other_origins_are_refused_without_credentials() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", FRONT_END)]).await;
    for origin in ["https://evil.example.com", "https://app.example.com.evil.net", "null"] {
        let res = preflight(&app, origin, "GET", "authorization").await;
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
        assert_security_headers(&res);
        let body = expect_error(res, 403, "FORBIDDEN").await;
        assert_eq!(body["error"]["details"]["reason"], "origin_not_allowed", "{body}");

        // A simple request is answered, but with nothing that lets a browser
        // hand it (or a credentialed one) to the other origin's script.
        let res = app.client.get(app.url("/health")).header("Origin", origin).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
        assert!(res.headers().get("access-control-allow-credentials").is_none(), "{origin}");
    }
    // A listed origin asking for a method or header we do not allow.
    let res = preflight(&app, FRONT_END, "TRACE", "authorization").await;
    let body = expect_error(res, 403, "FORBIDDEN").await;
    assert_eq!(body["error"]["details"]["reason"], "method_not_allowed");
    let res = preflight(&app, FRONT_END, "GET", "x-evil").await;
    let body = expect_error(res, 403, "FORBIDDEN").await;
    assert_eq!(body["error"]["details"]["reason"], "headers_not_allowed");
}

#[tokio::test]
async fn without_configured_origins_no_cross_origin_access() {
    let app = spawn_app().await;
    let res = preflight(&app, FRONT_END, "GET", "authorization").await;
    expect_error(res, 403, "FORBIDDEN").await;
}

#[tokio::test]
async fn security_headers_are_on_errors_and_docs_get_their_own_policy() {
    let app = spawn_app().await;
    let unauthorized = app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap();
    assert_security_headers(&unauthorized);
    assert!(unauthorized.headers().get("strict-transport-security").is_none(), "HSTS only when enabled");
    expect_error(unauthorized, 401, "UNAUTHORIZED").await;
    let missing = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_security_headers(&missing);
    let api_csp = header(missing.headers(), "content-security-policy").unwrap().to_owned();
    assert!(api_csp.starts_with("default-src 'none'"), "{api_csp}");

    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert_security_headers(&docs);
    let docs_csp = header(docs.headers(), "content-security-policy").unwrap();
    assert!(docs_csp.contains("script-src 'self'"), "the Swagger UI runs its scripts: {docs_csp}");

    let hsts = spawn_app_with(&[("HSTS_ENABLED", "true")]).await;
    let res = hsts.client.get(hsts.url("/health")).send().await.unwrap();
    assert!(header(res.headers(), "strict-transport-security").unwrap().starts_with("max-age="));
}

/// A handler still busy at `REQUEST_TIMEOUT` is cut off: 503 in the envelope.
/// The work here is a password check at the production Argon2id cost, which
/// takes far longer than the 1 ms deadline.
#[tokio::test]
async fn a_handler_past_the_deadline_answers_503() {
    let app = spawn_app_with(&[
        ("REQUEST_TIMEOUT", "1ms"),
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
    ])
    .await;
    let res = app.login("nobody@example.com", "Some-Password-123").await;
    assert_security_headers(&res);
    let body = expect_error(res, 503, "REQUEST_TIMEOUT").await;
    assert_eq!(body["path"], "/api/v1/auth/login");
}
