//! The envelope on every kind of error, and the request id.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn unknown_route_and_wrong_method() {
    let app = spawn_app().await;
    let body = expect_error(app.client.get(app.url("/nope")).send().await.unwrap(), 404, "NOT_FOUND").await;
    assert_eq!(body["path"], "/nope");
    assert_eq!(body["method"], "GET");
    expect_error(
        app.client.get(app.url("/api/v1/auth/login")).send().await.unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    expect_error(app.client.delete(app.url("/health/live")).send().await.unwrap(), 405, "METHOD_NOT_ALLOWED")
        .await;
    // RFC 9110: a 405 names the methods the resource serves.
    for (method, path, allow) in [
        (reqwest::Method::GET, "/api/v1/auth/login", "POST"),
        (reqwest::Method::DELETE, "/health/live", "GET"),
        (reqwest::Method::PUT, "/api/v1/users/me", "PATCH"),
    ] {
        let res = app.client.request(method, app.url(path)).send().await.unwrap();
        assert_eq!(res.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{path}");
    }
}

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let app = spawn_app().await;
    for body in [json!([]), json!("text"), json!(42), json!(null)] {
        let res = app.post("/api/v1/auth/login", &body).await;
        expect_error(res, 400, "BAD_REQUEST").await;
    }
}

#[tokio::test]
async fn bad_bodies() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/login");
    let malformed =
        app.client.post(&url).header("content-type", "application/json").body("{bad").send().await.unwrap();
    expect_error(malformed, 400, "BAD_REQUEST").await;
    let wrong_type =
        app.client.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    expect_error(wrong_type, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    // A missing required field is named, like every other field problem.
    let missing_field = app.post("/api/v1/auth/login", &json!({ "email": "a@b.co" })).await;
    let body = expect_error(missing_field, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["error"]["details"][0]["field"], "password", "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "required", "{body}");
    let unknown_field =
        app.post("/api/v1/auth/login", &json!({ "email": "a@b.co", "password": "x", "extra": 1 })).await;
    expect_error(unknown_field, 400, "BAD_REQUEST").await;
    let huge = json!({ "email": "a@b.co", "password": "x".repeat(100_000) });
    let body = expect_error(app.post("/api/v1/auth/login", &huge).await, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(body["error"]["details"]["limit_bytes"], 65536);
    let long_password = json!({ "email": "a@b.co", "password": "x".repeat(2000) });
    expect_error(app.post("/api/v1/auth/login", &long_password).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn request_ids_are_always_ours() {
    // ASVS review #9: a client-supplied X-Request-Id is logged as such, but the
    // id used for correlation (header, envelope, logs) is always generated.
    let app = spawn_app().await;
    let res =
        app.client.get(app.url("/health/live")).header("x-request-id", "trace-abc.123").send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "trace-abc.123");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let res =
        app.client.get(app.url("/nope")).header("x-request-id", "client-chosen-id").send().await.unwrap();
    let body = expect_error(res, 404, "NOT_FOUND").await;
    assert_ne!(body["request_id"], "client-chosen-id");

    let res =
        app.client.get(app.url("/health/live")).header("x-request-id", "has spaces").send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
}

/// Hardening #13: a client that trickles its body gets 408 REQUEST_TIMEOUT
/// once REQUEST_BODY_TIMEOUT has passed, and the connection is closed.
#[tokio::test]
async fn a_trickled_body_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(&[("REQUEST_BODY_TIMEOUT", "300ms")]).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader.read_to_end(&mut response)).await;
    trickle.abort();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
}

/// ASVS review #10: a handler that panics answers the standard 500 envelope
/// (with X-Request-Id), and the server goes on serving.
#[tokio::test]
async fn a_panicking_handler_answers_the_500_envelope() {
    use portcullis::config::Config;
    use portcullis::wiring::{Overrides, build};
    let vars: std::collections::HashMap<String, String> =
        base_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = Config::from_lookup(&move |name| vars.get(name).cloned()).unwrap();
    let state = build(&config, Overrides::default()).await.unwrap().state;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        portcullis_http::app(state.clone()).route(
            "/test/panic",
            actix_web::web::get().to(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                actix_web::HttpResponse::Ok().finish()
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    let client = reqwest::Client::new();
    let res = client.get(format!("http://127.0.0.1:{port}/test/panic")).send().await.unwrap();
    let body = expect_error(res, 500, "INTERNAL_ERROR").await;
    assert_eq!(body["error"]["message"], "an internal error occurred");
    let res = client.get(format!("http://127.0.0.1:{port}/health/live")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the server still serves");
}

/// Refactoring step: one error-code table. The README's list of codes and the
/// table agree (code and status), and the OpenAPI document publishes the codes
/// as an enum.
#[tokio::test]
async fn the_readme_and_the_openapi_document_list_the_code_table() {
    use portcullis_http::error::ErrorCode;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("Codes: ").expect("the README lists the codes");
    let end = start + readme[start..].find("Throttling answers").expect("end of the code list");
    // "`A` / `B` 403, `C` 400 (…), …": every code, with the status that follows it.
    let mut listed: Vec<(String, u16)> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let text = &readme[start..end];
    let mut rest = text;
    while let Some(tick) = rest.find('`') {
        let after = &rest[tick + 1..];
        let close = after.find('`').unwrap();
        pending.push(after[..close].to_owned());
        rest = &after[close + 1..];
        let trimmed = rest.trim_start_matches([' ', '/', '\n']);
        let digits: String = trimmed.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && !trimmed.starts_with('`') {
            let status: u16 = digits.parse().unwrap();
            listed.extend(pending.drain(..).map(|c| (c, status)));
        }
    }
    assert!(pending.is_empty(), "codes without a status in the README: {pending:?}");
    let mut table: Vec<(String, u16)> =
        ErrorCode::ALL.iter().map(|c| (c.as_str().to_owned(), c.status().as_u16())).collect();
    listed.sort();
    table.sort();
    assert_eq!(listed, table, "README codes vs the ErrorCode table");

    let app = spawn_app().await;
    let doc: serde_json::Value =
        app.client.get(app.url("/api-docs/openapi.json")).send().await.unwrap().json().await.unwrap();
    let published = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    let mut published: Vec<String> = published
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    published.sort();
    let mut codes: Vec<String> = table.into_iter().map(|(c, _)| c).collect();
    codes.sort();
    assert_eq!(published, codes);
}
