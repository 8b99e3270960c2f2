//! Per-IP, per-email and per-user limits with their headers.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn auth_routes_have_their_own_strict_budget() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "3"), ("RATE_LIMIT_AUTH_WINDOW_MS", "900000")])
            .await;
    for remaining in ["2", "1", "0"] {
        let res = app.login("nobody@example.com", "Wrong-Password-1").await;
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["x-ratelimit-limit"], "3");
        assert_eq!(res.headers()["x-ratelimit-remaining"], remaining);
    }
    let res = app.login("nobody@example.com", "Wrong-Password-1").await;
    let retry: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    expect_error(res, 429, "RATE_LIMITED").await;

    // Other routes use the general budget.
    let res = app.refresh("whatever").await;
    assert_eq!(res.headers()["x-ratelimit-limit"], "1000");
}

#[tokio::test]
async fn per_email_limit_spans_addresses_spelled_differently() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    // Per-IP and per-email share the budget size; the email key is what a
    // distributed guesser cannot dodge. Both addresses normalise to one key.
    assert_eq!(app.login("Ada@Example.com", "Wrong-Password-1").await.status(), 401);
    assert_eq!(app.login(" ada@example.com", "Wrong-Password-1").await.status(), 401);
    expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn authenticated_routes_are_limited_per_user() {
    // Behind a trusted proxy each request comes from another address, so only
    // the per-user budget can stop them.
    let app = spawn_app_with(&[("RATE_LIMIT_MAX_REQUESTS", "4"), ("TRUST_PROXY_HEADERS", "true")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let res = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);

    app.clock.advance(time::Duration::minutes(2));
    let activity: Value = app.get_auth("/api/v1/users/me/activity", token).await.json().await.unwrap();
    let limited: Vec<&Value> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "security.rate_limit.exceeded")
        .collect();
    assert_eq!(limited.len(), 1, "a burst of rejections is audited once: {activity}");
    assert_eq!(limited[0]["details"]["key_kind"], "user");
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"rate_limit_rejections_total{class="general",key="user"} 2"#), "{text}");
}

/// The credential routes: the strict budget. Every other API route takes the
/// general one. The test walks the OpenAPI document, so a route added without
/// a declared class (or with the wrong one) fails here: before classes were
/// declared with the routes, `POST /api/v1/auth/log%69n` reached the login
/// handler on the general budget. Registering `/auth/refresh` with
/// `resource(..)` instead of `api(.., General, ..)` fails it like this:
///
/// ```text
/// assertion `left == right` failed: POST /api/v1/auth/refresh: no or wrong rate-limit class
///   left: None
///  right: Some("1000")
/// ```
const CREDENTIAL_ROUTES: [&str; 22] = [
    "/api/v1/auth/mfa/totp/verify",
    "/api/v1/auth/mfa/backup-codes/regenerate",
    "/api/v1/auth/mfa/disable",
    "/api/v1/auth/mfa/challenge",
    "/api/v1/auth/mfa/challenge/sms",
    "/api/v1/auth/mfa/sms/verify",
    "/api/v1/auth/mfa/challenge/security-key",
    "/api/v1/auth/mfa/challenge/security-key/finish",
    "/api/v1/auth/webauthn/register/finish",
    "/api/v1/auth/passkeys/sign-in/start",
    "/api/v1/auth/passkeys/sign-in/finish",
    "/api/v1/oauth/link/confirm",
    "/api/v1/oauth/{provider}/authorize",
    "/api/v1/oauth/{provider}/callback",
    "/api/v1/auth/reauthenticate",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/reset",
    "/api/v1/auth/magic-link",
    "/api/v1/auth/magic-link/verify",
    "/api/v1/auth/verify-email/resend",
];

/// A body with every required field of the operation's request schema (a
/// credential route spends its budget only once its body reads).
fn valid_body(doc: &Value, operation: &Value) -> Value {
    let schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str();
    let Some(mut name) = schema_ref.and_then(|r| r.rsplit('/').next()) else { return serde_json::json!({}) };
    // One of several shapes: the first will do.
    if let Some(first) = doc["components"]["schemas"][name]["oneOf"][0]["$ref"].as_str() {
        name = first.rsplit('/').next().unwrap();
    }
    let mut body = serde_json::Map::new();
    let schema = &doc["components"]["schemas"][name];
    for field in schema["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap();
        // An enum (inline or by reference) gets its first value; an object, an empty one.
        let property = &schema["properties"][field];
        let property = match property["$ref"].as_str() {
            Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
            None => property,
        };
        let value = match field {
            _ if property["enum"].is_array() => property["enum"][0].clone(),
            _ if property["type"] == "object" => serde_json::json!({}),
            "email" => Value::from("nobody@example.com"),
            f if f.contains("password") => Value::from("lantern quartz meadow"),
            "method" => Value::from("totp"),
            _ => Value::from("t"),
        };
        body.insert(field.to_owned(), value);
    }
    Value::Object(body)
}

