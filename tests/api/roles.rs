//! Roles and permissions over HTTP: the admin routes, each refusal, the
//! cached permissions seen changed on the very next request, the bootstrap.

use crate::helpers::*;
use reqwest::Response;
use serde_json::{Value, json};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let request = app.client.request(method, app.url(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    send(app, reqwest::Method::PUT, path, token, Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    send(app, reqwest::Method::DELETE, path, token, None).await
}

async fn role_id(app: &TestApp, token: &str, name: &str) -> String {
    let body: Value = app.get_auth("/api/v1/admin/roles", token).await.json().await.unwrap();
    let role = body["roles"].as_array().unwrap().iter().find(|r| r["name"] == name).cloned();
    str_of(&role.unwrap_or_else(|| panic!("no role {name}: {body}")), "id").to_owned()
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let me: Value = app.get_auth("/api/v1/auth/me", token).await.json().await.unwrap();
    str_of(&me, "id").to_owned()
}

#[tokio::test]
async fn system_roles_are_listed_and_protected() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    let body: Value = app.get_auth("/api/v1/admin/roles", token).await.json().await.unwrap();
    let names: Vec<&str> =
        body["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "moderator", "user"]);
    assert!(body["roles"].as_array().unwrap().iter().all(|r| r["system"] == true));

    let user_role = role_id(&app, token, "user").await;
    let path = format!("/api/v1/admin/roles/{user_role}");
    let stripped = put(&app, &path, token, json!({ "name": "user", "permissions": ["files:read"] })).await;
    let body = expect_error(stripped, 409, "ROLE_PROTECTED").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("files:write"), "{body}");
    let renamed = json!({ "name": "member", "permissions": ["files:read", "files:write"] });
    expect_error(put(&app, &path, token, renamed).await, 409, "ROLE_PROTECTED").await;
    expect_error(delete(&app, &path, token).await, 409, "ROLE_PROTECTED").await;
    // Adding to a system role is fine.
    let grown = json!({ "name": "user", "description": "members", "permissions": ["files:read", "files:write", "queues:read"] });
    let res = put(&app, &path, token, grown).await;
    assert_eq!(res.status(), 200);
    let role: Value = res.json().await.unwrap();
    assert_eq!(role["permissions"], json!(["files:read", "files:write", "queues:read"]));
}

#[tokio::test]
async fn custom_roles_are_created_changed_and_deleted() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    let app = &app;
    let create = |body: Value| async move { app.post_auth("/api/v1/admin/roles", token, &body).await };

    let res = create(json!({ "name": "auditor", "description": "reads the trail", "permissions": ["audit:read", "users:*"] })).await;
    assert_eq!(res.status(), 201);
    let auditor: Value = res.json().await.unwrap();
    assert_eq!(auditor["system"], false);
    assert_eq!(auditor["permissions"], json!(["audit:read", "users:*"]));
    expect_error(create(json!({ "name": "auditor", "permissions": [] })).await, 409, "ROLE_NAME_TAKEN").await;

    let bad = create(json!({ "name": "Bad Name", "permissions": ["audit:read", "no-colon", "a:b:c"] })).await;
    let body = expect_error(bad, 400, "VALIDATION_ERROR").await;
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "permissions[1]", "permissions[2]"], "{body}");
    expect_error(create(json!({ "name": "x", "permissions": [], "admin": true })).await, 400, "BAD_REQUEST")
        .await;

    let path = format!("/api/v1/admin/roles/{}", str_of(&auditor, "id"));
    let res = put(app, &path, token, json!({ "name": "reviewer", "permissions": ["audit:read"] })).await;
    assert_eq!(res.status(), 200);
    let clash = put(app, &path, token, json!({ "name": "admin", "permissions": [] })).await;
    expect_error(clash, 409, "ROLE_NAME_TAKEN").await;
    assert_eq!(delete(app, &path, token).await.status(), 204);
    expect_error(delete(app, &path, token).await, 404, "NOT_FOUND").await;
    expect_error(put(app, &path, token, json!({ "name": "x", "permissions": [] })).await, 404, "NOT_FOUND")
        .await;
    expect_error(delete(app, "/api/v1/admin/roles/not-a-uuid", token).await, 404, "NOT_FOUND").await;

    // Every change is in the actor's trail with its before and after.
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=50", token).await.json().await.unwrap();
    let items = activity["items"].as_array().unwrap();
    let updated = items.iter().find(|i| i["action"] == "admin.role.updated").expect("the update is audited");
    assert_eq!(updated["details"]["before"]["name"], "auditor", "{updated}");
    assert_eq!(updated["details"]["after"]["name"], "reviewer");
    assert_eq!(updated["details"]["after"]["permissions"], json!(["audit:read"]));
    for action in ["admin.role.created", "admin.role.deleted"] {
        assert!(items.iter().any(|i| i["action"] == action), "{action} missing");
    }
}

