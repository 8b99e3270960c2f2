//! The caller's sessions: list, end one, end the others; idle and absolute
//! timeouts on the clock; the trust score each session is given.

use crate::helpers::*;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration as StdDuration;
use time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get_auth("/api/v1/sessions", token).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.delete(app.url(path)).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn sessions_are_listed_with_their_details_and_the_current_one_marked() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let second: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let listed = sessions(&app, str_of(&second, "access_token")).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let (newest, oldest) = (&listed[0], &listed[1]);
    assert_eq!(newest["current"], true);
    assert_eq!(oldest["current"], false);
    for s in &listed {
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["sign_in_method"], "password");
        assert!(s.get("user_agent").is_some(), "{s}");
        for key in ["id", "created_at", "last_seen_at", "expires_at"] {
            assert!(s[key].is_string(), "{key}: {s}");
        }
    }
    // The first sign-in came from an address never seen; the second from a known one.
    assert_eq!(oldest["trust_score"], 20);
    assert_eq!(newest["trust_score"], 40);
    // A failed sign-in lowers the next session's trust.
    app.login("ada@example.com", "Wrong-Password-1").await;
    let third: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let listed = sessions(&app, str_of(&third, "access_token")).await;
    assert_eq!(listed[0]["trust_score"], 30);
    // Someone else sees only their own.
    let bob = app.signed_in("bob@example.com").await;
    assert_eq!(sessions(&app, str_of(&bob, "access_token")).await.len(), 1);
}

#[tokio::test]
async fn ending_a_session_stops_its_tokens_at_once() {
    let app = spawn_app().await;
    let phone = app.signed_in("ada@example.com").await;
    let laptop: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let (phone_token, laptop_token) = (str_of(&phone, "access_token"), str_of(&laptop, "access_token"));
    let listed = sessions(&app, laptop_token).await;
    let phone_id = listed.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    let bob = app.signed_in("bob@example.com").await;
    let path = format!("/api/v1/sessions/{phone_id}");
    expect_error(delete(&app, &path, str_of(&bob, "access_token")).await, 404, "NOT_FOUND").await;
    assert_eq!(app.get_auth("/api/v1/auth/me", phone_token).await.status(), 200, "bob could not end it");

    assert_eq!(delete(&app, &path, laptop_token).await.status(), 204);
    expect_error(app.get_auth("/api/v1/auth/me", phone_token).await, 401, "INVALID_TOKEN").await;
    expect_error(app.refresh(str_of(&phone, "refresh_token")).await, 401, "INVALID_TOKEN").await;
    expect_error(delete(&app, &path, laptop_token).await, 404, "NOT_FOUND").await;
    expect_error(delete(&app, "/api/v1/sessions/not-a-uuid", laptop_token).await, 404, "NOT_FOUND").await;
    assert_eq!(sessions(&app, laptop_token).await.len(), 1);
    expect_error(app.client.get(app.url("/api/v1/sessions")).send().await.unwrap(), 401, "UNAUTHORIZED")
        .await;
}

#[tokio::test]
async fn ending_the_others_keeps_the_current_one() {
    let app = spawn_app().await;
    let mut others = Vec::new();
    others.push(app.signed_in("ada@example.com").await);
    others.push(app.login("ada@example.com", PASSWORD).await.json::<Value>().await.unwrap());
    let current: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let token = str_of(&current, "access_token");
    let res = delete(&app, "/api/v1/sessions", token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);
    for other in &others {
        expect_error(
            app.get_auth("/api/v1/auth/me", str_of(other, "access_token")).await,
            401,
            "INVALID_TOKEN",
        )
        .await;
    }
    let listed = sessions(&app, token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["current"], true);
    let activity: Value =
        app.get_auth("/api/v1/users/me/activity?limit=20", token).await.json().await.unwrap();
    assert!(activity["items"].as_array().unwrap().iter().any(|i| i["action"] == "auth.session.revoked"));
}

/// The socket closes when its session is ended elsewhere — announced, not
/// waiting for a ping (the ping interval here is an hour).
#[tokio::test]
async fn ending_a_session_closes_its_socket() {
    let app = spawn_app_with(&[("WS_PING_INTERVAL", "1h")]).await;
    let phone = app.signed_in("ada@example.com").await;
    let laptop: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let mut socket = connect_socket(&app, str_of(&phone, "access_token")).await;
    let laptop_token = str_of(&laptop, "access_token");
    let phone_id = sessions(&app, laptop_token).await.into_iter().find(|s| s["current"] == false).unwrap();
    let path = format!("/api/v1/sessions/{}", str_of(&phone_id, "id"));
    assert_eq!(delete(&app, &path, laptop_token).await.status(), 204);
    let close = loop {
        let frame = tokio::time::timeout(StdDuration::from_secs(10), socket.next()).await.expect("closed");
        match frame {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.expect("a close reason").code, CloseCode::from(4001));
}

/// The hardened profile: 10 minutes idle, one hour in all. Driven by the clock.
#[tokio::test]
async fn idle_and_absolute_timeouts_end_sessions() {
    let app = spawn_app_with(&[("SESSION_IDLE_TIMEOUT", "10m"), ("SESSION_ABSOLUTE_TIMEOUT", "1h")]).await;
    app.startup_cleanups_done().await;
    let login = app.signed_in("ada@example.com").await;
    assert_eq!(login["expires_in"], 600, "an access token never outlives the idle limit");

    // Used every 9 minutes, the session lives until its absolute limit.
    let mut refresh = str_of(&login, "refresh_token").to_owned();
    for _ in 0..6 {
        app.clock.advance(Duration::minutes(9));
        let res = app.refresh(&refresh).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        refresh = str_of(&body, "refresh_token").to_owned();
    }
    // 54 minutes in: the next access token stops at the hour.
    let res = app.refresh(&refresh).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 360, "six minutes left of the hour: {body}");
    let access = str_of(&body, "access_token").to_owned();
    refresh = str_of(&body, "refresh_token").to_owned();
    app.clock.advance(Duration::minutes(7));
    expect_error(app.refresh(&refresh).await, 401, "TOKEN_EXPIRED").await;
    expect_error(app.get_auth("/api/v1/auth/me", &access).await, 401, "TOKEN_EXPIRED").await;

    // Left alone for 11 minutes, a fresh session ends too.
    let login: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let access = str_of(&login, "access_token");
    assert_eq!(sessions(&app, access).await.len(), 1, "the ended session is not listed");
    app.clock.advance(Duration::minutes(11));
    expect_error(app.refresh(str_of(&login, "refresh_token")).await, 401, "TOKEN_EXPIRED").await;
    expect_error(app.get_auth("/api/v1/auth/me", access).await, 401, "TOKEN_EXPIRED").await;
}
