//! The status WebSocket: authentication, subscriptions scoped to the caller's
//! files, the status sequence of an upload, closing on revocation.

use crate::helpers::*;
use futures_util::StreamExt;
use portcullis_infrastructure::memory::MemoryVirusScanner;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn token_of(app: &TestApp, email: &str) -> String {
    str_of(&app.signed_in(email).await, "access_token").to_owned()
}

#[tokio::test]
async fn the_socket_follows_an_upload_to_ready() {
    let scanner = Arc::new(MemoryVirusScanner::default());
    scanner.set_available(false);
    let app = spawn_app_scanning_with(scanner.clone(), &[("MAX_RETRIES", "100")]).await;
    let token = token_of(&app, "live@example.com").await;
    let res = app.upload(&token, "live.csv", b"a,b\n1,2\n".to_vec()).await;
    let file: Value = res.json().await.unwrap();
    let id = str_of(&file, "id").to_owned();
    app.file_until(&token, &id, &["scan_failed"]).await;
    let mut socket = connect_socket(&app, &token).await;
    send_json(&mut socket, json!({"type": "subscribe", "file_ids": [id]})).await;
    let now = next_json(&mut socket).await;
    assert_eq!((now["type"].as_str(), now["file_id"].as_str()), (Some("file_status"), Some(id.as_str())));
    assert_eq!(now["status"], "scan_failed", "the state at subscription, at once: {now}");
    assert!(now["timestamp"].is_string() && now["progress"] == 0, "{now}");
    scanner.set_available(true);
    app.clock.advance(time::Duration::minutes(1));
    let mut seen = Vec::new();
    loop {
        let message = next_json(&mut socket).await;
        assert_eq!(message["file_id"], id.as_str());
        let status = str_of(&message, "status").to_owned();
        seen.push(status.clone());
        if status == "ready" {
            assert_eq!(message["progress"], 100);
            break;
        }
    }
    seen.dedup();
    assert_eq!(seen, vec!["scanning", "processing", "ready"]);
}

#[tokio::test]
async fn another_users_file_is_refused_and_never_reported() {
    let app = spawn_app().await;
    let ada = token_of(&app, "ada-live@example.com").await;
    let eve = token_of(&app, "eve-live@example.com").await;
    let file: Value = app.upload(&ada, "a.csv", b"a\n1\n".to_vec()).await.json().await.unwrap();
    let id = str_of(&file, "id").to_owned();
    let mut socket = connect_socket(&app, &eve).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    send_json(&mut socket, json!({"type": "subscribe", "file_ids": [id, unknown]})).await;
    let refused = next_json(&mut socket).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("NOT_FOUND")));
    assert_eq!(refused["file_ids"], json!([id, unknown]), "another's file and no file look the same");
    send_json(&mut socket, json!({"type": "subscribe", "file_ids": "not a list"})).await;
    let bad = next_json(&mut socket).await;
    assert_eq!((bad["type"].as_str(), bad["code"].as_str()), (Some("error"), Some("BAD_REQUEST")));
    // Ada's file moves on; Eve's socket hears nothing of it.
    app.file_until(&ada, &id, &["ready"]).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(quiet.is_err(), "unexpected message: {quiet:?}");
}

#[tokio::test]
async fn the_handshake_needs_a_valid_token_and_browsers_may_use_the_query() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/ws").replace("http://", "ws://");
    let refused = tokio_tungstenite::connect_async(format!("{url}?access_token=forged")).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else { panic!("{refused:?}") };
    assert_eq!(response.status(), 401);
    let token = token_of(&app, "browser@example.com").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{url}?access_token={token}")).await.unwrap();
    let file: Value = app.upload(&token, "b.csv", b"a\n2\n".to_vec()).await.json().await.unwrap();
    send_json(&mut socket, json!({"type": "subscribe", "file_ids": [file["id"]]})).await;
    assert_eq!(next_json(&mut socket).await["type"], "file_status");
}

#[tokio::test]
async fn a_revoked_session_closes_its_socket() {
    let app = spawn_app_with(&[("WS_PING_INTERVAL", "100ms"), ("WS_PING_TIMEOUT", "2s")]).await;
    let login = app.signed_in("revoke-live@example.com").await;
    let token = str_of(&login, "access_token").to_owned();
    let mut socket = connect_socket(&app, &token).await;
    let res =
        app.post_auth("/api/v1/auth/logout", &token, &json!({"refresh_token": login["refresh_token"]})).await;
    assert!(res.status().is_success(), "{}", res.status());
    let close = loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("closed within 10 s");
        match frame {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let close = close.expect("a close reason");
    assert_eq!(close.code, CloseCode::from(4001));
}
