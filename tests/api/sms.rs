//! Texted codes over HTTP: enrolling a phone, the sign-in challenge and
//! step-up by SMS, purposes, expiry, the limits per user and per number, and
//! the Twilio adapter against a local stand-in of Twilio's Messages API.

use crate::helpers::*;
use crate::mfa::{answer, app_code, challenged, claims, enable, generous_limits};
use crate::stand_ins::TwilioStandIn;
use portcullis_application::ports::{SmsError, SmsSender, TextMessage};
use portcullis_infrastructure::twilio::TwilioSms;
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;

const ADA_PHONE: &str = "+447911123456";
const SETUP: &str = "/api/v1/auth/mfa/sms/setup";
const VERIFY: &str = "/api/v1/auth/mfa/sms/verify";
const SEND: &str = "/api/v1/auth/mfa/sms/send";
const CHALLENGE_SMS: &str = "/api/v1/auth/mfa/challenge/sms";

/// The latest code texted to `number`, waiting for the `count`th text.
async fn nth_code(app: &TestApp, number: &str, count: usize) -> String {
    let texts = app.texts_to(number, count).await;
    code_in(&texts[count - 1])
}

/// Enrols `number` for the signed-in `token`; returns the backup codes.
async fn enrol_phone(app: &TestApp, token: &str, number: &str) -> Vec<String> {
    let before = app.texts.as_ref().unwrap().to(number).len();
    let res = app.post_auth(SETUP, token, &json!({ "phone": number })).await;
    assert_eq!(res.status(), 202);
    let code = nth_code(app, number, before + 1).await;
    let res = app.post_auth(VERIFY, token, &json!({ "code": code })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect()
}

fn wrong(code: &str) -> String {
    if code == "000000" { "111111".into() } else { "000000".into() }
}

#[tokio::test]
async fn a_phone_is_enrolled_with_a_texted_code_and_then_answers_sign_in() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");

    // A number must be a real one, in international form.
    for bad in ["07911 123456", "+44 7911 12", "call me", "+44 7911 123456 ext. 3"] {
        let body = expect_error(
            app.post_auth(SETUP, token, &json!({ "phone": bad })).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(body["error"]["details"][0]["field"], "phone", "{bad}: {body}");
    }
    expect_error(app.post_auth(VERIFY, token, &json!({ "code": "123456" })).await, 409, "MFA_NOT_ENABLED")
        .await;

    let res = app.post_auth(SETUP, token, &json!({ "phone": "+44 7911 123456" })).await;
    assert_eq!(res.status(), 202);
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent, json!({ "phone": "+44••••••••56", "expires_in": 300 }));
    let text = &app.texts_to(ADA_PHONE, 1).await[0];
    assert!(text.body.starts_with("Portcullis code: "), "{}", text.body);
    let code = code_in(text);
    let status: Value = app.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(
        (status["sms_pending"].clone(), status["phone"].clone()),
        (json!(true), json!("+44••••••••56"))
    );
    assert_eq!(status["methods"], json!([]), "a pending phone answers nothing");

    expect_error(app.post_auth(VERIFY, token, &json!({ "code": wrong(&code) })).await, 401, "INVALID_CODE")
        .await;
    let res = app.post_auth(VERIFY, token, &json!({ "code": code })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["backup_codes"].as_array().unwrap().len(), 10, "the first factor brings backup codes");
    let status: Value = app.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(status["sms_enabled"], true);
    assert_eq!(status["methods"], json!(["sms", "backup_code"]));
    expect_error(
        app.post_auth(SETUP, token, &json!({ "phone": "+14155552671" })).await,
        409,
        "MFA_ALREADY_ENABLED",
    )
    .await;
    let mails = app.mail_to("ada@example.com", 2).await;
    assert!(mails.iter().any(|m| m.subject.contains("Two-step sign-in is on")));

    // Sign-in: the challenge offers sms; the code is texted on request.
    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(challenge["methods"], json!(["sms", "backup_code"]));
    let res = app.post(CHALLENGE_SMS, &json!({ "challenge_id": challenge["challenge_id"] })).await;
    assert_eq!(res.status(), 202);
    let code = nth_code(&app, ADA_PHONE, 2).await;
    expect_error(answer(&app, &challenge, "sms", &wrong(&code)).await, 401, "INVALID_CODE").await;
    let res = answer(&app, &challenge, "sms", &code).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&signed_in, "access_token"))["amr"], json!(["pwd", "sms", "mfa"]));

    // Used once: the same code answers no later challenge.
    let challenge = challenged(&app, "ada@example.com").await;
    expect_error(answer(&app, &challenge, "sms", &code).await, 401, "INVALID_CODE").await;
    // Unknown challenges get no text.
    let res = app.post(CHALLENGE_SMS, &json!({ "challenge_id": "not-a-challenge" })).await;
    expect_error(res, 401, "MFA_CHALLENGE_INVALID").await;
    app.no_mail_to("nobody@example.com").await;
    assert_eq!(app.texts.as_ref().unwrap().to(ADA_PHONE).len(), 2);
}