/// Each admin route refuses a caller without its permission: 403, audited
/// with the permission and the route.
#[tokio::test]
async fn every_admin_route_refuses_callers_without_its_permission() {
    let app = spawn_admin_app(&[]).await;
    let ada = app.signed_in("ada@example.com").await;
    let token = str_of(&ada, "access_token");
    let some_id = uuid::Uuid::new_v4();
    let routes: [(reqwest::Method, String, Option<Value>, &str); 13] = [
        (reqwest::Method::GET, "/api/v1/admin/audit-logs".into(), None, "audit:read"),
        (reqwest::Method::GET, "/api/v1/admin/users".into(), None, "users:read"),
        (reqwest::Method::GET, format!("/api/v1/admin/users/{some_id}"), None, "users:read"),
        (reqwest::Method::POST, format!("/api/v1/admin/users/{some_id}/lock"), None, "users:lock"),
        (reqwest::Method::POST, format!("/api/v1/admin/users/{some_id}/unlock"), None, "users:lock"),
        (reqwest::Method::DELETE, format!("/api/v1/admin/users/{some_id}/sessions"), None, "users:lock"),
        (reqwest::Method::GET, "/api/v1/admin/roles".into(), None, "roles:read"),
        (
            reqwest::Method::POST,
            "/api/v1/admin/roles".into(),
            Some(json!({ "name": "x", "permissions": [] })),
            "roles:write",
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/admin/roles/{some_id}"),
            Some(json!({ "name": "x", "permissions": [] })),
            "roles:write",
        ),
        (reqwest::Method::DELETE, format!("/api/v1/admin/roles/{some_id}"), None, "roles:write"),
        (
            reqwest::Method::PUT,
            format!("/api/v1/admin/users/{some_id}/roles"),
            Some(json!({ "roles": ["admin"] })),
            "roles:assign",
        ),
        (reqwest::Method::GET, "/api/v1/admin/queues".into(), None, "queues:read"),
        (
            reqwest::Method::POST,
            format!("/api/v1/admin/queues/mail/dead/{some_id}/retry"),
            None,
            "queues:write",
        ),
    ];
    for (method, path, body, _) in &routes {
        let res = send(&app, method.clone(), path, token, body.clone()).await;
        expect_error(res, 403, "FORBIDDEN").await;
        let res = app.client.request(method.clone(), app.url(path)).send().await.unwrap();
        expect_error(res, 401, "UNAUTHORIZED").await;
    }
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=100", token).await.json().await.unwrap();
    let denied: Vec<&Value> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "security.access.denied")
        .collect();
    for (_, path, _, permission) in &routes {
        let found = denied.iter().any(|d| {
            d["details"]["permission"] == *permission
                && path.starts_with(d["details"]["route"].as_str().unwrap().split('{').next().unwrap())
        });
        assert!(found, "{permission} on {path} not audited: {denied:?}");
    }
    // A repeated refusal is audited once (a flood cannot fill the trail).
    for _ in 0..3 {
        app.get_auth("/api/v1/admin/roles", token).await;
    }
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=100", token).await.json().await.unwrap();
    let again = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "security.access.denied" && i["details"]["permission"] == "roles:read")
        .count();
    assert_eq!(again, 1);
}