#[tokio::test]
async fn every_api_route_declares_its_class() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "999"), ("RATE_LIMIT_MAX_REQUESTS", "1000")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let doc: Value =
        app.client.get(app.url("/api-docs/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let url_path =
            path.replace("{queue}", "mail").replace("{id}", "00000000-0000-0000-0000-000000000000");
        for (method, operation) in item.as_object().unwrap() {
            let body = valid_body(&doc, operation);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(method.clone(), app.url(&url_path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let expected = if CREDENTIAL_ROUTES.contains(&path.as_str()) { "999" } else { "1000" };
            let limit = res.headers().get("x-ratelimit-limit").map(|v| v.to_str().unwrap().to_owned());
            let status = res.status();
            assert_eq!(
                limit.as_deref(),
                Some(expected),
                "{method} {path}: no or wrong rate-limit class (answered {status} to {body})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 16, "only {checked} routes checked");
}

/// Hardening #2: the class follows the route that matched, not the raw path.
#[tokio::test]
async fn percent_encoded_paths_spend_the_credential_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    let encoded = [
        "/api/v1/auth/log%69n",
        "/api/v1/auth/%72egister",
        "/api/v1/auth/password/forgo%74",
        "/api/v1/auth/password/rese%74",
        "/api/v1/auth/magic-lin%6B",
    ];
    for path in encoded {
        let body = match path {
            p if p.contains("rese") => {
                serde_json::json!({ "token": "t", "new_password": "lantern quartz meadow" })
            }
            p if p.contains("log") || p.contains("egister") => {
                serde_json::json!({ "email": "x@example.com", "password": "p" })
            }
            _ => serde_json::json!({ "email": "x@example.com" }),
        };
        let res = app.client.post(app.url(path)).json(&body).send().await.unwrap();
        assert_ne!(res.status(), 404, "{path} should reach its handler");
        assert_eq!(res.headers()["x-ratelimit-limit"], "2", "{path} is on the credential budget");
    }
    // Unknown API paths are still limited (general budget).
    let res = app.client.get(app.url("/api/v1/nothing-here")).send().await.unwrap();
    assert_eq!(res.headers()["x-ratelimit-limit"], "1000");
    expect_error(res, 404, "NOT_FOUND").await;
}

/// Hardening #8: behind a trusted proxy that appends, the client is the
/// right-most untrusted hop; what the client wrote on the left picks nothing,
/// and garbage never becomes a stored address.
#[tokio::test]
async fn forwarded_for_is_read_from_the_right_and_validated() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "1"), ("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let login = |xff: String| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", xff)
            .json(&serde_json::json!({ "email": "nobody@example.com", "password": "x" }))
            .send()
    };
    assert_eq!(login("198.51.100.1, 203.0.113.5".into()).await.unwrap().status(), 401);
    // Another chosen left-most value does not buy a fresh budget.
    expect_error(login("198.51.100.2, 203.0.113.5".into()).await.unwrap(), 429, "RATE_LIMITED").await;

    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register("ada@example.com").await;
    for garbage in ["http://evil.example/x".to_owned(), "1' OR '1'='1".to_owned(), "7".repeat(3000)] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", garbage)
            .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let login: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity", str_of(&login, "access_token")).await.json().await.unwrap();
    for item in activity["items"].as_array().unwrap() {
        assert_eq!(item["ip"], "127.0.0.1", "{item}");
    }
}

/// ASVS review #2: one IPv6 /64 is one source for the limits.
#[tokio::test]
async fn ipv6_clients_share_a_budget_per_64() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let login = |ip: &'static str, email: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({ "email": email, "password": "x" }))
            .send()
    };
    assert_eq!(login("2001:db8:1:2::1", "a@example.com").await.unwrap().status(), 401);
    assert_eq!(login("2001:db8:1:2::ffff", "b@example.com").await.unwrap().status(), 401);
    let res = login("2001:db8:1:2:dead:beef::9", "c@example.com").await.unwrap();
    expect_error(res, 429, "RATE_LIMITED").await;
    // Another /64 has its own budget.
    assert_eq!(login("2001:db8:1:3::1", "d@example.com").await.unwrap().status(), 401);
}

