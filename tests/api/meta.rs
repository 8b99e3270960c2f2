//! Health, metrics, JWKS, OpenAPI and the hashing pool's back-pressure.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn health_endpoints() {
    let app = spawn_app().await;
    let live: Value = app.client.get(app.url("/health/live")).send().await.unwrap().json().await.unwrap();
    assert_eq!(live["status"], "ok");
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // `/health` answers like `/health/ready` (what load balancers probe).
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_logins_and_registrations() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    app.login("ada@example.com", "Wrong-Password-1").await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/api/v1/auth/login",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/register",status="201""#
        ),
        "{text}"
    );
    assert!(text.contains(r#"auth_logins_total{result="success"} 1"#), "{text}");
    assert!(text.contains(r#"auth_logins_total{result="failure"} 1"#), "{text}");
    assert!(text.contains("auth_registrations_total 1"), "{text}");
}

/// Hardening #15: `/metrics` can be protected with METRICS_BEARER_TOKEN.
#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let app = spawn_app_with(&[("METRICS_BEARER_TOKEN", "scrape-me-0123456789")]).await;
    let get = |token: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    expect_error(get(None).await.unwrap(), 401, "UNAUTHORIZED").await;
    expect_error(get(Some("scrape-me-012345678")).await.unwrap(), 401, "UNAUTHORIZED").await;
    expect_error(get(Some("scrape-me-0123456789x")).await.unwrap(), 401, "UNAUTHORIZED").await;
    let res = get(Some("scrape-me-0123456789")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let header: Value = {
        use base64::Engine;
        let part = token.split('.').next().unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap())
            .unwrap()
    };
    assert_eq!(header["alg"], "EdDSA");
    let jwks: Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], header["kid"]);
    assert_eq!(key["kty"], "OKP");
    assert!(key.get("d").is_none(), "no private material");
}

#[tokio::test]
async fn openapi_lists_every_route_and_docs_are_served() {
    let app = spawn_app().await;
    let spec: Value =
        app.client.get(app.url("/api-docs/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/users/me",
        "/api/v1/users/me/password",
        "/api/v1/users/me/activity",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/.well-known/jwks.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn full_hashing_pool_answers_overloaded() {
    // One hash at a time, no queue, deliberately slow hashes.
    let app = spawn_app_with(&[
        ("MAX_HASH_CONCURRENCY", "1"),
        ("HASH_QUEUE_SIZE", "0"),
        ("ARGON2_MEMORY_KIB", "32768"),
        ("ARGON2_ITERATIONS", "6"),
    ])
    .await;
    let calls = (0..16)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({ "email": format!("u{i}@example.com"), "password": "Whatever-1!" }))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect::<Vec<_>>();
    let mut overloaded = 0;
    for call in calls {
        let res = call.await.unwrap();
        match res.status().as_u16() {
            401 => {}
            503 => {
                assert_eq!(res.headers()["retry-after"], "1");
                expect_error(res, 503, "OVERLOADED").await;
                overloaded += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(overloaded > 0, "sixteen simultaneous logins on a one-slot pool must turn some away");
}

/// docs/admin.md lists exactly the permissions the API checks.
#[test]
fn the_admin_guide_lists_every_permission() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/admin.md")).unwrap();
    let start = doc.find("<!-- permissions:start -->").unwrap();
    let end = doc.find("<!-- permissions:end -->").unwrap();
    let listed: Vec<(String, String)> = doc[start..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells.len() >= 3 && cells[1].starts_with('`'))
                .then(|| (cells[1].trim_matches('`').to_owned(), cells[2].to_owned()))
        })
        .collect();
    let table: Vec<(String, String)> = portcullis_application::access::permissions::ALL
        .iter()
        .map(|(p, what)| (p.to_string(), (*what).to_owned()))
        .collect();
    assert_eq!(listed, table);
}