/// Permissions are cached, yet a change shows on the very next request:
/// granting, narrowing a role, and deleting it.
#[tokio::test]
async fn permission_changes_apply_on_the_next_request() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let admin_token = str_of(&admin, "access_token");
    let ada = app.signed_in("ada@example.com").await;
    let ada_token = str_of(&ada, "access_token");
    let ada_id = user_id(&app, ada_token).await;

    // Cached as "user" now.
    expect_error(app.get_auth("/api/v1/admin/queues", ada_token).await, 403, "FORBIDDEN").await;
    let res = app
        .post_auth(
            "/api/v1/admin/roles",
            admin_token,
            &json!({ "name": "operator", "permissions": ["queues:*"] }),
        )
        .await;
    let operator: Value = res.json().await.unwrap();
    let roles_path = format!("/api/v1/admin/users/{ada_id}/roles");
    let res = put(&app, &roles_path, admin_token, json!({ "roles": ["user", "operator"] })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["operator", "user"]));
    assert_eq!(app.get_auth("/api/v1/admin/queues", ada_token).await.status(), 200, "granted at once");

    let path = format!("/api/v1/admin/roles/{}", str_of(&operator, "id"));
    put(&app, &path, admin_token, json!({ "name": "operator", "permissions": ["queues:write"] })).await;
    expect_error(app.get_auth("/api/v1/admin/queues", ada_token).await, 403, "FORBIDDEN").await;
    put(&app, &path, admin_token, json!({ "name": "operator", "permissions": ["queues:read"] })).await;
    assert_eq!(app.get_auth("/api/v1/admin/queues", ada_token).await.status(), 200);
    delete(&app, &path, admin_token).await;
    expect_error(app.get_auth("/api/v1/admin/queues", ada_token).await, 403, "FORBIDDEN").await;

    // Without the user role, no files either.
    assert_eq!(app.get_auth("/api/v1/files", ada_token).await.status(), 200);
    put(&app, &roles_path, admin_token, json!({ "roles": [] })).await;
    expect_error(app.get_auth("/api/v1/files", ada_token).await, 403, "FORBIDDEN").await;

    // The change is in the admin's trail, with the target and before/after.
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=50", admin_token).await.json().await.unwrap();
    let changed = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "admin.user.roles_changed")
        .unwrap();
    assert_eq!(changed["details"]["target_user_id"], ada_id.as_str());
    assert_eq!(
        changed["details"]["before"],
        json!(["user"]),
        "the deleted operator role went with its assignments"
    );
    assert_eq!(changed["details"]["after"], json!([]));
}

#[tokio::test]
async fn assignments_name_existing_roles_and_users() {
    let app = spawn_admin_app(&[]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    let ada = app.signed_in("ada@example.com").await;
    let ada_id = user_id(&app, str_of(&ada, "access_token")).await;

    let res = put(
        &app,
        &format!("/api/v1/admin/users/{ada_id}/roles"),
        token,
        json!({ "roles": ["user", "wizard"] }),
    )
    .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "roles[1]");
    let nobody = format!("/api/v1/admin/users/{}/roles", uuid::Uuid::new_v4());
    expect_error(put(&app, &nobody, token, json!({ "roles": ["user"] })).await, 404, "NOT_FOUND").await;
    // An admin cannot demote themselves.
    let me = user_id(&app, token).await;
    let res =
        put(&app, &format!("/api/v1/admin/users/{me}/roles"), token, json!({ "roles": ["user"] })).await;
    expect_error(res, 409, "ROLE_PROTECTED").await;
    assert_eq!(app.get_auth("/api/v1/admin/roles", token).await.status(), 200);
}

/// The bootstrap password meets the policy, or the server does not start.
#[tokio::test]
async fn a_weak_bootstrap_password_stops_start_up() {
    let mut vars: std::collections::HashMap<String, String> =
        base_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    vars.insert("BOOTSTRAP_ADMIN_EMAIL".into(), "boss@example.com".into());
    vars.insert("BOOTSTRAP_ADMIN_PASSWORD".into(), "password".into());
    let config = portcullis::config::Config::from_lookup(&move |n| vars.get(n).cloned()).unwrap();
    let Err(error) = portcullis::wiring::build(&config, Default::default()).await else {
        panic!("a weak bootstrap password must stop start-up");
    };
    let message = error.to_string();
    assert!(message.contains("BOOTSTRAP_ADMIN_PASSWORD") || message.contains("password policy"), "{message}");
}
