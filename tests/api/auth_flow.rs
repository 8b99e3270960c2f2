//! register → login → me → refresh → reuse detection → logout.

use crate::helpers::*;
use serde_json::{Value, json};
use time::Duration;

#[tokio::test]
async fn register_login_me_refresh_reuse_logout() {
    let app = spawn_app().await;

    let res = app
        .post(
            "/api/v1/auth/register",
            &json!({ "email": "  Ada@Example.COM ", "password": PASSWORD, "display_name": " Ada " }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["display_name"], "Ada");
    assert!(body["user"].get("password_hash").is_none());

    let login = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);
    assert_eq!(login["user"]["email"], "ada@example.com");
    let access = str_of(&login, "access_token");
    let first_refresh = str_of(&login, "refresh_token");
    assert_eq!(first_refresh.len(), 43, "32 random bytes, base64url");

    let me = app.get_auth("/api/v1/auth/me", access).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert!(me["id"].is_string() && me["created_at"].is_string());

    let res = app.refresh(first_refresh).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-refresh-reuse").is_none());
    let rotated: Value = res.json().await.unwrap();
    let second_refresh = str_of(&rotated, "refresh_token");
    let second_access = str_of(&rotated, "access_token");
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(app.get_auth("/api/v1/auth/me", second_access).await.status(), 200);

    // Past the grace window, the rotated token is a stolen one: the family dies.
    app.clock.advance(Duration::seconds(11));
    expect_error(app.refresh(first_refresh).await, 401, "REFRESH_TOKEN_REUSED").await;
    expect_error(app.refresh(second_refresh).await, 401, "INVALID_TOKEN").await;
    expect_error(app.get_auth("/api/v1/auth/me", second_access).await, 401, "INVALID_TOKEN").await;

    // A new login works; logout ends it.
    let login: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let access = str_of(&login, "access_token");
    let refresh = str_of(&login, "refresh_token");
    let res = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 204);
    expect_error(app.get_auth("/api/v1/auth/me", access).await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh(refresh).await, 401, "INVALID_TOKEN").await;
}

#[tokio::test]
async fn parent_presented_within_grace_gets_the_current_pair() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let parent = str_of(&login, "refresh_token");
    let current: Value = app.refresh(parent).await.json().await.unwrap();

    app.clock.advance(Duration::seconds(9));
    let res = app.refresh(parent).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-refresh-reuse"], "grace");
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["refresh_token"], current["refresh_token"]);
    assert_eq!(app.get_auth("/api/v1/auth/me", str_of(&again, "access_token")).await.status(), 200);

    // The current token still rotates normally afterwards.
    let next = app.refresh(str_of(&current, "refresh_token")).await;
    assert_eq!(next.status(), 200);
    assert!(next.headers().get("x-refresh-reuse").is_none());
}

#[tokio::test]
async fn zero_grace_disables_the_window() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_REUSE_GRACE", "0")]).await;
    let login = app.signed_in("ada@example.com").await;
    let parent = str_of(&login, "refresh_token");
    assert_eq!(app.refresh(parent).await.status(), 200);
    expect_error(app.refresh(parent).await, 401, "REFRESH_TOKEN_REUSED").await;
}

