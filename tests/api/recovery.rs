//! Email verification, password reset and magic links, end to end through the
//! job queue, the worker and the in-memory outbox.

use crate::helpers::*;
use serde_json::{Value, json};
use time::Duration;

#[tokio::test]
async fn registration_mails_a_verification_link() {
    let app = spawn_app().await;
    let registered: Value = app.register("ada@example.com").await.json().await.unwrap();
    assert_eq!(registered["user"]["email_verified"], false);
    let mail = &app.mail_to("ada@example.com", 1).await[0];
    assert!(mail.subject.contains("confirm your email"), "{}", mail.subject);
    assert!(mail.text.contains("/verify-email?token=") && mail.html.contains("/verify-email?token="));
    let token = link_token(mail);

    let res = app.post("/api/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email_verified"], true);
    expect_error(
        app.post("/api/v1/auth/verify-email", &json!({ "token": token })).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    let login: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["user"]["email_verified"], true);
    let activity =
        app.get_auth("/api/v1/users/me/activity", str_of(&login, "access_token")).await.text().await.unwrap();
    assert!(activity.contains("user.email.verified"));
    assert!(!activity.contains(&token), "tokens never reach the audit trail");
}

#[tokio::test]
async fn resending_supersedes_the_old_link_and_reveals_nothing() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let first = link_token(&app.mail_to("ada@example.com", 1).await[0]);
    let res = app.post("/api/v1/auth/verify-email/resend", &json!({ "email": "ADA@example.com" })).await;
    assert_eq!(res.status(), 202);
    let accepted: Value = res.json().await.unwrap();
    let second = link_token(&app.mail_to("ada@example.com", 2).await[1]);
    assert_ne!(first, second);
    expect_error(
        app.post("/api/v1/auth/verify-email", &json!({ "token": first })).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    assert_eq!(app.post("/api/v1/auth/verify-email", &json!({ "token": second })).await.status(), 200);

    // Unknown and already-verified addresses get the same answer, and no mail.
    let res = app.post("/api/v1/auth/verify-email/resend", &json!({ "email": "nobody@example.com" })).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap(), accepted);
    app.no_mail_to("nobody@example.com").await;
}