#[tokio::test]
async fn a_code_answers_only_its_purpose_and_expires() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "100"), ("SMS_RATE_LIMIT_MAX", "20")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    enrol_phone(&app, token, ADA_PHONE).await;

    // A step-up code does not answer a sign-in challenge...
    assert_eq!(app.post_auth(SEND, token, &json!({})).await.status(), 202);
    let step_up = nth_code(&app, ADA_PHONE, 2).await;
    let challenge = challenged(&app, "ada@example.com").await;
    expect_error(answer(&app, &challenge, "sms", &step_up).await, 401, "INVALID_CODE").await;
    // ...but steps up.
    let res = app
        .post_auth("/api/v1/auth/reauthenticate", token, &json!({ "method": "sms", "code": step_up }))
        .await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(claims(str_of(&fresh, "access_token"))["amr"], json!(["pwd", "sms", "mfa"]));

    // A sign-in code does not step up.
    assert_eq!(
        app.post(CHALLENGE_SMS, &json!({ "challenge_id": challenge["challenge_id"] })).await.status(),
        202
    );
    let sign_in = nth_code(&app, ADA_PHONE, 3).await;
    let res = app
        .post_auth("/api/v1/auth/reauthenticate", token, &json!({ "method": "sms", "code": sign_in }))
        .await;
    expect_error(res, 401, "INVALID_CODE").await;

    // A code works for five minutes.
    assert_eq!(
        app.post(CHALLENGE_SMS, &json!({ "challenge_id": challenge["challenge_id"] })).await.status(),
        202
    );
    let late = nth_code(&app, ADA_PHONE, 4).await;
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let challenge = challenged(&app, "ada@example.com").await;
    expect_error(answer(&app, &challenge, "sms", &late).await, 401, "INVALID_CODE").await;
    // A newer code replaces an older one.
    for n in [5, 6] {
        assert_eq!(
            app.post(CHALLENGE_SMS, &json!({ "challenge_id": challenge["challenge_id"] })).await.status(),
            202
        );
        app.texts_to(ADA_PHONE, n).await;
    }
    let texts = app.texts_to(ADA_PHONE, 6).await;
    let (older, newer) = (code_in(&texts[4]), code_in(&texts[5]));
    if older != newer {
        expect_error(answer(&app, &challenge, "sms", &older).await, 401, "INVALID_CODE").await;
    }
    let res = answer(&app, &challenge, "sms", &newer).await;
    assert_eq!(res.status(), 200);
    let recent: Value = res.json().await.unwrap();

    // Turning factors off with a texted step-up code (needs a recent sign-in).
    let access = str_of(&recent, "access_token");
    assert_eq!(app.post_auth(SEND, access, &json!({})).await.status(), 202);
    let code = nth_code(&app, ADA_PHONE, 7).await;
    let res =
        app.post_auth("/api/v1/auth/mfa/disable", access, &json!({ "method": "sms", "code": code })).await;
    assert_eq!(res.status(), 204);
    let status: Value = app.get_auth("/api/v1/auth/mfa", access).await.json().await.unwrap();
    assert_eq!((status["sms_enabled"].clone(), status["phone"].clone()), (json!(false), Value::Null));
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap()["mfa_required"],
        Value::Null
    );
    expect_error(app.post_auth(SEND, access, &json!({})).await, 409, "MFA_NOT_ENABLED").await;
}

