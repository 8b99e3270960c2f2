//! Second factors over HTTP: enrolling an authenticator app (RFC 6238 codes
//! computed here with totp-rs from the otpauth URI, as an app would), backup
//! codes, the challenge every first factor ends in, the code lock, step-up
//! and turning the factor off.

use crate::helpers::*;
use base64::Engine;
use portcullis_application::ports::Clock;
use serde_json::{Value, json};
use time::Duration;

const MFA: &str = "/api/v1/auth/mfa";
const CHALLENGE: &str = "/api/v1/auth/mfa/challenge";

/// What an authenticator app shows for `uri` at the app's (manual) clock.
pub(crate) fn app_code(app: &TestApp, uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url_unchecked(uri).expect("an otpauth URI");
    totp.generate(app.clock.now().unix_timestamp() as u64)
}

/// Turns the authenticator app on for the signed-in `token`; returns (the
/// otpauth URI, the backup codes).
pub(crate) async fn enable(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let res = app.post_auth("/api/v1/auth/mfa/totp/setup", token, &json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let setup: Value = res.json().await.unwrap();
    let uri = str_of(&setup, "otpauth_uri").to_owned();
    let res =
        app.post_auth("/api/v1/auth/mfa/totp/verify", token, &json!({ "code": app_code(app, &uri) })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes =
        body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    // The confirming code's step is spent: the next code comes a step later.
    app.clock.advance(Duration::seconds(30));
    (uri, codes)
}

/// Logs in with the password; returns the challenge (asserting there is one).
pub(crate) async fn challenged(app: &TestApp, email: &str) -> Value {
    let res = app.login(email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "no tokens yet: {body}"
    );
    body
}

pub(crate) async fn answer(app: &TestApp, challenge: &Value, method: &str, code: &str) -> reqwest::Response {
    app.post(CHALLENGE, &json!({ "challenge_id": challenge["challenge_id"], "method": method, "code": code }))
        .await
}

pub(crate) fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

/// Asks for a magic link for ada and returns its token.
async fn sign_in_link(app: &TestApp) -> String {
    let res = app.post("/api/v1/auth/magic-link", &json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);
    for _ in 0..500 {
        let mails = app.outbox.as_ref().unwrap().to("ada@example.com");
        if let Some(mail) = mails.iter().rev().find(|m| m.subject.contains("sign-in link")) {
            return link_token(mail);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no sign-in mail");
}

pub(crate) fn generous_limits() -> [(&'static str, &'static str); 1] {
    [("RATE_LIMIT_AUTH_MAX_REQUESTS", "100")]
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_and_sign_in_then_needs_its_code() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    assert_eq!(claims(token)["amr"], json!(["pwd"]));
    let status: Value = app.get_auth(MFA, token).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({
            "totp_enabled": false, "totp_pending": false, "sms_enabled": false, "sms_pending": false,
            "phone": null, "security_keys": 0, "backup_codes_remaining": 0, "methods": []
        })
    );

    // Enrolment: pending until a code confirms it; a wrong code changes nothing.
    let setup: Value =
        app.post_auth("/api/v1/auth/mfa/totp/setup", token, &json!({})).await.json().await.unwrap();
    let uri = str_of(&setup, "otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/Portcullis:ada%40example.com?secret="), "{uri}");
    assert!(uri.contains(str_of(&setup, "secret")));
    assert!(str_of(&setup, "qr_svg").contains("<svg"));
    let status: Value = app.get_auth(MFA, token).await.json().await.unwrap();
    assert_eq!(status["totp_pending"], true);
    let wrong = if app_code(&app, uri) == "000000" { "111111" } else { "000000" };
    let res = app.post_auth("/api/v1/auth/mfa/totp/verify", token, &json!({ "code": wrong })).await;
    expect_error(res, 401, "INVALID_CODE").await;
    let code = app_code(&app, uri);
    let res = app.post_auth("/api/v1/auth/mfa/totp/verify", token, &json!({ "code": code })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let codes: Value = res.json().await.unwrap();
    assert_eq!(codes["backup_codes"].as_array().unwrap().len(), 10);
    let status: Value = app.get_auth(MFA, token).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({
            "totp_enabled": true, "totp_pending": false, "sms_enabled": false, "sms_pending": false,
            "phone": null, "security_keys": 0, "backup_codes_remaining": 10, "methods": ["totp", "backup_code"]
        })
    );
    let res = app.post_auth("/api/v1/auth/mfa/totp/setup", token, &json!({})).await;
    expect_error(res, 409, "MFA_ALREADY_ENABLED").await;
    let mails = app.mail_to("ada@example.com", 2).await;
    assert!(mails.iter().any(|m| m.subject.contains("Two-step sign-in is on")));

    // The password alone now ends in a challenge.
    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(challenge["methods"], json!(["totp", "backup_code"]));
    assert_eq!(challenge["expires_in"], 300);
    // The code that confirmed enrolment is spent (same step): refused.
    expect_error(answer(&app, &challenge, "totp", &code).await, 401, "INVALID_CODE").await;
    app.clock.advance(Duration::seconds(30));
    let res = answer(&app, &challenge, "totp", &app_code(&app, uri)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let signed_in: Value = res.json().await.unwrap();
    let access = str_of(&signed_in, "access_token");
    let c = claims(access);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["auth_time"], app.clock.now().unix_timestamp());
    assert_eq!(app.get_auth("/api/v1/auth/me", access).await.status(), 200);
    // A challenge is answered once.
    app.clock.advance(Duration::seconds(30));
    expect_error(answer(&app, &challenge, "totp", &app_code(&app, uri)).await, 401, "MFA_CHALLENGE_INVALID")
        .await;
    // The refreshed token keeps what the sign-in proved.
    let refreshed: Value = app.refresh(str_of(&signed_in, "refresh_token")).await.json().await.unwrap();
    assert_eq!(claims(str_of(&refreshed, "access_token"))["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn backup_codes_work_once_and_are_replaced_with_a_current_code() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let (uri, codes) = enable(&app, token).await;
    assert!(codes.iter().all(|c| c.len() == 19 && c.matches('-').count() == 3), "{codes:?}");

    // Typed in capitals with spaces: the same code.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let challenge = challenged(&app, "ada@example.com").await;
    let res = answer(&app, &challenge, "backup_code", &typed).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&signed_in, "access_token"))["amr"], json!(["pwd", "otp", "mfa"]));
    let challenge = challenged(&app, "ada@example.com").await;
    expect_error(answer(&app, &challenge, "backup_code", &codes[0]).await, 401, "INVALID_CODE").await;
    let status: Value = app.get_auth(MFA, token).await.json().await.unwrap();
    assert_eq!(status["backup_codes_remaining"], 9);

    // Regenerating needs a current app code; the old set stops working.
    let regenerate = "/api/v1/auth/mfa/backup-codes/regenerate";
    let res = app.post_auth(regenerate, token, &json!({ "code": codes[1] })).await;
    expect_error(res, 401, "INVALID_CODE").await;
    let res = app.post_auth(regenerate, token, &json!({ "code": app_code(&app, &uri) })).await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    let fresh: Vec<&str> =
        fresh["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&codes[1].as_str()));
    expect_error(answer(&app, &challenge, "backup_code", &codes[1]).await, 401, "INVALID_CODE").await;
    assert_eq!(answer(&app, &challenge, "backup_code", fresh[0]).await.status(), 200);
    let mails = app.mail_to("ada@example.com", 3).await;
    assert!(mails.iter().any(|m| m.subject.contains("New backup codes")));
}

#[tokio::test]
async fn wrong_codes_lock_the_second_factor_and_challenges_bind_their_client() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let (uri, _) = enable(&app, str_of(&login, "access_token")).await;

    // Another client (User-Agent) cannot answer; an expired challenge is gone.
    let challenge = challenged(&app, "ada@example.com").await;
    let res = app
        .client
        .post(app.url(CHALLENGE))
        .header("user-agent", "somebody-else/1.0")
        .json(&json!({ "challenge_id": challenge["challenge_id"], "method": "totp", "code": app_code(&app, &uri) }))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "MFA_CHALLENGE_INVALID").await;
    let res = answer(&app, &json!({ "challenge_id": "made-up" }), "totp", "123456").await;
    expect_error(res, 401, "MFA_CHALLENGE_INVALID").await;
    app.clock.advance(Duration::minutes(6));
    expect_error(answer(&app, &challenge, "totp", &app_code(&app, &uri)).await, 401, "MFA_CHALLENGE_INVALID")
        .await;

    // Five wrong codes (the lockout threshold) lock the second factor; the
    // right code is refused while the lock lasts, and works after it.
    let challenge = challenged(&app, "ada@example.com").await;
    let right = app_code(&app, &uri);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        expect_error(answer(&app, &challenge, "totp", wrong).await, 401, "INVALID_CODE").await;
    }
    expect_error(answer(&app, &challenge, "totp", &right).await, 423, "ACCOUNT_LOCKED").await;
    let res = answer(
        &app,
        &challenge,
        "totp",
        "not a code at all, far too long to be one of ours".repeat(2).as_str(),
    )
    .await;
    expect_error(res, 400, "VALIDATION_ERROR").await;
    app.clock.advance(Duration::minutes(16));
    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(answer(&app, &challenge, "totp", &app_code(&app, &uri)).await.status(), 200);
}

