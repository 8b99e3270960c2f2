//! Profile, password change, activity.

use crate::helpers::*;
use serde_json::{Value, json};

async fn patch_me(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client.patch(app.url("/api/v1/users/me")).bearer_auth(token).json(body).send().await.unwrap()
}

#[tokio::test]
async fn profile_update_is_audited_with_previous_and_new_values() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");

    let res = patch_me(&app, token, &json!({ "display_name": "Countess" })).await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["display_name"], "Countess");

    let cleared: Value = patch_me(&app, token, &json!({ "display_name": null })).await.json().await.unwrap();
    assert_eq!(cleared["display_name"], Value::Null);
    // An empty body changes nothing.
    let same: Value = patch_me(&app, token, &json!({})).await.json().await.unwrap();
    assert_eq!(same["display_name"], Value::Null);

    expect_error(
        patch_me(&app, token, &json!({ "display_name": "x".repeat(101) })).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    expect_error(patch_me(&app, token, &json!({ "email": "evil@example.com" })).await, 400, "BAD_REQUEST")
        .await;

    let activity: Value = app.get_auth("/api/v1/users/me/activity", token).await.json().await.unwrap();
    let items = activity["items"].as_array().unwrap();
    let updates: Vec<&Value> = items.iter().filter(|i| i["action"] == "user.profile.updated").collect();
    assert_eq!(updates.len(), 2);
    // Newest first.
    assert_eq!(
        updates[0]["details"],
        json!({ "previous": { "display_name": "Countess" }, "new": { "display_name": null } })
    );
    assert_eq!(
        updates[1]["details"],
        json!({ "previous": { "display_name": "Ada" }, "new": { "display_name": "Countess" } })
    );
}

#[tokio::test]
async fn password_change_revokes_every_other_session() {
    let app = spawn_app().await;
    let a = app.signed_in("ada@example.com").await;
    let b: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let (a_token, b_token) = (str_of(&a, "access_token"), str_of(&b, "access_token"));

    let new_password = "Velvet-Harbor-37#";
    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            a_token,
            &json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(res.status(), 204);

    assert_eq!(app.get_auth("/api/v1/auth/me", a_token).await.status(), 200, "the calling session survives");
    assert_eq!(app.refresh(str_of(&a, "refresh_token")).await.status(), 200);
    expect_error(app.get_auth("/api/v1/auth/me", b_token).await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh(str_of(&b, "refresh_token")).await, 401, "INVALID_TOKEN").await;

    expect_error(app.login("ada@example.com", PASSWORD).await, 401, "INVALID_CREDENTIALS").await;
    assert_eq!(app.login("ada@example.com", new_password).await.status(), 200);
}

#[tokio::test]
async fn password_change_checks_current_and_policy() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            token,
            &json!({ "current_password": "Not-It-123!", "new_password": "Velvet-Harbor-37#" }),
        )
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "current_password");

    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            token,
            &json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert!(body["error"]["details"].as_array().unwrap().iter().all(|d| d["field"] == "new_password"));

    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            token,
            &json!({ "current_password": PASSWORD, "new_password": PASSWORD }),
        )
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert!(body["error"]["details"].as_array().unwrap().iter().any(|d| d["code"] == "unchanged"));
}

#[tokio::test]
async fn activity_is_paginated_newest_first() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    // The verification mail (and its audit event) comes from a job.
    app.mail_to("ada@example.com", 1).await;
    for _ in 0..3 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    let login: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let token = str_of(&login, "access_token");

    // registered, verification mailed, 3 failures, 1 success = 6 events
    let page1: Value = app.get_auth("/api/v1/users/me/activity?limit=2", token).await.json().await.unwrap();
    let items = page1["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "auth.login.succeeded");
    assert_eq!(items[1]["action"], "auth.login.failed");
    assert_eq!(items[1]["severity"], "warning");
    let cursor = str_of(&page1, "next_cursor");

    let page2: Value = app
        .get_auth(&format!("/api/v1/users/me/activity?limit=2&cursor={cursor}"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 2);
    let page3: Value = app
        .get_auth(
            &format!("/api/v1/users/me/activity?limit=2&cursor={}", str_of(&page2, "next_cursor")),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    let last = page3["items"].as_array().unwrap();
    assert_eq!(last.len(), 2);
    assert_eq!(last[0]["action"], "user.email.verification_requested");
    assert_eq!(last[1]["action"], "user.registered");
    assert_eq!(page3["next_cursor"], Value::Null);

    // Audit details never carry secrets.
    let all: Value = app.get_auth("/api/v1/users/me/activity?limit=100", token).await.json().await.unwrap();
    let text = all.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("Wrong-Password-1"));

    expect_error(app.get_auth("/api/v1/users/me/activity?limit=0", token).await, 400, "VALIDATION_ERROR")
        .await;
    expect_error(app.get_auth("/api/v1/users/me/activity?limit=abc", token).await, 400, "BAD_REQUEST").await;
    expect_error(app.get_auth("/api/v1/users/me/activity?cursor=nope", token).await, 400, "BAD_REQUEST")
        .await;
}

/// ASVS review #8: a login refused while locked, a revoked access token and a
/// refused admin operation are audited in the user's own activity.
#[tokio::test]
async fn refusals_reach_the_users_activity() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "2")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let other: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    for _ in 0..2 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    expect_error(app.login("ada@example.com", PASSWORD).await, 423, "ACCOUNT_LOCKED").await;
    expect_error(app.get_auth("/api/v1/admin/queues", token).await, 403, "FORBIDDEN").await;
    let res = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 204);
    expect_error(app.get_auth("/api/v1/auth/me", token).await, 401, "INVALID_TOKEN").await;

    let activity: Value = app
        .get_auth("/api/v1/users/me/activity?limit=100", str_of(&other, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> =
        activity["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
    for expected in ["auth.login.refused_locked", "security.access.denied", "auth.access_token.rejected"] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let item = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "security.access.denied")
        .unwrap();
    assert_eq!(item["ip"], "127.0.0.1");
}