#[tokio::test]
async fn texts_are_limited_per_user_and_per_number() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "100"), ("SMS_RATE_LIMIT_MAX", "2")]).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada = str_of(&ada, "access_token");
    assert_eq!(app.post_auth(SETUP, ada, &json!({ "phone": ADA_PHONE })).await.status(), 202);
    assert_eq!(app.post_auth(SETUP, ada, &json!({ "phone": "+14155552671" })).await.status(), 202);
    // The third text for ada, to any number, waits.
    let res = app.post_auth(SETUP, ada, &json!({ "phone": "+33612345678" })).await;
    assert!(res.headers().contains_key("retry-after"));
    let body = expect_error(res, 429, "RATE_LIMITED").await;
    assert!(body["error"]["details"]["retry_after_seconds"].as_i64().unwrap() > 0);

    // Two users, one number: the number's own limit.
    let bob = app.signed_in("bob@example.com").await;
    let bob = str_of(&bob, "access_token");
    let carol = app.signed_in("carol@example.com").await;
    let carol = str_of(&carol, "access_token");
    assert_eq!(app.post_auth(SETUP, bob, &json!({ "phone": "+4915123456789" })).await.status(), 202);
    assert_eq!(app.post_auth(SETUP, carol, &json!({ "phone": "+4915123456789" })).await.status(), 202);
    let res = app.post_auth(SETUP, carol, &json!({ "phone": "+4915123456789" })).await;
    expect_error(res, 429, "RATE_LIMITED").await;
    assert_eq!(app.texts_to("+4915123456789", 2).await.len(), 2);

    // The window passes (and the access token with it: sign in again).
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let again: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let ada = str_of(&again, "access_token");
    assert_eq!(app.post_auth(SETUP, ada, &json!({ "phone": "+33612345678" })).await.status(), 202);
}

#[tokio::test]
async fn a_second_factor_beside_an_app_needs_a_recent_sign_in_and_keeps_the_codes() {
    let app = spawn_app_with(&generous_limits()).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let (uri, codes) = enable(&app, token).await;

    app.clock.advance(Duration::minutes(6));
    let res = app.post_auth(SETUP, token, &json!({ "phone": ADA_PHONE })).await;
    expect_error(res, 401, "REAUTHENTICATION_REQUIRED").await;
    let res =
        app.post_auth("/api/v1/auth/reauthenticate", token, &json!({ "code": app_code(&app, &uri) })).await;
    let fresh: Value = res.json().await.unwrap();
    let token = str_of(&fresh, "access_token");
    assert!(enrol_phone(&app, token, ADA_PHONE).await.is_empty(), "the app's backup codes stay");
    let status: Value = app.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(status["methods"], json!(["totp", "sms", "backup_code"]));
    assert_eq!(status["backup_codes_remaining"], 10);
    let challenge = challenged(&app, "ada@example.com").await;
    assert_eq!(answer(&app, &challenge, "backup_code", &codes[0]).await.status(), 200);

    // New backup codes with a texted code; a backup code cannot mint more.
    let regenerate = "/api/v1/auth/mfa/backup-codes/regenerate";
    let res = app.post_auth(regenerate, token, &json!({ "method": "backup_code", "code": codes[1] })).await;
    expect_error(res, 401, "INVALID_CODE").await;
    assert_eq!(app.post_auth(SEND, token, &json!({})).await.status(), 202);
    let code = nth_code(&app, ADA_PHONE, 2).await;
    let res = app.post_auth(regenerate, token, &json!({ "method": "sms", "code": code })).await;
    assert_eq!(res.status(), 200);

    // Turning off removes both factors.
    app.clock.advance(Duration::seconds(30));
    let res =
        app.post_auth("/api/v1/auth/mfa/disable", token, &json!({ "code": app_code(&app, &uri) })).await;
    assert_eq!(res.status(), 204);
    let status: Value = app.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(status["methods"], json!([]));
    assert_eq!((status["totp_enabled"].clone(), status["sms_enabled"].clone()), (json!(false), json!(false)));
}