#[tokio::test]
async fn turning_the_factor_off_needs_a_recent_sign_in_and_a_code() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let res = app.post_auth("/api/v1/auth/mfa/totp/verify", token, &json!({ "code": "123456" })).await;
    expect_error(res, 409, "MFA_NOT_ENABLED").await;
    let res = app.post_auth("/api/v1/auth/mfa/disable", token, &json!({ "code": "123456" })).await;
    expect_error(res, 409, "MFA_NOT_ENABLED").await;
    let (uri, codes) = enable(&app, token).await;

    // Six minutes after sign-in (the token is still valid): too long ago.
    app.clock.advance(Duration::minutes(6));
    let res =
        app.post_auth("/api/v1/auth/mfa/disable", token, &json!({ "code": app_code(&app, &uri) })).await;
    expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;

    // Step-up: exactly one proof; a wrong password is refused.
    let reauth = "/api/v1/auth/reauthenticate";
    for bad in [
        json!({}),
        json!({ "password": PASSWORD, "code": "123456" }),
        json!({ "method": "voice", "code": "1" }),
    ] {
        let res = app.post_auth(reauth, token, &bad).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    expect_error(
        app.post_auth(reauth, token, &json!({ "password": "not-the-password" })).await,
        401,
        "INVALID_CREDENTIALS",
    )
    .await;
    let res = app.post_auth(reauth, token, &json!({ "password": PASSWORD })).await;
    assert_eq!(res.status(), 200);
    let stepped: Value = res.json().await.unwrap();
    let fresh = str_of(&stepped, "access_token");
    assert_eq!(claims(fresh)["auth_time"], app.clock.now().unix_timestamp());
    assert_eq!(claims(fresh)["sid"], claims(token)["sid"], "the same session");

    // A wrong code is refused; a backup code turns the factor off.
    let res = app.post_auth("/api/v1/auth/mfa/disable", fresh, &json!({ "code": "000000-not" })).await;
    expect_error(res, 401, "INVALID_CODE").await;
    let res = app
        .post_auth("/api/v1/auth/mfa/disable", fresh, &json!({ "code": codes[2], "method": "backup_code" }))
        .await;
    assert_eq!(res.status(), 204);
    let status: Value = app.get_auth(MFA, fresh).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({
            "totp_enabled": false, "totp_pending": false, "sms_enabled": false, "sms_pending": false,
            "phone": null, "security_keys": 0, "backup_codes_remaining": 0, "methods": []
        })
    );
    let mails = app.mail_to("ada@example.com", 3).await;
    assert!(mails.iter().any(|m| m.subject.contains("Two-step sign-in is off")));
    let res = app.login("ada@example.com", PASSWORD).await;
    let body: Value = res.json().await.unwrap();
    assert!(body.get("access_token").is_some(), "no challenge any more: {body}");

    // Step-up with a code once a factor is on again.
    let (uri, _) = enable(&app, fresh).await;
    let res = app.post_auth(reauth, fresh, &json!({ "method": "totp", "code": app_code(&app, &uri) })).await;
    assert_eq!(res.status(), 200);
    let stepped: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&stepped, "access_token"))["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn a_magic_link_ends_in_the_challenge_too() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let (uri, _) = enable(&app, str_of(&login, "access_token")).await;
    let link = sign_in_link(&app).await;
    let res = app.post("/api/v1/auth/magic-link/verify", &json!({ "token": link })).await;
    assert_eq!(res.status(), 200);
    let challenge: Value = res.json().await.unwrap();
    assert_eq!(challenge["mfa_required"], true);
    let res = answer(&app, &challenge, "totp", &app_code(&app, &uri)).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&signed_in, "access_token"))["amr"], json!(["email", "otp", "mfa"]));
}

