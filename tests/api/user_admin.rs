//! `/api/v1/admin/users`: list and search, detail, lock and unlock, ending a
//! user's sessions — and the refusals.

use crate::helpers::*;
use serde_json::{Value, json};

async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let res = app.get_auth(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

fn emails(page: &Value) -> Vec<String> {
    page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn admins_list_search_and_inspect_accounts() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    let ada = app.signed_in("ada@example.com").await;
    app.signed_in("bob@example.org").await;
    app.signed_in("carol@example.com").await;

    let all = get_json(&app, "/api/v1/admin/users", token).await;
    assert_eq!(emails(&all), ["carol@example.com", "bob@example.org", "ada@example.com", ADMIN_EMAIL]);
    assert_eq!(all["users"][3]["email_verified"], true, "the bootstrap admin's address counts as verified");
    assert_eq!(all["users"][0]["status"], "active");
    assert_eq!(
        emails(&get_json(&app, "/api/v1/admin/users?email=EXAMPLE.ORG", token).await),
        ["bob@example.org"]
    );
    assert_eq!(emails(&get_json(&app, "/api/v1/admin/users?role=admin", token).await), [ADMIN_EMAIL]);
    assert_eq!(emails(&get_json(&app, "/api/v1/admin/users?verified=true", token).await), [ADMIN_EMAIL]);
    let page1 = get_json(&app, "/api/v1/admin/users?limit=3", token).await;
    assert_eq!(page1["users"].as_array().unwrap().len(), 3);
    let cursor = str_of(&page1, "next_cursor");
    let page2 = get_json(&app, &format!("/api/v1/admin/users?limit=3&cursor={cursor}"), token).await;
    assert_eq!(emails(&page2), [ADMIN_EMAIL]);
    assert!(page2["next_cursor"].is_null());
    let res = app.get_auth("/api/v1/admin/users?role=wizard&status=gone", token).await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "status", "{body}");
    expect_error(app.get_auth("/api/v1/admin/users?role=wizard", token).await, 400, "VALIDATION_ERROR").await;

    let ada_id = all["users"][2]["id"].as_str().unwrap();
    let detail = get_json(&app, &format!("/api/v1/admin/users/{ada_id}"), token).await;
    assert_eq!(detail["email"], "ada@example.com");
    assert_eq!(detail["roles"], json!(["user"]));
    assert_eq!(detail["sessions"].as_array().unwrap().len(), 1);
    assert!(detail["last_sign_in_at"].is_string(), "{detail}");
    assert!(detail["locked_at"].is_null());
    expect_error(
        app.get_auth(&format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4()), token).await,
        404,
        "NOT_FOUND",
    )
    .await;

    // A plain user sees none of it.
    let ada_token = str_of(&ada, "access_token");
    expect_error(app.get_auth("/api/v1/admin/users", ada_token).await, 403, "FORBIDDEN").await;
    expect_error(app.get_auth(&format!("/api/v1/admin/users/{ada_id}"), ada_token).await, 403, "FORBIDDEN")
        .await;
}

#[tokio::test]
async fn locking_ends_sessions_and_sign_ins_until_unlocked() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    let ada = app.signed_in("ada@example.com").await;
    let ada_token = str_of(&ada, "access_token");
    let me: Value = app.get_auth("/api/v1/auth/me", ada_token).await.json().await.unwrap();
    let ada_id = str_of(&me, "id");

    // A plain user may not lock anyone.
    let mallory = app.signed_in("mallory@example.com").await;
    let res = app
        .post_auth(
            &format!("/api/v1/admin/users/{ada_id}/lock"),
            str_of(&mallory, "access_token"),
            &json!({}),
        )
        .await;
    expect_error(res, 403, "FORBIDDEN").await;

    let res = app.post_auth(&format!("/api/v1/admin/users/{ada_id}/lock"), token, &json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "locked");
    expect_error(app.get_auth("/api/v1/auth/me", ada_token).await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh(str_of(&ada, "refresh_token")).await, 401, "INVALID_TOKEN").await;
    expect_error(app.login("ada@example.com", PASSWORD).await, 403, "ACCOUNT_DISABLED").await;
    expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS").await;
    let locked = get_json(&app, "/api/v1/admin/users?status=locked", token).await;
    assert_eq!(emails(&locked), ["ada@example.com"]);

    let me_admin: Value = app.get_auth("/api/v1/auth/me", token).await.json().await.unwrap();
    let own = app
        .post_auth(&format!("/api/v1/admin/users/{}/lock", str_of(&me_admin, "id")), token, &json!({}))
        .await;
    expect_error(own, 400, "VALIDATION_ERROR").await;

    let res = app.post_auth(&format!("/api/v1/admin/users/{ada_id}/unlock"), token, &json!({})).await;
    assert_eq!(res.status(), 200);
    let again: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/admin/users/{ada_id}/sessions")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 1);
    expect_error(app.get_auth("/api/v1/auth/me", str_of(&again, "access_token")).await, 401, "INVALID_TOKEN")
        .await;

    // The admin's trail has each action, with the target and before/after.
    let trail =
        get_json(&app, &format!("/api/v1/admin/audit-logs?user_id={}", str_of(&me_admin, "id")), token).await;
    let items = trail["items"].as_array().unwrap();
    let locked = items.iter().find(|i| i["action"] == "admin.user.locked").expect("the lock is audited");
    assert_eq!(locked["details"]["target_user_id"], ada_id);
    assert_eq!(locked["details"]["before"]["locked"], false);
    assert_eq!(locked["details"]["after"]["locked"], true);
    assert_eq!(locked["details"]["sessions_ended"], 1);
    for action in ["admin.user.unlocked", "admin.user.sessions_ended"] {
        assert!(items.iter().any(|i| i["action"] == action), "{action}");
    }
}