#[tokio::test]
async fn concurrent_refreshes_mint_one_child() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "refresh_token").to_owned();
    let calls = (0..10)
        .map(|_| {
            let (client, url, token) = (app.client.clone(), app.url("/api/v1/auth/refresh"), token.clone());
            tokio::spawn(async move {
                client.post(url).json(&json!({ "refresh_token": token })).send().await.unwrap()
            })
        })
        .collect::<Vec<_>>();
    let mut children = std::collections::HashSet::new();
    let mut fresh = 0;
    for call in calls {
        let res = call.await.unwrap();
        assert_eq!(res.status(), 200);
        if res.headers().get("x-refresh-reuse").is_none() {
            fresh += 1;
        }
        let body: Value = res.json().await.unwrap();
        children.insert(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(fresh, 1, "exactly one request rotated; the rest got the grace answer");
    assert_eq!(children.len(), 1, "every caller holds the same current token");
}

#[tokio::test]
async fn expired_access_token_is_token_expired() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.clock.advance(Duration::minutes(15));
    let body = expect_error(
        app.get_auth("/api/v1/auth/me", str_of(&login, "access_token")).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
    assert_eq!(body["path"], "/api/v1/auth/me");
}

#[tokio::test]
async fn expired_refresh_token_is_token_expired() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    // A purge running on the moved clock would delete the token (then it is
    // simply unknown); the one scheduled at start must be behind us.
    app.startup_cleanups_done().await;
    app.clock.advance(Duration::days(7));
    expect_error(app.refresh(str_of(&login, "refresh_token")).await, 401, "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn missing_and_malformed_tokens() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    expect_error(res, 401, "UNAUTHORIZED").await;
    let res =
        app.client.get(app.url("/api/v1/auth/me")).header("authorization", "Basic abc").send().await.unwrap();
    expect_error(res, 401, "UNAUTHORIZED").await;
    expect_error(app.get_auth("/api/v1/auth/me", "not.a.jwt").await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh("nonsense").await, 401, "INVALID_TOKEN").await;
    expect_error(
        app.post("/api/v1/auth/refresh", &json!({ "refresh_token": "" })).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test]
async fn tokens_from_another_instance_are_rejected() {
    let (a, b) = (spawn_app().await, spawn_app().await);
    let login = a.signed_in("ada@example.com").await;
    expect_error(b.get_auth("/api/v1/auth/me", str_of(&login, "access_token")).await, 401, "INVALID_TOKEN")
        .await;
}

#[tokio::test]
async fn registration_rules() {
    // The character-class rules are off by default (ASVS); they stay available.
    let app = spawn_app_with(&[
        ("PASSWORD_MIN_LENGTH", "8"),
        ("PASSWORD_REQUIRE_UPPERCASE", "true"),
        ("PASSWORD_REQUIRE_NUMBERS", "true"),
        ("PASSWORD_REQUIRE_SPECIAL", "true"),
    ])
    .await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    expect_error(app.register("ADA@example.com ").await, 409, "EMAIL_TAKEN").await;

    let res =
        app.post("/api/v1/auth/register", &json!({ "email": "not-an-email", "password": "password" })).await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    let codes: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    for expected in [
        "invalid_email",
        "missing_uppercase",
        "missing_number",
        "missing_special",
        "common_password",
        "too_weak",
    ] {
        assert!(codes.contains(&expected), "{expected} missing from {codes:?}");
    }

    // Passes the character rules but is guessable.
    let res = app
        .post("/api/v1/auth/register", &json!({ "email": "bob@example.com", "password": "Password1!" }))
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["code"], "too_weak", "{body}");

    let res = app
        .post(
            "/api/v1/auth/register",
            &json!({ "email": "c@example.com", "password": PASSWORD, "display_name": "  " }),
        )
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "display_name");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_alike() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let wrong =
        expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS")
            .await;
    let unknown =
        expect_error(app.login("nobody@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS")
            .await;
    assert_eq!(wrong["error"], unknown["error"]);
}

/// ASVS review #5: the defaults ask for length, not composition, and the
/// same password in another Unicode form is the same password.
#[tokio::test]
async fn default_password_rules_and_normalisation() {
    let app = spawn_app().await;
    let passphrase = "lantern quartz meadow harbor copper";
    let res = app
        .post("/api/v1/auth/register", &json!({ "email": "pass@example.com", "password": passphrase }))
        .await;
    assert_eq!(res.status(), 201, "a 35-character lowercase passphrase is fine");
    let res = app
        .post("/api/v1/auth/register", &json!({ "email": "short@example.com", "password": "Tr0ub4dor&3" }))
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert!(body["error"]["details"].as_array().unwrap().iter().any(|d| d["code"] == "too_short"), "{body}");

    let composed = "caf\u{e9} lantern quartz meadow";
    let decomposed = "cafe\u{301} lantern quartz meadow";
    let res = app
        .post("/api/v1/auth/register", &json!({ "email": "cafe@example.com", "password": composed }))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.login("cafe@example.com", decomposed).await.status(), 200);
    assert_eq!(app.login("cafe@example.com", composed).await.status(), 200);
}