#[tokio::test]
async fn the_magic_link_page_asks_for_the_code() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let (uri, codes) = enable(&app, str_of(&login, "access_token")).await;
    let token = sign_in_link(&app).await;
    let res =
        app.client.post(app.url("/magic-link")).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("two-step sign-in") && !html.contains("access-token"), "{html}");
    let start = html.find("name=\"challenge_id\" value=\"").unwrap() + "name=\"challenge_id\" value=\"".len();
    let challenge_id = &html[start..start + html[start..].find('"').unwrap()];
    let post = |code: String| {
        app.client
            .post(app.url("/magic-link/challenge"))
            .form(&[("challenge_id", challenge_id.to_owned()), ("code", code)])
            .send()
    };
    let res =
        post("999999".replace('9', if app_code(&app, &uri) == "999999" { "8" } else { "9" })).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("That code is not valid"));
    // A backup code is told apart from an app code by its shape.
    let res = post(codes[0].clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let start = html.find("<code id=\"access-token\">").unwrap() + "<code id=\"access-token\">".len();
    let access = &html[start..start + html[start..].find('<').unwrap()];
    assert_eq!(claims(access)["amr"], json!(["email", "otp", "mfa"]));
    let res = post(app_code(&app, &uri)).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("finished already"));
}

/// A password change is sensitive: a sign-in more than REAUTH_WINDOW ago
/// must step up first.
#[tokio::test]
async fn a_password_change_needs_a_recent_sign_in() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let change = json!({ "current_password": PASSWORD, "new_password": "Velvet-Harbor-37#" });
    app.clock.advance(Duration::minutes(6));
    let res = app.post_auth("/api/v1/users/me/password", token, &change).await;
    expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;
    let stepped: Value = app
        .post_auth("/api/v1/auth/reauthenticate", token, &json!({ "password": PASSWORD }))
        .await
        .json()
        .await
        .unwrap();
    let res = app.post_auth("/api/v1/users/me/password", str_of(&stepped, "access_token"), &change).await;
    assert_eq!(res.status(), 204);
}