/// The whole path through the real adapter: settings → worker → Twilio's API.
#[tokio::test]
async fn codes_reach_twilio_when_it_is_configured() {
    let twilio = TwilioStandIn::start();
    let mut settings: Vec<(&str, String)> = twilio.env();
    settings.push(("RATE_LIMIT_AUTH_MAX_REQUESTS", "100".into()));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(&settings).await;
    assert!(app.texts.is_none(), "no in-memory texts when Twilio is configured");
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    assert_eq!(app.post_auth(SETUP, token, &json!({ "phone": ADA_PHONE })).await.status(), 202);
    let mut received = Vec::new();
    for _ in 0..500 {
        received = twilio.received();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(received.len(), 1, "one message reached Twilio");
    assert_eq!(received[0].to, ADA_PHONE);
    let res = app.post_auth(VERIFY, token, &json!({ "code": code_in(&received[0]) })).await;
    assert_eq!(res.status(), 200);
}

/// The configuration names what is missing.
#[tokio::test]
async fn twilio_settings_come_all_or_none() {
    let vars = |pairs: &[(&str, &str)]| {
        let mut all: std::collections::HashMap<String, String> =
            base_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        all
    };
    let only_sid = vars(&[("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")]);
    let err =
        portcullis::config::Config::from_lookup(&move |n| only_sid.get(n).cloned()).unwrap_err().to_string();
    assert!(err.contains("TWILIO_AUTH_TOKEN, TWILIO_FROM: required"), "{err}");
    let bad_sid =
        vars(&[("TWILIO_ACCOUNT_SID", "nope"), ("TWILIO_AUTH_TOKEN", "t"), ("TWILIO_FROM", "+15005550006")]);
    let err =
        portcullis::config::Config::from_lookup(&move |n| bad_sid.get(n).cloned()).unwrap_err().to_string();
    assert!(err.contains("TWILIO_ACCOUNT_SID: expected AC"), "{err}");
    assert!(!err.contains("\"t\""), "the token is never echoed: {err}");
}

mod twilio_contract {
    use super::*;
    use portcullis_infrastructure::contract::sms::SmsSink;

    struct StandInSink(TwilioStandIn);

    #[async_trait::async_trait]
    impl SmsSink for StandInSink {
        async fn delivered(&self) -> Vec<TextMessage> {
            self.0.received()
        }
    }

    portcullis_infrastructure::sms_sender_contract!(async {
        let twilio = TwilioStandIn::start();
        let sender = TwilioSms::new(twilio.config(&twilio.auth_token)).unwrap();
        let ports: portcullis_infrastructure::contract::sms::Ports =
            (Arc::new(sender) as Arc<dyn SmsSender>, Arc::new(StandInSink(twilio)));
        (ports, ())
    });
}

/// What Twilio refuses for good fails the job for good; what may pass
/// (its outage, a closed port) is retried.
#[tokio::test]
async fn twilio_failures_are_told_apart() {
    let twilio = TwilioStandIn::start();
    let wrong_token = TwilioSms::new(twilio.config("not-the-token")).unwrap();
    let err = wrong_token.send(ADA_PHONE, "x").await.unwrap_err();
    assert!(matches!(&err, SmsError::Rejected(_)), "{err:?}");
    assert!(err.to_string().contains("20003"), "names Twilio's code: {err}");

    let sender = TwilioSms::new(twilio.config(&twilio.auth_token)).unwrap();
    twilio.set_down(true);
    let err = sender.send(ADA_PHONE, "Portcullis code: 123456").await.unwrap_err();
    assert!(matches!(&err, SmsError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("123456"), "the body never reaches an error: {err}");
    twilio.set_down(false);
    sender.send(ADA_PHONE, "back").await.unwrap();

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = twilio.config(&twilio.auth_token);
    config.api_url = format!("http://127.0.0.1:{port}");
    let err = TwilioSms::new(config).unwrap().send(ADA_PHONE, "x").await.unwrap_err();
    assert!(matches!(&err, SmsError::Unavailable(_)), "{err:?}");
}
