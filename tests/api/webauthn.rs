//! Passkeys and security keys over HTTP, with the software authenticators of
//! webauthn-authenticator-rs playing the browser and the device: registering,
//! signing in with a passkey (no password), a security key answering the
//! sign-in challenge, and what is refused — another origin, a cloned key, a
//! replayed ceremony, an unknown credential.

use crate::helpers::*;
use crate::mfa::{app_code, challenged, claims, enable};
use serde_json::{Value, json};
use time::Duration;
use url::Url;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;

const ORIGIN: &str = "https://app.example.com";
const CREDENTIALS: &str = "/api/v1/auth/webauthn/credentials";

async fn app() -> TestApp {
    spawn_app_with(&[
        ("RATE_LIMIT_AUTH_MAX_REQUESTS", "100"),
        ("WEBAUTHN_RP_ID", "example.com"),
        ("WEBAUTHN_RP_ORIGIN", ORIGIN),
    ])
    .await
}

fn origin(o: &str) -> Url {
    Url::parse(o).unwrap()
}

/// Registers a credential of `kind` for `token`; returns the 201 body and
/// the authenticator's raw credential id.
async fn register(
    app: &TestApp,
    token: &str,
    device: &mut impl WebauthnAuthenticator,
    kind: &str,
    name: &str,
) -> (Value, Vec<u8>) {
    let res = app.post_auth("/api/v1/auth/webauthn/register/start", token, &json!({ "kind": kind })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let start: Value = res.json().await.unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let credential = device.do_registration(origin(ORIGIN), options).unwrap();
    let raw_id = credential.raw_id.to_vec();
    let body =
        json!({ "ceremony_id": start["ceremony_id"], "kind": kind, "name": name, "credential": credential });
    let res = app.post_auth("/api/v1/auth/webauthn/register/finish", token, &body).await;
    assert_eq!(res.status(), 201);
    (res.json().await.unwrap(), raw_id)
}

/// Starts a passkey sign-in and answers it with `device` from `at`.
async fn passkey_sign_in(
    app: &TestApp,
    device: &mut SoftPasskey,
    raw_id: &[u8],
    user: &str,
    at: &str,
) -> reqwest::Response {
    let start: Value =
        app.post("/api/v1/auth/passkeys/sign-in/start", &json!({})).await.json().await.unwrap();
    let answer = discoverable_answer(device, &start["options"], raw_id, user, at);
    app.post(
        "/api/v1/auth/passkeys/sign-in/finish",
        &json!({ "ceremony_id": start["ceremony_id"], "credential": answer }),
    )
    .await
}

/// Answers `challenge` with `key`.
async fn security_key_answer(app: &TestApp, challenge: &Value, key: &mut SoftToken) -> reqwest::Response {
    let res = app
        .post(
            "/api/v1/auth/mfa/challenge/security-key",
            &json!({ "challenge_id": challenge["challenge_id"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let start: Value = res.json().await.unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let answer = key.do_authentication(origin(ORIGIN), options).unwrap();
    let body = json!({ "challenge_id": challenge["challenge_id"], "ceremony_id": start["ceremony_id"], "credential": answer });
    app.post("/api/v1/auth/mfa/challenge/security-key/finish", &body).await
}

#[tokio::test]
async fn a_passkey_is_registered_and_signs_in_without_a_password() {
    let app = app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let ada = login["user"]["id"].as_str().unwrap().to_owned();
    let mut passkey = SoftPasskey::new(true);
    let (registered, raw_id) = register(&app, token, &mut passkey, "passkey", "Laptop").await;
    assert_eq!(registered["credential"]["kind"], "passkey");
    assert_eq!(registered["credential"]["name"], "Laptop");
    assert_eq!(registered["backup_codes"], json!([]), "a passkey is no second factor");
    let mails = app.mail_to("ada@example.com", 2).await;
    assert!(mails.iter().any(|m| m.subject.contains("A passkey was added")));

    // No password; no second factor on, so tokens at once.
    let start: Value =
        app.post("/api/v1/auth/passkeys/sign-in/start", &json!({})).await.json().await.unwrap();
    let answer = discoverable_answer(&mut passkey, &start["options"], &raw_id, &ada, ORIGIN);
    let finish = json!({ "ceremony_id": start["ceremony_id"], "credential": answer });
    let res = app.post("/api/v1/auth/passkeys/sign-in/finish", &finish).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let signed_in: Value = res.json().await.unwrap();
    let access = str_of(&signed_in, "access_token");
    assert_eq!(claims(access)["amr"], json!(["hwk"]));
    assert_eq!(app.get_auth("/api/v1/auth/me", access).await.status(), 200);
    let listed: Value = app.get_auth(CREDENTIALS, token).await.json().await.unwrap();
    assert!(listed["credentials"][0]["last_used_at"].is_string(), "{listed}");
    // A ceremony is finished once.
    let res = app.post("/api/v1/auth/passkeys/sign-in/finish", &finish).await;
    expect_error(res, 401, "WEBAUTHN_CEREMONY_INVALID").await;

    // Another page under the same domain is not the configured origin.
    let res = passkey_sign_in(&app, &mut passkey, &raw_id, &ada, "https://evil.example.com").await;
    let body = expect_error(res, 401, "WEBAUTHN_REFUSED").await;
    assert_eq!(body["error"]["details"]["reason"], "wrong_origin");

    // A passkey removed from its account signs no one in.
    let bob = app.signed_in("bob@example.com").await;
    let bob_token = str_of(&bob, "access_token");
    let mut phone = SoftPasskey::new(true);
    let (registered, phone_id) = register(&app, bob_token, &mut phone, "passkey", "Phone").await;
    let url = format!("{CREDENTIALS}/{}", registered["credential"]["id"].as_str().unwrap());
    let res = app.delete_auth(&url, bob_token).await;
    assert_eq!(res.status(), 204);
    let res = passkey_sign_in(&app, &mut phone, &phone_id, bob["user"]["id"].as_str().unwrap(), ORIGIN).await;
    let body = expect_error(res, 401, "WEBAUTHN_REFUSED").await;
    assert_eq!(body["error"]["details"]["reason"], "unknown_credential");
}

#[tokio::test]
async fn a_passkey_sign_in_still_asks_for_the_second_factor() {
    let app = app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let ada = login["user"]["id"].as_str().unwrap().to_owned();
    let mut passkey = SoftPasskey::new(true);
    let (_, raw_id) = register(&app, token, &mut passkey, "passkey", "Laptop").await;
    let (uri, _) = enable(&app, token).await;
    let res = passkey_sign_in(&app, &mut passkey, &raw_id, &ada, ORIGIN).await;
    assert_eq!(res.status(), 200);
    let challenge: Value = res.json().await.unwrap();
    assert_eq!(challenge["mfa_required"], true, "{challenge}");
    let res = app
        .post("/api/v1/auth/mfa/challenge", &json!({ "challenge_id": challenge["challenge_id"], "method": "totp", "code": app_code(&app, &uri) }))
        .await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&signed_in, "access_token"))["amr"], json!(["hwk", "otp", "mfa"]));
}

#[tokio::test]
async fn a_security_key_answers_the_challenge_and_a_clone_of_it_is_caught() {
    let app = app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let (mut key, _) = SoftToken::new(true).unwrap();
    let (registered, _) = register(&app, token, &mut key, "security_key", "Blue key").await;
    assert_eq!(registered["credential"]["kind"], "security_key");
    let codes = registered["backup_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10, "the first second factor brings backup codes");
    let status: Value = app.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(status["methods"], json!(["security_key", "backup_code"]));
    assert_eq!(status["security_keys"], 1);
    // Someone copies the key (its secret and its counter) before it is used.
    let mut clone = SoftToken::from_cbor(&key.to_cbor().unwrap()).unwrap();

    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(challenge["methods"], json!(["security_key", "backup_code"]));
    let res = security_key_answer(&app, &challenge, &mut key).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&signed_in, "access_token"))["amr"], json!(["pwd", "hwk", "mfa"]));

    // The clone signs with a counter the original has used: refused.
    let challenge = challenged(&app, "ada@example.com").await;
    let res = security_key_answer(&app, &challenge, &mut clone).await;
    let body = expect_error(res, 401, "WEBAUTHN_REFUSED").await;
    assert_eq!(body["error"]["details"]["reason"], "counter_went_back");
    // The original still answers.
    assert_eq!(security_key_answer(&app, &challenge, &mut key).await.status(), 200);

    // A ceremony begun for one challenge answers no other.
    let first = challenged(&app, "ada@example.com").await;
    let second = challenged(&app, "ada@example.com").await;
    let res = app
        .post("/api/v1/auth/mfa/challenge/security-key", &json!({ "challenge_id": first["challenge_id"] }))
        .await;
    let start: Value = res.json().await.unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let answer = key.do_authentication(origin(ORIGIN), options).unwrap();
    let body = json!({ "challenge_id": second["challenge_id"], "ceremony_id": start["ceremony_id"], "credential": answer });
    let res = app.post("/api/v1/auth/mfa/challenge/security-key/finish", &body).await;
    expect_error(res, 401, "WEBAUTHN_CEREMONY_INVALID").await;
    // An unknown challenge begins nothing.
    let res = app.post("/api/v1/auth/mfa/challenge/security-key", &json!({ "challenge_id": "nope" })).await;
    expect_error(res, 401, "MFA_CHALLENGE_INVALID").await;
}