#[tokio::test]
async fn verification_links_expire_after_a_day() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let token = link_token(&app.mail_to("ada@example.com", 1).await[0]);
    app.clock.advance(Duration::hours(24));
    expect_error(
        app.post("/api/v1/auth/verify-email", &json!({ "token": token })).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn unverified_users_may_log_in_unless_configured_otherwise() {
    let app = spawn_app_with(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    app.register("ada@example.com").await;
    expect_error(app.login("ada@example.com", PASSWORD).await, 403, "EMAIL_NOT_VERIFIED").await;
    let token = link_token(&app.mail_to("ada@example.com", 1).await[0]);
    app.post("/api/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn password_reset_end_to_end() {
    let app = spawn_app().await;
    let session = app.signed_in("ada@example.com").await;

    // Unknown addresses: same answer, no mail.
    let unknown = app.post("/api/v1/auth/password/forgot", &json!({ "email": "nobody@example.com" })).await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    let known = app.post("/api/v1/auth/password/forgot", &json!({ "email": "Ada@Example.com" })).await;
    assert_eq!(known.status(), 202);
    assert_eq!(known.json::<Value>().await.unwrap(), unknown);
    app.no_mail_to("nobody@example.com").await;

    let mails = app.mail_to("ada@example.com", 2).await;
    let reset = mails.iter().find(|m| m.subject.contains("Reset")).expect("a reset mail");
    let token = link_token(reset);

    // The policy is checked before the token is used up.
    let weak = app
        .post("/api/v1/auth/password/reset", &json!({ "token": token, "new_password": "password1" }))
        .await;
    expect_error(weak, 400, "VALIDATION_ERROR").await;

    let new_password = "Velvet-Harbor-37#";
    let res = app
        .post("/api/v1/auth/password/reset", &json!({ "token": token, "new_password": new_password }))
        .await;
    assert_eq!(res.status(), 204);
    expect_error(
        app.post("/api/v1/auth/password/reset", &json!({ "token": token, "new_password": new_password }))
            .await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    // Every session is gone; only the new password works.
    expect_error(
        app.get_auth("/api/v1/auth/me", str_of(&session, "access_token")).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    expect_error(app.refresh(str_of(&session, "refresh_token")).await, 401, "INVALID_TOKEN").await;
    expect_error(app.login("ada@example.com", PASSWORD).await, 401, "INVALID_CREDENTIALS").await;
    let login: Value = app.login("ada@example.com", new_password).await.json().await.unwrap();

    let alert = app.mail_to("ada@example.com", 3).await;
    assert!(alert.iter().any(|m| m.subject.contains("Your password was reset")));
    let activity = app.get_auth("/api/v1/users/me/activity?limit=100", str_of(&login, "access_token")).await;
    let activity = activity.text().await.unwrap();
    assert!(
        activity.contains("auth.password.reset_requested") && activity.contains("\"auth.password.reset\"")
    );
    assert!(!activity.contains(&token));
}

#[tokio::test]
async fn reset_links_expire_after_thirty_minutes() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    app.post("/api/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 2).await;
    let token = link_token(mails.iter().find(|m| m.subject.contains("Reset")).unwrap());
    app.clock.advance(Duration::minutes(30));
    let res = app
        .post("/api/v1/auth/password/reset", &json!({ "token": token, "new_password": "Velvet-Harbor-37#" }))
        .await;
    expect_error(res, 401, "TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn forgot_password_is_rate_limited_per_email() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    for _ in 0..2 {
        assert_eq!(
            app.post("/api/v1/auth/password/forgot", &json!({ "email": "x@example.com" })).await.status(),
            202
        );
    }
    let res = app.post("/api/v1/auth/password/forgot", &json!({ "email": "x@example.com" })).await;
    expect_error(res, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn magic_link_signs_in_once() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let res = app.post("/api/v1/auth/magic-link", &json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);
    let mails = app.mail_to("ada@example.com", 2).await;
    let link = mails.iter().find(|m| m.subject.contains("sign-in link")).expect("a magic link");
    let token = link_token(link);

    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": token })).await;
    assert_eq!(res.status(), 200);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["user"]["email_verified"], true, "the link proved the mailbox");
    assert_eq!(app.get_auth("/api/v1/auth/me", str_of(&login, "access_token")).await.status(), 200);
    expect_error(
        app.post("/api/v1/auth/magic-link/verify", &json!({ "token": token })).await,
        401,
        "INVALID_TOKEN",
    )
    .await;

    assert_eq!(
        app.post("/api/v1/auth/magic-link", &json!({ "email": "nobody@example.com" })).await.status(),
        202
    );
    app.no_mail_to("nobody@example.com").await;
}

#[tokio::test]
async fn magic_links_expire_after_their_configured_ttl() {
    let app = spawn_app_with(&[("MAGIC_LINK_TTL", "15m")]).await;
    app.register("ada@example.com").await;
    app.post("/api/v1/auth/magic-link", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 2).await;
    let token = link_token(mails.iter().find(|m| m.subject.contains("sign-in link")).unwrap());
    app.clock.advance(Duration::minutes(15));
    expect_error(
        app.post("/api/v1/auth/magic-link/verify", &json!({ "token": token })).await,
        401,
        "TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn a_login_from_a_new_address_sends_a_security_alert() {
    let app = spawn_app_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    app.register("ada@example.com").await;
    let login = |ip: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
    };
    // Registration came from 127.0.0.1 (no header): the first login from there is quiet.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    assert_eq!(login("203.0.113.77").await.unwrap().status(), 200);
    let mails = app.mail_to("ada@example.com", 2).await;
    assert!(mails[1].subject.contains("New sign-in"), "{}", mails[1].subject);
    assert!(mails[1].text.contains("203.0.113.77"));
    // The same address again is not new any more.
    assert_eq!(login("203.0.113.77").await.unwrap().status(), 200);
    app.no_mail_to("someone-else@example.com").await;
    assert_eq!(app.outbox.as_ref().unwrap().to("ada@example.com").len(), 2);
}

/// Hardening #16: after more than 50 token refreshes, a login from the usual
/// address is still not "new".
#[tokio::test]
async fn many_refreshes_do_not_make_the_usual_address_new() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let mut refresh = str_of(&login, "refresh_token").to_owned();
    for _ in 0..60 {
        let body: serde_json::Value = app.refresh(&refresh).await.json().await.unwrap();
        refresh = str_of(&body, "refresh_token").to_owned();
    }
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    app.no_mail_to("nobody@example.com").await;
    let mails = app.outbox.as_ref().unwrap().to("ada@example.com");
    assert_eq!(
        mails.len(),
        1,
        "only the welcome mail: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn password_change_sends_a_security_alert() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            str_of(&login, "access_token"),
            &json!({ "current_password": PASSWORD, "new_password": "Velvet-Harbor-37#" }),
        )
        .await;
    assert_eq!(res.status(), 204);
    let mails = app.mail_to("ada@example.com", 2).await;
    assert!(mails[1].subject.contains("Your password was changed"));
}

/// Hardening #9: pre-account takeover. An attacker registers the victim's
/// address with a password of their own and keeps a session; when the victim
/// proves the address by a magic link, the attacker's session, tokens and
/// password stop working.
#[tokio::test]
async fn proving_the_address_ends_what_the_unverified_past_set_up() {
    let app = spawn_app().await;
    let attacker = app.signed_in("victim@example.com").await;
    let (attacker_access, attacker_refresh) =
        (str_of(&attacker, "access_token").to_owned(), str_of(&attacker, "refresh_token").to_owned());

    let res = app.post("/api/v1/auth/magic-link", &json!({ "email": "victim@example.com" })).await;
    assert_eq!(res.status(), 202);
    let mails = app.mail_to("victim@example.com", 2).await;
    let magic = mails.iter().find(|m| m.subject.contains("sign-in link")).unwrap();
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": link_token(magic) })).await;
    assert_eq!(res.status(), 200);
    let victim: serde_json::Value = res.json().await.unwrap();

    expect_error(app.get_auth("/api/v1/auth/me", &attacker_access).await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh(&attacker_refresh).await, 401, "INVALID_TOKEN").await;
    expect_error(app.login("victim@example.com", PASSWORD).await, 401, "INVALID_CREDENTIALS").await;
    let me = app.get_auth("/api/v1/auth/me", str_of(&victim, "access_token")).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["email_verified"], true);

    // A verified account's magic-link sign-in changes nothing else.
    let res = app.post("/api/v1/auth/magic-link", &json!({ "email": "victim@example.com" })).await;
    assert_eq!(res.status(), 202);
    let mails = app.mail_to("victim@example.com", 3).await;
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": link_token(&mails[2]) })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get_auth("/api/v1/auth/me", str_of(&victim, "access_token")).await.status(), 200);
}

/// ASVS review #12: a name chosen on an unverified account never reaches the
/// mailbox's owner; bidi and separator characters are refused outright.
#[tokio::test]
async fn names_of_unverified_accounts_stay_out_of_mail() {
    let app = spawn_app().await;
    let spam = "URGENT account frozen call +1 555 0100";
    let res = app
        .post(
            "/api/v1/auth/register",
            &json!({ "email": "victim@example.com", "password": PASSWORD, "display_name": spam }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let mail = &app.mail_to("victim@example.com", 1).await[0];
    assert!(!mail.text.contains("URGENT") && !mail.html.contains("URGENT"), "{}", mail.text);
    assert!(mail.text.starts_with("Hello,"), "{}", mail.text);

    let res = app
        .post(
            "/api/v1/auth/register",
            &json!({ "email": "x@example.com", "password": PASSWORD, "display_name": "Ada\u{202E}gpj.exe" }),
        )
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["code"], "invalid_characters");
}

/// Mails the reset (or magic) link to `email` and returns its token.
async fn mailed_token(app: &TestApp, path: &str, email: &str, subject: &str, count: usize) -> String {
    assert_eq!(app.post(path, &json!({ "email": email })).await.status(), 202);
    let mails = app.mail_to(email, count).await;
    link_token(mails.iter().rev().find(|m| m.subject.contains(subject)).expect("the mailed link"))
}

/// ASVS review #3: links mailed before a credential change stop working.
#[tokio::test]
async fn pending_links_die_with_a_credential_change() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let reset = mailed_token(&app, "/api/v1/auth/password/forgot", "ada@example.com", "Reset", 2).await;
    let magic = mailed_token(&app, "/api/v1/auth/magic-link", "ada@example.com", "sign-in link", 3).await;
    let res = app
        .post_auth(
            "/api/v1/users/me/password",
            str_of(&login, "access_token"),
            &json!({ "current_password": PASSWORD, "new_password": "Velvet-Harbor-37#" }),
        )
        .await;
    assert_eq!(res.status(), 204);
    expect_error(app.reset_password(&reset, "Copper-Meadow-55%").await, 401, "INVALID_TOKEN").await;
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": magic })).await;
    expect_error(res, 401, "INVALID_TOKEN").await;

    // A reset ends a magic link mailed before it.
    let magic = mailed_token(&app, "/api/v1/auth/magic-link", "ada@example.com", "sign-in link", 5).await;
    let reset = mailed_token(&app, "/api/v1/auth/password/forgot", "ada@example.com", "Reset", 6).await;
    assert_eq!(app.reset_password(&reset, "Copper-Meadow-55%").await.status(), 204);
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": magic })).await;
    expect_error(res, 401, "INVALID_TOKEN").await;
}

/// ASVS review #6: the reset path checks strength with the account's own
/// words, like register and change; a refused password leaves the link usable.
#[tokio::test]
async fn a_reset_checks_strength_against_the_account() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let reset = mailed_token(&app, "/api/v1/auth/password/forgot", "ada@example.com", "Reset", 2).await;
    let body =
        expect_error(app.reset_password(&reset, "Ada@example.com1").await, 400, "VALIDATION_ERROR").await;
    assert!(
        body["error"]["details"].as_array().unwrap().iter().any(|d| d["field"] == "new_password"),
        "{body}"
    );
    assert_eq!(app.reset_password(&reset, "Copper-Meadow-55%").await.status(), 204);
}

/// ASVS review #4: magic links live MAGIC_LINK_TTL (10 minutes by default),
/// the method can be turned off, and a magic-link sign-in from a new place
/// sends the same alert as a password sign-in.
#[tokio::test]
async fn magic_links_are_short_lived_optional_and_alerting() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let token = mailed_token(&app, "/api/v1/auth/magic-link", "ada@example.com", "sign-in link", 2).await;
    let mail = app.mail_to("ada@example.com", 2).await;
    assert!(mail[1].text.contains("expires in 10 minutes"), "{}", mail[1].text);
    app.clock.advance(time::Duration::minutes(11));
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": token })).await;
    expect_error(res, 401, "TOKEN_EXPIRED").await;

    let token = mailed_token(&app, "/api/v1/auth/magic-link", "ada@example.com", "sign-in link", 3).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/magic-link/verify"))
        .header("x-forwarded-for", "203.0.113.77")
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mails = app.mail_to("ada@example.com", 4).await;
    assert!(mails[3].subject.contains("New sign-in"), "{}", mails[3].subject);
    assert!(mails[3].text.contains("203.0.113.77"));

    let off = spawn_app_with(&[("MAGIC_LINK_ENABLED", "false")]).await;
    for path in ["/api/v1/auth/magic-link", "/api/v1/auth/magic-link/verify"] {
        expect_error(
            off.post(path, &json!({ "email": "ada@example.com", "token": "t" })).await,
            404,
            "NOT_FOUND",
        )
        .await;
    }
}
