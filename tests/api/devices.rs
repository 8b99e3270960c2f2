//! Devices: recognised at sign-in (client id header, else user agent), a new
//! one alerts by mail, trusted ones raise a session's trust score — and with
//! it the general rate budget — and removing one ends its sessions.

use crate::helpers::*;
use serde_json::{Value, json};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

async fn login_from(app: &TestApp, email: &str, agent: &str, device_id: Option<&str>) -> Value {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", agent)
        .json(&json!({ "email": email, "password": PASSWORD }));
    if let Some(id) = device_id {
        request = request.header("x-device-id", id);
    }
    let res = request.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn devices(app: &TestApp, token: &str) -> Vec<Value> {
    let body: Value = app.get_auth("/api/v1/devices", token).await.json().await.unwrap();
    body["devices"].as_array().unwrap().clone()
}

async fn put_trust(app: &TestApp, token: &str, id: &str, trusted: bool) -> reqwest::Response {
    let path = format!("/api/v1/devices/{id}/trust");
    app.client
        .put(app.url(&path))
        .bearer_auth(token)
        .json(&json!({ "trusted": trusted }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn devices_are_recognised_and_a_new_one_alerts() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let laptop = login_from(&app, "ada@example.com", FIREFOX, None).await;
    let token = str_of(&laptop, "access_token");
    let listed = devices(&app, token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Firefox on Linux");
    assert_eq!(listed[0]["trusted"], false);
    assert_eq!(listed[0]["by_client_id"], false);
    // The first device is no news: only the verification mail so far.
    app.mail_to("ada@example.com", 1).await;

    // The same browser again: the same device, no alert.
    login_from(&app, "ada@example.com", FIREFOX, None).await;
    assert_eq!(devices(&app, token).await.len(), 1);
    // A phone app with its own id: a new device, and an alert.
    let phone = login_from(&app, "ada@example.com", ANDROID, Some("pixel-install-7")).await;
    let mail = app.mail_to("ada@example.com", 2).await;
    assert!(
        mail[1].subject.to_lowercase().contains("sign-in")
            || mail[1].subject.to_lowercase().contains("security"),
        "{}",
        mail[1].subject
    );
    let listed = devices(&app, token).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["by_client_id"], true);
    assert_eq!(listed[0]["name"], "Chrome on Android");
    // A session names its device.
    let sessions: Value =
        app.get_auth("/api/v1/sessions", str_of(&phone, "access_token")).await.json().await.unwrap();
    assert_eq!(sessions["sessions"][0]["device"]["name"], "Chrome on Android", "{sessions}");
    // Another account does not see them, nor can touch them.
    let bob = app.signed_in("bob@example.com").await;
    let bob_token = str_of(&bob, "access_token");
    let id = str_of(&listed[0], "id");
    expect_error(put_trust(&app, bob_token, id, true).await, 404, "NOT_FOUND").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/devices/{id}")))
        .bearer_auth(bob_token)
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_trusted_device_raises_trust_and_the_rate_budget() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_MAX_REQUESTS", "6"), ("RATE_LIMIT_TRUSTED_MAX_REQUESTS", "30")]).await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let first = login_from(&app, "ada@example.com", FIREFOX, Some("laptop-1")).await;
    let low = str_of(&first, "access_token").to_owned();
    let id = str_of(&devices(&app, &low).await[0], "id").to_owned();
    let res = put_trust(&app, &low, &id, true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["trusted"], true);

    // Trusted device (30) + known address (20) + base (20) = 70: high trust.
    let second = login_from(&app, "ada@example.com", FIREFOX, Some("laptop-1")).await;
    let high = str_of(&second, "access_token").to_owned();
    let sessions: Value = app.get_auth("/api/v1/sessions", &high).await.json().await.unwrap();
    assert_eq!(sessions["sessions"][0]["trust_score"], 70, "{sessions}");
    assert_eq!(sessions["sessions"][1]["trust_score"], 20);

    // Past the general budget of 6 the high-trust session goes on...
    // (GCRA: a source's budget is time credit; each high-trust request
    // spends 2 s of the 60 s window, a low-trust one 10 s. Two low-trust
    // and sixteen high-trust requests, the listing above included, leave
    // less than 10 s.)
    for i in 0..15 {
        assert_eq!(app.get_auth("/api/v1/auth/me", &high).await.status(), 200, "request {i}");
    }
    // ...while the low-trust one, from the same source, is refused.
    expect_error(app.get_auth("/api/v1/auth/me", &low).await, 429, "RATE_LIMITED").await;

    // Untrusting applies to sessions opened afterwards.
    assert_eq!(put_trust(&app, &high, &id, false).await.status(), 200);
    login_from(&app, "ada@example.com", FIREFOX, Some("laptop-1")).await;
    // (Listed with the high-trust token: the source's normal budget is spent.)
    let sessions: Value = app.get_auth("/api/v1/sessions", &high).await.json().await.unwrap();
    assert_eq!(sessions["sessions"][0]["trust_score"], 40, "{sessions}");
}

#[tokio::test]
async fn removing_a_device_ends_its_sessions() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let laptop = login_from(&app, "ada@example.com", FIREFOX, None).await;
    let phone = login_from(&app, "ada@example.com", ANDROID, None).await;
    let phone_again = login_from(&app, "ada@example.com", ANDROID, None).await;
    let token = str_of(&laptop, "access_token");
    let android = devices(&app, token).await.into_iter().find(|d| d["name"] == "Chrome on Android").unwrap();
    let path = format!("/api/v1/devices/{}", str_of(&android, "id"));
    let res = app.client.delete(app.url(&path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);
    for gone in [&phone, &phone_again] {
        expect_error(
            app.get_auth("/api/v1/auth/me", str_of(gone, "access_token")).await,
            401,
            "INVALID_TOKEN",
        )
        .await;
    }
    assert_eq!(app.get_auth("/api/v1/auth/me", token).await.status(), 200);
    assert_eq!(devices(&app, token).await.len(), 1);
    let res = app.client.delete(app.url(&path)).bearer_auth(token).send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=20", token).await.json().await.unwrap();
    assert!(activity["items"].as_array().unwrap().iter().any(|i| i["action"] == "user.device.removed"));
}
