//! Invitations over HTTP: invite, list, withdraw (each permission refusal),
//! the mailed single-use link, acceptance creating a signed-in account with
//! the roles or adding them to the invited, signed-in account, and the page.

use crate::helpers::*;
use reqwest::Response;
use serde_json::{Value, json};

const INVITATIONS: &str = "/api/v1/admin/invitations";
const ACCEPT: &str = "/api/v1/auth/invitations/accept";

async fn invite(app: &TestApp, token: &str, email: &str, roles: &[&str]) -> Response {
    app.post_auth(INVITATIONS, token, &json!({ "email": email, "roles": roles })).await
}

/// Invites `email` as the admin and returns (the invitation, the mailed token).
async fn invited(app: &TestApp, admin: &str, email: &str, roles: &[&str]) -> (Value, String) {
    let res = invite(app, admin, email, roles).await;
    assert_eq!(res.status(), 201);
    let invitation: Value = res.json().await.unwrap();
    (invitation, link_token(&invitation_mail(app, email).await))
}

/// The invitation mail to `email` (it may have had others before).
async fn invitation_mail(app: &TestApp, email: &str) -> portcullis_application::ports::OutgoingEmail {
    for _ in 0..500 {
        let outbox = app.outbox.as_ref().unwrap();
        if let Some(mail) = outbox.to(email).into_iter().find(|m| m.subject.contains("invited")) {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no invitation mail to {email}");
}

async fn accept(app: &TestApp, body: Value) -> Response {
    app.post(ACCEPT, &body).await
}

async fn listed(app: &TestApp, admin: &str) -> Vec<Value> {
    let res = app.get_auth(INVITATIONS, admin).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["invitations"].as_array().unwrap().clone()
}

async fn admin_token(app: &TestApp) -> String {
    str_of(&app.admin_sign_in().await, "access_token").to_owned()
}

async fn audited(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let res = app.get_auth(&format!("/api/v1/admin/audit-logs?action={action}"), admin).await;
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_invitation_creates_a_signed_in_account_with_its_roles() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let (invitation, token) = invited(&app, &admin, "grace@example.com", &["moderator"]).await;
    assert_eq!(invitation["state"], "pending");
    assert_eq!(invitation["roles"], json!(["moderator"]));
    assert_eq!(invitation["email"], "grace@example.com");
    let mail = invitation_mail(&app, "grace@example.com").await;
    assert!(mail.text.contains("/accept-invitation?token="), "{}", mail.text);
    assert!(mail.text.contains("moderator"), "{}", mail.text);

    let res = accept(
        &app,
        json!({ "token": token, "password": "Copper-Meadow-Lantern-4", "display_name": "Grace" }),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["account_created"], true);
    assert_eq!(body["roles"], json!(["moderator"]));
    assert_eq!(body["user"]["email_verified"], true, "the mailed token proved the address");
    assert_eq!(body["user"]["display_name"], "Grace");
    // Signed in, with the role's permissions at once.
    let grace = str_of(&body, "access_token");
    assert_eq!(app.get_auth("/api/v1/admin/users", grace).await.status(), 200);
    assert_eq!(app.login("grace@example.com", "Copper-Meadow-Lantern-4").await.status(), 200);
    let sessions: Value = app.get_auth("/api/v1/sessions", grace).await.json().await.unwrap();
    let current = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).cloned();
    assert_eq!(current.unwrap()["sign_in_method"], "invitation", "{sessions}");

    // Single use.
    let again = accept(&app, json!({ "token": token, "password": "Copper-Meadow-Lantern-4" })).await;
    expect_error(again, 401, "INVALID_TOKEN").await;

    let all = listed(&app, &admin).await;
    assert_eq!(all[0]["state"], "accepted");
    assert_eq!(all[0]["accepted_by"], body["user"]["id"]);
    assert_eq!(audited(&app, &admin, "admin.invitation.created").await.len(), 1);
    let accepted = audited(&app, &admin, "auth.invitation.accepted").await;
    assert_eq!(accepted[0]["details"]["roles"], json!(["moderator"]));
    assert_eq!(accepted[0]["details"]["new_account"], true);
}

#[tokio::test]
async fn each_invitation_route_needs_its_permission() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let user = app.signed_in("plain@example.com").await;
    let plain = str_of(&user, "access_token");
    expect_error(invite(&app, plain, "x@example.com", &[]).await, 403, "FORBIDDEN").await;
    expect_error(app.get_auth(INVITATIONS, plain).await, 403, "FORBIDDEN").await;
    let (invitation, _) = invited(&app, &admin, "y@example.com", &[]).await;
    let path = format!("{INVITATIONS}/{}", str_of(&invitation, "id"));
    let res = app.client.delete(app.url(&path)).bearer_auth(plain).send().await.unwrap();
    expect_error(res, 403, "FORBIDDEN").await;
    expect_error(app.client.get(app.url(INVITATIONS)).send().await.unwrap(), 401, "UNAUTHORIZED").await;

    // A recruiter may invite, but naming a role beyond `user` needs roles:assign.
    let role = json!({ "name": "recruiter", "permissions": ["invitations:*"] });
    assert_eq!(app.post_auth("/api/v1/admin/roles", &admin, &role).await.status(), 201);
    let me: Value = app.get_auth("/api/v1/auth/me", plain).await.json().await.unwrap();
    let roles_path = format!("/api/v1/admin/users/{}/roles", str_of(&me, "id"));
    let res = app
        .client
        .put(app.url(&roles_path))
        .bearer_auth(&admin)
        .json(&json!({ "roles": ["user", "recruiter"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(invite(&app, plain, "z@example.com", &["user"]).await.status(), 201);
    expect_error(invite(&app, plain, "w@example.com", &["moderator"]).await, 403, "FORBIDDEN").await;
    assert_eq!(listed(&app, plain).await.len(), 2, "the refused one was not stored");
}

#[tokio::test]
async fn bad_invitations_and_bad_acceptances_are_explained() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let res = invite(&app, &admin, "not an address", &["nonsense"]).await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "roles[0]"], "{body}");
    let res = app.get_auth(&format!("{INVITATIONS}?limit=0"), &admin).await;
    expect_error(res, 400, "VALIDATION_ERROR").await;

    let (_, token) = invited(&app, &admin, "grace@example.com", &[]).await;
    // No password, then a weak one: refused, and the token stays usable.
    let body = expect_error(accept(&app, json!({ "token": token })).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "password", "{body}");
    let weak = accept(&app, json!({ "token": token, "password": "grace@example.com" })).await;
    expect_error(weak, 400, "VALIDATION_ERROR").await;
    expect_error(accept(&app, json!({ "token": "nope", "password": PASSWORD })).await, 401, "INVALID_TOKEN")
        .await;
    expect_error(accept(&app, json!({})).await, 400, "VALIDATION_ERROR").await;
    // A bad bearer token is refused, not taken for an anonymous caller.
    let res = app
        .client
        .post(app.url(ACCEPT))
        .bearer_auth("garbage")
        .json(&json!({ "token": token, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = accept(&app, json!({ "token": token, "password": PASSWORD })).await;
    assert_eq!(res.status(), 201, "still usable after the refusals");
    assert!(!audited(&app, &admin, "auth.link.redemption_failed").await.is_empty());
}

#[tokio::test]
async fn withdrawn_and_expired_invitations_cannot_be_accepted() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let (withdrawn, withdrawn_token) = invited(&app, &admin, "gone@example.com", &[]).await;
    let path = format!("{INVITATIONS}/{}", str_of(&withdrawn, "id"));
    let res = app.client.delete(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = app.client.delete(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let res =
        app.client.delete(app.url(&format!("{INVITATIONS}/x"))).bearer_auth(&admin).send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let res = accept(&app, json!({ "token": withdrawn_token, "password": PASSWORD })).await;
    expect_error(res, 401, "INVALID_TOKEN").await;
    assert_eq!(audited(&app, &admin, "admin.invitation.revoked").await.len(), 1);

    let (_, late_token) = invited(&app, &admin, "late@example.com", &[]).await;
    app.startup_cleanups_done().await;
    app.clock.advance(time::Duration::days(7));
    let admin = admin_token(&app).await;
    let res = accept(&app, json!({ "token": late_token, "password": PASSWORD })).await;
    expect_error(res, 401, "TOKEN_EXPIRED").await;
    let states: Vec<String> =
        listed(&app, &admin).await.iter().map(|i| str_of(i, "state").to_owned()).collect();
    assert_eq!(states, ["expired", "revoked"]);
    assert!(app.login("late@example.com", PASSWORD).await.status() == 401, "no account was made");
}

#[tokio::test]
async fn an_existing_account_gets_the_roles_when_its_owner_accepts() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_token = str_of(&ada, "access_token");
    let other = app.signed_in("bob@example.com").await;
    assert_eq!(app.get_auth("/api/v1/admin/users", ada_token).await.status(), 403);
    let (_, token) = invited(&app, &admin, "ada@example.com", &["moderator"]).await;

    let anonymous = accept(&app, json!({ "token": token, "password": PASSWORD })).await;
    let body = expect_error(anonymous, 401, "UNAUTHORIZED").await;
    assert_eq!(body["error"]["details"]["reason"], "account_exists", "{body}");
    let res = app.post_auth(ACCEPT, str_of(&other, "access_token"), &json!({ "token": token })).await;
    let body = expect_error(res, 403, "FORBIDDEN").await;
    assert_eq!(body["error"]["details"]["reason"], "another_account", "{body}");

    let res = app.post_auth(ACCEPT, ada_token, &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["account_created"], false);
    assert_eq!(body["roles"], json!(["moderator"]));
    assert!(body.get("access_token").is_none(), "{body}");
    // The same token, the very next request: the new permissions apply.
    assert_eq!(app.get_auth("/api/v1/admin/users", ada_token).await.status(), 200);
    let res = app.post_auth(ACCEPT, ada_token, &json!({ "token": token })).await;
    expect_error(res, 401, "INVALID_TOKEN").await;

    // Signed in, but the address has no account: another account's invitation.
    let (_, fresh) = invited(&app, &admin, "newcomer@example.com", &[]).await;
    let res = app.post_auth(ACCEPT, ada_token, &json!({ "token": fresh, "password": PASSWORD })).await;
    expect_error(res, 403, "FORBIDDEN").await;
}

#[tokio::test]
async fn the_invitation_page_creates_the_account() {
    let app = spawn_admin_app(&[]).await;
    let admin = admin_token(&app).await;
    let (_, token) = invited(&app, &admin, "grace@example.com", &[]).await;
    let res = app.client.get(app.url(&format!("/accept-invitation?token={token}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("action=\"/accept-invitation\"") && !html.contains("<script"), "{html}");
    let post = |password: &'static str| {
        let form = [
            ("token", token.clone()),
            ("display_name", "Grace".to_owned()),
            ("password", password.to_owned()),
        ];
        app.client.post(app.url("/accept-invitation")).form(&form).send()
    };
    let res = post("short").await.unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("invitation-problems") && html.contains("value=\"Grace\""), "{html}");
    let res = post("Copper-Meadow-Lantern-4").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"access-token\""));
    assert_eq!(app.login("grace@example.com", "Copper-Meadow-Lantern-4").await.status(), 200);
    let res = post("Copper-Meadow-Lantern-4").await.unwrap();
    assert_eq!(res.status(), 400, "used once");
}
