//! The pages of the mailed links: forms that work without JavaScript, under a
//! strict CSP, changing nothing until submitted.

use crate::helpers::*;
use serde_json::json;

fn token_after<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html.find(marker).map(|i| i + marker.len()).expect("marker in page");
    html[start..].split('<').next().unwrap()
}

async fn form_post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).form(fields).send().await.unwrap()
}

#[tokio::test]
async fn verification_page_confirms_only_when_submitted() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let token = link_token(&app.mail_to("ada@example.com", 1).await[0]);

    let res = app.client.get(app.url(&format!("/verify-email?token={token}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"), "{csp}");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/verify-email\">") && !html.contains("<script"),
        "{html}"
    );
    // Opening the page (a mail scanner prefetching) changed nothing.
    let login: serde_json::Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["user"]["email_verified"], false);

    let res = form_post(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("ada@example.com is confirmed"));
    let res = form_post(&app, "/verify-email", &[("token", &token)]).await;
    assert_eq!(res.status(), 400, "a link works once");
    assert!(res.text().await.unwrap().contains("not valid"));
}

#[tokio::test]
async fn reset_page_shows_policy_errors_then_changes_the_password() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    app.post("/api/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 2).await;
    let token = link_token(mails.iter().find(|m| m.subject.contains("Reset")).unwrap());

    let html = app.client.get(app.url(&format!("/reset-password?token={token}"))).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("<label for=\"new_password\">New password</label>"), "{html}");
    assert!(html.contains("autocomplete=\"new-password\""));

    let res = form_post(&app, "/reset-password", &[("token", &token), ("new_password", "short")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("at least 12 characters"), "{html}");

    let res =
        form_post(&app, "/reset-password", &[("token", &token), ("new_password", "copper meadow lantern")])
            .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Password changed"));
    assert_eq!(app.login("ada@example.com", "copper meadow lantern").await.status(), 200);
}

#[tokio::test]
async fn magic_link_page_signs_in() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    app.post("/api/v1/auth/magic-link", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 2).await;
    let token = link_token(mails.iter().find(|m| m.subject.contains("sign-in link")).unwrap());
    let res = form_post(&app, "/magic-link", &[("token", &token)]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let access = token_after(&html, "<code id=\"access-token\">");
    assert_eq!(app.get_auth("/api/v1/auth/me", access).await.status(), 200);
}

#[tokio::test]
async fn pages_refuse_cross_site_posts_and_missing_tokens() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/verify-email"))
        .header("origin", "http://evil.example")
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "FORBIDDEN").await;
    let res = app
        .client
        .post(app.url("/reset-password"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", "t"), ("new_password", "p")])
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "FORBIDDEN").await;
    let res = app.client.get(app.url("/magic-link")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = app.client.delete(app.url("/verify-email")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, POST");
    expect_error(res, 405, "METHOD_NOT_ALLOWED").await;
}