#[tokio::test]
async fn credentials_are_renamed_and_removed_with_a_recent_sign_in() {
    let app = app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let (mut key, _) = SoftToken::new(true).unwrap();
    let (registered, _) = register(&app, token, &mut key, "security_key", "Blue key").await;
    let url = format!("{CREDENTIALS}/{}", registered["credential"]["id"].as_str().unwrap());

    let rename = |name: &'static str| {
        app.client.patch(app.url(&url)).bearer_auth(token).json(&json!({ "name": name })).send()
    };
    assert_eq!(rename("  Red key ").await.unwrap().status(), 204);
    let listed: Value = app.get_auth(CREDENTIALS, token).await.json().await.unwrap();
    assert_eq!(listed["credentials"][0]["name"], "Red key");
    expect_error(rename("   ").await.unwrap(), 400, "VALIDATION_ERROR").await;
    let bob = app.signed_in("bob@example.com").await;
    let res = app
        .client
        .patch(app.url(&url))
        .bearer_auth(str_of(&bob, "access_token"))
        .json(&json!({ "name": "mine" }))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;

    // Six minutes on: removing (and adding) needs a fresh sign-in.
    app.clock.advance(Duration::minutes(6));
    let res = app.delete_auth(&url, token).await;
    expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;
    let res =
        app.post_auth("/api/v1/auth/webauthn/register/start", token, &json!({ "kind": "passkey" })).await;
    expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;
    let res = app.post_auth("/api/v1/auth/reauthenticate", token, &json!({ "password": PASSWORD })).await;
    let fresh: Value = res.json().await.unwrap();
    let fresh = str_of(&fresh, "access_token");
    let res = app.delete_auth(&url, fresh).await;
    assert_eq!(res.status(), 204);
    let listed: Value = app.get_auth(CREDENTIALS, fresh).await.json().await.unwrap();
    assert_eq!(listed["credentials"], json!([]));
    // With the key gone, the password alone signs in again.
    let res: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert!(res["access_token"].is_string(), "{res}");
    let mails = app.mail_to("ada@example.com", 3).await;
    assert!(mails.iter().any(|m| m.subject.contains("was removed")));
    // Garbage is refused plainly.
    let res =
        app.post_auth("/api/v1/auth/webauthn/register/start", fresh, &json!({ "kind": "passkey" })).await;
    let start: Value = res.json().await.unwrap();
    let body = json!({ "ceremony_id": start["ceremony_id"], "kind": "passkey", "credential": { "id": 1 } });
    let res = app.post_auth("/api/v1/auth/webauthn/register/finish", fresh, &body).await;
    let body = expect_error(res, 401, "WEBAUTHN_REFUSED").await;
    assert_eq!(body["error"]["details"]["reason"], "malformed");
}