/// ASVS review #1 (and the first-hour issue): each credential route has its
/// own budget, per IP and per account, so spent login attempts never block
/// recovery, and one of each is never throttled.
#[tokio::test]
async fn each_credential_route_has_its_own_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    for _ in 0..2 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 429, "RATE_LIMITED").await;
    let email = serde_json::json!({ "email": "ada@example.com" });
    assert_eq!(app.post("/api/v1/auth/password/forgot", &email).await.status(), 202);
    assert_eq!(app.post("/api/v1/auth/magic-link", &email).await.status(), 202);
    assert_eq!(app.post("/api/v1/auth/verify-email/resend", &email).await.status(), 202);
}

/// ASVS review #1: failures are counted per account and source. Strangers'
/// failures from other addresses do not lock the owner out; one source that
/// keeps failing is locked; the account-wide bound still caps what all
/// sources together get.
#[tokio::test]
async fn strangers_cannot_lock_the_owner_out() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("LOGIN_ACCOUNT_LOCKOUT_THRESHOLD", "8"),
    ])
    .await;
    app.register("ada@example.com").await;
    let login = |ip: String, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({ "email": "ada@example.com", "password": password }))
            .send()
    };
    // Three failures from one stranger lock that stranger, not the owner.
    for _ in 0..3 {
        assert_eq!(login("198.51.100.1".into(), "Wrong-Password-1").await.unwrap().status(), 401);
    }
    expect_error(login("198.51.100.1".into(), PASSWORD).await.unwrap(), 423, "ACCOUNT_LOCKED").await;
    assert_eq!(login("203.0.113.9".into(), PASSWORD).await.unwrap().status(), 200, "the owner signs in");
    // Failures from many sources, each below its own threshold, add up to the
    // account-wide bound (8): then every source is refused for a while.
    for i in 2..10 {
        let _ = login(format!("198.51.100.{i}"), "Wrong-Password-1").await.unwrap();
    }
    expect_error(login("203.0.113.9".into(), PASSWORD).await.unwrap(), 423, "ACCOUNT_LOCKED").await;
    // Recovery is never blocked by login failures: the reset still goes out.
    let res =
        app.post("/api/v1/auth/password/forgot", &serde_json::json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);
}

/// ASVS review #11: the user-agent cap (512 characters) applies to every
/// stored event, the rate-limit audit included.
#[tokio::test]
async fn stored_user_agents_are_capped() {
    // From several addresses, so the per-user budget is the one that runs out.
    let app = spawn_app_with(&[("RATE_LIMIT_MAX_REQUESTS", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let long_agent = "A".repeat(3000);
    for i in 0..3 {
        let _ = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("user-agent", long_agent.as_str())
            .send()
            .await
            .unwrap();
    }
    app.clock.advance(time::Duration::minutes(2));
    let activity: Value = app.get_auth("/api/v1/users/me/activity", token).await.json().await.unwrap();
    let limited = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "security.rate_limit.exceeded")
        .expect("the rate-limit event");
    assert_eq!(limited["user_agent"].as_str().unwrap().chars().count(), 512, "{limited}");
}

/// First hour: a request refused before any credential check (a malformed
/// body, a wrong method) spends nothing of the credential budget.
#[tokio::test]
async fn refused_requests_spend_no_credential_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    for _ in 0..5 {
        let malformed = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        expect_error(malformed, 400, "BAD_REQUEST").await;
        let missing =
            app.post("/api/v1/auth/login", &serde_json::json!({ "email": "ada@example.com" })).await;
        expect_error(missing, 400, "VALIDATION_ERROR").await;
        let wrong_method = app.client.get(app.url("/api/v1/auth/login")).send().await.unwrap();
        expect_error(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
    }
    // The whole budget is still there.
    for remaining in ["1", "0"] {
        let res = app.login("ada@example.com", "Wrong-Password-1").await;
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["x-ratelimit-remaining"], remaining);
    }
    expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 429, "RATE_LIMITED").await;
}
