//! File intake over HTTP, on the memory adapters: upload, dedupe, refusals,
//! the pipeline to ready / infected / failed, owner scoping.

use crate::helpers::*;
use portcullis_infrastructure::eicar::eicar;
use portcullis_infrastructure::fixtures;
use portcullis_infrastructure::memory::MemoryVirusScanner;
use serde_json::Value;
use std::sync::Arc;

async fn token_of(app: &TestApp, email: &str) -> String {
    str_of(&app.signed_in(email).await, "access_token").to_owned()
}

async fn uploaded(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let res = app.upload(token, name, bytes).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_clean_csv_goes_to_ready_with_its_summary() {
    let app = spawn_app().await;
    let token = token_of(&app, "csv@example.com").await;
    let res = app.upload(&token, "../../etc/report.csv", b"name,score\nada,3\nbob,4\n".to_vec()).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let file: Value = res.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/files/{}", str_of(&file, "id")));
    assert_eq!((file["name"].as_str(), file["type"].as_str()), (Some("report.csv"), Some("csv")));
    assert_eq!((file["size"].as_u64(), file["duplicate"].as_bool()), (Some(23), Some(false)));
    assert_eq!(file["sha256"].as_str().map(str::len), Some(64));
    let ready = app.file_until(&token, str_of(&file, "id"), &["ready", "failed", "infected"]).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["summary"]["kind"], "table");
    assert_eq!(ready["summary"]["rows"], 2);
    assert_eq!(ready["summary"]["header"], serde_json::json!(["name", "score"]));
    // Every transition is audited: scanning, processing, ready.
    let changes = actions(&app, &token).await.into_iter().filter(|a| a == "file.status.changed").count();
    assert_eq!(changes, 3);
}

#[tokio::test]
async fn workbooks_and_pdfs_are_processed_by_their_inspectors() {
    let app = spawn_app().await;
    let token = token_of(&app, "docs@example.com").await;
    let rows: &[&[&str]] = &[&["a", "b", "c"], &["1", "2", "3"]];
    let book = uploaded(&app, &token, "book.xlsx", fixtures::xlsx(&[("Data", rows)])).await;
    let pdf = uploaded(&app, &token, "scan.pdf", fixtures::pdf(4)).await;
    let book = app.file_until(&token, str_of(&book, "id"), &["ready", "failed"]).await;
    assert_eq!(book["type"], "xlsx");
    assert_eq!(book["summary"]["sheets"][0], serde_json::json!({"name": "Data", "rows": 2, "columns": 3}));
    let pdf = app.file_until(&token, str_of(&pdf, "id"), &["ready", "failed"]).await;
    assert_eq!((pdf["type"].as_str(), pdf["summary"]["pages"].as_u64()), (Some("pdf"), Some(4)));
}

#[tokio::test]
async fn eicar_is_infected_and_quarantined() {
    let app = spawn_app().await;
    let token = token_of(&app, "eicar@example.com").await;
    // The EICAR string is plain text: it passes as csv and is caught by the scan.
    let file = uploaded(&app, &token, "eicar.csv", eicar()).await;
    let done = app.file_until(&token, str_of(&file, "id"), &["infected", "ready", "failed"]).await;
    assert_eq!(done["status"], "infected", "{done}");
    assert_eq!(done["message"], "Eicar-Test-Signature");
    assert!(done["summary"].is_null(), "an infected file is never processed");
}

#[tokio::test]
async fn corrupt_and_bomb_workbooks_fail_with_a_reason() {
    let app = spawn_app_with(&[("XLSX_MAX_UNPACKED_SIZE", "1048576")]).await;
    let token = token_of(&app, "corrupt@example.com").await;
    let mut corrupt = fixtures::xlsx(&[("S", &[&["x"]])]);
    corrupt.truncate(corrupt.len() - 30);
    let corrupt = uploaded(&app, &token, "broken.xlsx", corrupt).await;
    let bomb = uploaded(&app, &token, "bomb.xlsx", fixtures::xlsx_bomb(4 * 1024 * 1024)).await;
    let corrupt = app.file_until(&token, str_of(&corrupt, "id"), &["failed", "ready"]).await;
    assert_eq!(corrupt["status"], "failed");
    assert!(str_of(&corrupt, "message").contains("xlsx"), "{corrupt}");
    let bomb = app.file_until(&token, str_of(&bomb, "id"), &["failed", "ready"]).await;
    assert_eq!(bomb["status"], "failed");
    assert!(str_of(&bomb, "message").contains("unpacks to more than 1048576 bytes"), "{bomb}");
}

#[tokio::test]
async fn the_same_bytes_are_a_duplicate_for_their_owner_only() {
    let app = spawn_app().await;
    let ada = token_of(&app, "ada-dup@example.com").await;
    let eve = token_of(&app, "eve-dup@example.com").await;
    let bytes = b"id,total\n1,2\n".to_vec();
    let first = uploaded(&app, &ada, "a.csv", bytes.clone()).await;
    let again = app.upload(&ada, "renamed.csv", bytes.clone()).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!((again["id"].clone(), again["duplicate"].as_bool()), (first["id"].clone(), Some(true)));
    assert_eq!(again["name"], "a.csv", "the existing file, as it was");
    let other = uploaded(&app, &eve, "a.csv", bytes).await;
    assert_ne!(other["id"], first["id"], "another user's identical file is a new file");
    let listed: Value = app.get_auth("/api/v1/files", &ada).await.json().await.unwrap();
    assert_eq!(listed["files"].as_array().map(Vec::len), Some(1), "nothing stored twice");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("file_uploads_total{result=\"duplicate\"} 1"), "{metrics}");
    assert!(metrics.contains("file_uploads_total{result=\"created\"} 2"), "{metrics}");
    assert!(metrics.contains("files_by_status{status=\"infected\"} 0"), "{metrics}");
}

#[tokio::test]
async fn content_is_judged_by_its_bytes_and_its_size() {
    let app = spawn_app_with(&[("MAX_FILE_SIZE", "1024"), ("ALLOWED_FILE_TYPES", "csv,xlsx")]).await;
    let token = token_of(&app, "refused@example.com").await;
    let body =
        expect_error(app.upload(&token, "big.csv", vec![b'a'; 1025]).await, 413, "PAYLOAD_TOO_LARGE").await;
    assert_eq!(body["error"]["details"]["limit_bytes"], 1024);
    app.upload(&token, "exact.csv", vec![b'a'; 1024]).await.error_for_status().unwrap();
    // An executable named like a spreadsheet.
    let elf = [b"\x7fELF\x02\x01\x01\x00".as_slice(), &[0u8; 64]].concat();
    let body = expect_error(app.upload(&token, "report.xlsx", elf).await, 415, "UNSUPPORTED_FILE_TYPE").await;
    assert_eq!(body["error"]["details"]["allowed"], serde_json::json!(["csv", "xlsx"]));
    // A real pdf, but pdf is not allowed here.
    expect_error(app.upload(&token, "scan.csv", fixtures::pdf(1)).await, 415, "UNSUPPORTED_FILE_TYPE").await;
    expect_error(app.upload(&token, "empty.csv", Vec::new()).await, 400, "EMPTY_FILE").await;
    let listed: Value = app.get_auth("/api/v1/files", &token).await.json().await.unwrap();
    assert_eq!(listed["files"].as_array().map(Vec::len), Some(1), "refused uploads keep nothing: {listed}");
}

#[tokio::test]
async fn malformed_multipart_bodies_are_refused_and_keep_nothing() {
    let app = spawn_app().await;
    let token = token_of(&app, "multipart@example.com").await;
    let post = |content_type: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/files"))
            .bearer_auth(&token)
            .header("content-type", content_type.to_owned())
            .body(body)
            .send()
    };
    let multipart = "multipart/form-data; boundary=XyZ";
    let part = |name: &str, content: &str| {
        format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f.csv\"\r\n\r\n{content}\r\n"
        )
    };
    let no_file = format!("{}--XyZ--\r\n", part("note", "hello"));
    expect_error(post(multipart, no_file.into_bytes()).await.unwrap(), 400, "FILE_PART_MISSING").await;
    let two = format!("{}{}--XyZ--\r\n", part("file", "a,b\n1,2"), part("file", "c,d\n3,4"));
    expect_error(post(multipart, two.into_bytes()).await.unwrap(), 400, "MULTIPLE_FILE_PARTS").await;
    let truncated = part("file", "a,b\n1,2").replace("\r\n", "\n").into_bytes();
    expect_error(post(multipart, truncated).await.unwrap(), 400, "UPLOAD_INCOMPLETE").await;
    let res = post("application/json", b"{}".to_vec()).await.unwrap();
    let body = expect_error(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    assert!(str_of(&body["error"], "message").contains("multipart/form-data"), "{body}");
    let listed: Value = app.get_auth("/api/v1/files", &token).await.json().await.unwrap();
    assert_eq!(listed["files"], serde_json::json!([]), "nothing was kept");
}

#[tokio::test]
async fn the_quota_caps_files_per_user() {
    let app = spawn_app_with(&[("MAX_FILES_PER_USER", "2")]).await;
    let token = token_of(&app, "quota@example.com").await;
    uploaded(&app, &token, "1.csv", b"a\n1\n".to_vec()).await;
    let second = uploaded(&app, &token, "2.csv", b"a\n2\n".to_vec()).await;
    let body =
        expect_error(app.upload(&token, "3.csv", b"a\n3\n".to_vec()).await, 409, "QUOTA_EXCEEDED").await;
    assert_eq!(body["error"]["details"]["quota"], 2);
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/files/{}", str_of(&second, "id"))))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    uploaded(&app, &token, "3.csv", b"a\n3\n".to_vec()).await;
}

#[tokio::test]
async fn another_users_file_is_not_found_anywhere() {
    let app = spawn_app().await;
    let ada = token_of(&app, "ada-own@example.com").await;
    let eve = token_of(&app, "eve-own@example.com").await;
    let file = uploaded(&app, &ada, "mine.csv", b"a\n1\n".to_vec()).await;
    let path = format!("/api/v1/files/{}", str_of(&file, "id"));
    expect_error(app.get_auth(&path, &eve).await, 404, "NOT_FOUND").await;
    let res = app.client.delete(app.url(&path)).bearer_auth(&eve).send().await.unwrap();
    expect_error(res, 404, "NOT_FOUND").await;
    let listed: Value = app.get_auth("/api/v1/files", &eve).await.json().await.unwrap();
    assert_eq!(listed["files"], serde_json::json!([]));
    expect_error(app.get_auth("/api/v1/files/not-a-uuid", &ada).await, 404, "NOT_FOUND").await;
    assert_eq!(app.get_auth(&path, &ada).await.status(), 200, "still there for its owner");
}

#[tokio::test]
async fn deleting_frees_the_bytes_for_a_new_upload() {
    let app = spawn_app().await;
    let token = token_of(&app, "delete@example.com").await;
    let bytes = b"k,v\nx,1\n".to_vec();
    let file = uploaded(&app, &token, "k.csv", bytes.clone()).await;
    let path = format!("/api/v1/files/{}", str_of(&file, "id"));
    app.file_until(&token, str_of(&file, "id"), &["ready"]).await;
    assert_eq!(app.client.delete(app.url(&path)).bearer_auth(&token).send().await.unwrap().status(), 204);
    expect_error(app.get_auth(&path, &token).await, 404, "NOT_FOUND").await;
    let again = uploaded(&app, &token, "k.csv", bytes).await;
    assert_ne!(again["id"], file["id"]);
}

#[tokio::test]
async fn lists_are_newest_first_paged_and_filtered() {
    let app = spawn_app().await;
    let token = token_of(&app, "list@example.com").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let file = uploaded(&app, &token, "n.csv", format!("n\n{n}\n").into_bytes()).await;
        ids.push(str_of(&file, "id").to_owned());
    }
    let infected = uploaded(&app, &token, "v.csv", eicar()).await;
    app.file_until(&token, str_of(&infected, "id"), &["infected"]).await;
    let page: Value = app.get_auth("/api/v1/files?limit=2", &token).await.json().await.unwrap();
    let first: Vec<&str> = page["files"].as_array().unwrap().iter().map(|f| str_of(f, "id")).collect();
    assert_eq!(first, vec![str_of(&infected, "id"), ids[2].as_str()]);
    let cursor = str_of(&page, "next_cursor");
    let next: Value =
        app.get_auth(&format!("/api/v1/files?limit=2&cursor={cursor}"), &token).await.json().await.unwrap();
    let rest: Vec<&str> = next["files"].as_array().unwrap().iter().map(|f| str_of(f, "id")).collect();
    assert_eq!(rest, vec![ids[1].as_str(), ids[0].as_str()]);
    assert!(next["next_cursor"].is_null());
    let only: Value = app.get_auth("/api/v1/files?status=infected", &token).await.json().await.unwrap();
    assert_eq!(only["files"].as_array().map(Vec::len), Some(1));
    expect_error(app.get_auth("/api/v1/files?status=clean", &token).await, 400, "BAD_REQUEST").await;
    expect_error(app.get_auth("/api/v1/files?limit=0", &token).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn a_scan_without_verdict_is_retried_never_taken_as_clean() {
    let scanner = Arc::new(MemoryVirusScanner::default());
    scanner.set_available(false);
    let app = spawn_app_scanning_with(scanner.clone(), &[("MAX_RETRIES", "100")]).await;
    let token = token_of(&app, "scanfail@example.com").await;
    let file = uploaded(&app, &token, "wait.csv", b"a\n1\n".to_vec()).await;
    let failed = app.file_until(&token, str_of(&file, "id"), &["scan_failed", "ready", "processing"]).await;
    assert_eq!(failed["status"], "scan_failed", "{failed}");
    scanner.set_available(true);
    // The retry is scheduled on the app's (manual) clock.
    app.clock.advance(time::Duration::minutes(1));
    let ready = app.file_until(&token, str_of(&file, "id"), &["ready"]).await;
    assert_eq!(ready["summary"]["kind"], "table");
}

#[tokio::test]
async fn uploads_require_a_signed_in_caller() {
    let app = spawn_app().await;
    let res = app.client.post(app.url("/api/v1/files")).send().await.unwrap();
    expect_error(res, 401, "UNAUTHORIZED").await;
    let res = app.client.put(app.url("/api/v1/files")).send().await.unwrap();
    let allow = res.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_owned);
    expect_error(res, 405, "METHOD_NOT_ALLOWED").await;
    assert_eq!(allow.as_deref(), Some("POST, GET"));
}

async fn upload_url(app: &TestApp, token: &str, name: &str, size: usize) -> Value {
    let res = app
        .post_auth(
            "/api/v1/files/upload-url",
            token,
            &serde_json::json!({"filename": name, "size": size, "content_type": "text/csv"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
}

async fn put(app: &TestApp, url: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.client.put(url).body(bytes).send().await.unwrap()
}

async fn confirm(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post_auth(&format!("/api/v1/files/{id}/confirm"), token, &serde_json::json!({})).await
}

#[tokio::test]
async fn a_presigned_upload_round_trips_to_a_download() {
    let app = spawn_app().await;
    let token = token_of(&app, "presigned@example.com").await;
    let bytes = b"month,total\njan,3\n".to_vec();
    let ticket = upload_url(&app, &token, "q1.csv", bytes.len()).await;
    let (id, url) = (str_of(&ticket, "file_id").to_owned(), str_of(&ticket, "url").to_owned());
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"]["Content-Length"], bytes.len().to_string());
    assert!(url.starts_with("http://localhost:"), "{url}");
    let url = url.replacen(&url[..url.find("/storage/").unwrap()], &app.address, 1);
    let waiting = app.get_auth(&format!("/api/v1/files/{id}"), &token).await.json::<Value>().await.unwrap();
    assert_eq!((waiting["status"].as_str(), waiting["type"].is_null()), (Some("awaiting_upload"), true));
    expect_error(confirm(&app, &token, &id).await, 409, "UPLOAD_MISSING").await;
    assert_eq!(put(&app, &url, bytes.clone()).await.status(), 200);
    let res = confirm(&app, &token, &id).await;
    assert_eq!(res.status(), 202);
    let stored: Value = res.json().await.unwrap();
    assert_eq!((stored["status"].as_str(), stored["type"].as_str()), (Some("stored"), Some("csv")));
    assert_eq!(confirm(&app, &token, &id).await.status(), 202, "confirming again answers the file as it is");
    app.file_until(&token, &id, &["ready"]).await;
    let link = app.get_auth(&format!("/api/v1/files/{id}/download-url"), &token).await;
    assert_eq!(link.status(), 200);
    let link: Value = link.json().await.unwrap();
    let download = str_of(&link, "url").to_owned();
    let download = download.replacen(&download[..download.find("/storage/").unwrap()], &app.address, 1);
    let res = app.client.get(&download).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"q1.csv\"");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);
}

/// `url` with `param` replaced by `value`.
fn with_param(url: &str, param: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            if pair.starts_with(&format!("{param}=")) { format!("{param}={value}") } else { pair.to_owned() }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[tokio::test]
async fn tampered_expired_and_missized_links_are_refused() {
    let app = spawn_app_with(&[("PRESIGNED_URL_EXPIRY", "1m")]).await;
    let token = token_of(&app, "tamper@example.com").await;
    let ticket = upload_url(&app, &token, "t.csv", 8).await;
    let url = str_of(&ticket, "url").to_owned();
    let url = url.replacen(&url[..url.find("/storage/").unwrap()], &app.address, 1);
    let signature = url.split("signature=").nth(1).unwrap().to_owned();
    let flipped = format!("{}{}", if signature.starts_with('0') { "1" } else { "0" }, &signature[1..]);
    for forged in [
        with_param(&url, "signature", &flipped),
        with_param(&url, "size", "9"),
        url.replace("/files/", "/file5/"),
    ] {
        expect_error(put(&app, &forged, b"a,b\n1,2\n".to_vec()).await, 403, "INVALID_SIGNATURE").await;
    }
    expect_error(put(&app, &url, b"a,b\n1,2\n!".to_vec()).await, 413, "PAYLOAD_TOO_LARGE").await;
    expect_error(put(&app, &url, b"a,b\n".to_vec()).await, 400, "UPLOAD_INCOMPLETE").await;
    app.clock.advance(time::Duration::minutes(2));
    expect_error(put(&app, &url, b"a,b\n1,2\n".to_vec()).await, 403, "URL_EXPIRED").await;
    let id = str_of(&ticket, "file_id");
    expect_error(confirm(&app, &token, id).await, 409, "UPLOAD_MISSING").await;
}

#[tokio::test]
async fn confirm_trusts_only_the_stored_bytes() {
    let app = spawn_app().await;
    let token = token_of(&app, "confirm@example.com").await;
    let elf = [b"\x7fELF\x02\x01\x01\x00".as_slice(), &[0u8; 24]].concat();
    let ticket = upload_url(&app, &token, "report.csv", elf.len()).await;
    let id = str_of(&ticket, "file_id").to_owned();
    let url = str_of(&ticket, "url").to_owned();
    let url = url.replacen(&url[..url.find("/storage/").unwrap()], &app.address, 1);
    assert_eq!(put(&app, &url, elf).await.status(), 200);
    expect_error(confirm(&app, &token, &id).await, 415, "UNSUPPORTED_FILE_TYPE").await;
    expect_error(app.get_auth(&format!("/api/v1/files/{id}"), &token).await, 404, "NOT_FOUND").await;
    // The same bytes as a file the caller has: a duplicate, this upload removed.
    let kept = uploaded(&app, &token, "kept.csv", b"x\n1\n".to_vec()).await;
    let ticket = upload_url(&app, &token, "again.csv", 4).await;
    let url = str_of(&ticket, "url").to_owned();
    let url = url.replacen(&url[..url.find("/storage/").unwrap()], &app.address, 1);
    assert_eq!(put(&app, &url, b"x\n1\n".to_vec()).await.status(), 200);
    let res = confirm(&app, &token, str_of(&ticket, "file_id")).await;
    assert_eq!(res.status(), 200);
    let duplicate: Value = res.json().await.unwrap();
    assert_eq!((duplicate["id"].clone(), duplicate["duplicate"].as_bool()), (kept["id"].clone(), Some(true)));
    let listed: Value = app.get_auth("/api/v1/files", &token).await.json().await.unwrap();
    assert_eq!(listed["files"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn only_the_owner_downloads_and_only_a_ready_file() {
    let app = spawn_app_with(&[("MAX_FILE_SIZE", "100")]).await;
    let ada = token_of(&app, "ada-dl@example.com").await;
    let eve = token_of(&app, "eve-dl@example.com").await;
    let infected = uploaded(&app, &ada, "v.csv", eicar()).await;
    let id = str_of(&infected, "id").to_owned();
    app.file_until(&ada, &id, &["infected"]).await;
    let body = expect_error(
        app.get_auth(&format!("/api/v1/files/{id}/download-url"), &ada).await,
        409,
        "FILE_NOT_READY",
    )
    .await;
    assert_eq!(body["error"]["details"]["status"], "infected");
    let clean = uploaded(&app, &ada, "c.csv", b"a\n1\n".to_vec()).await;
    let path = format!("/api/v1/files/{}/download-url", str_of(&clean, "id"));
    expect_error(app.get_auth(&path, &eve).await, 404, "NOT_FOUND").await;
    let res = app
        .post_auth("/api/v1/files/upload-url", &ada, &serde_json::json!({"filename": "big.csv", "size": 101}))
        .await;
    expect_error(res, 413, "PAYLOAD_TOO_LARGE").await;
    let res = app
        .post_auth("/api/v1/files/upload-url", &ada, &serde_json::json!({"filename": "none.csv", "size": 0}))
        .await;
    expect_error(res, 400, "VALIDATION_ERROR").await;
}

/// The caller's audit trail, as `/users/me/activity` shows it (newest first).
async fn actions(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app.get_auth("/api/v1/users/me/activity?limit=100", token).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|e| str_of(e, "action").to_owned()).collect()
}

#[tokio::test]
async fn quarantine_and_abandoned_uploads_are_purged_on_schedule() {
    let app = spawn_app_with(&[("PURGE_INTERVAL", "1s"), ("QUARANTINE_RETENTION", "1h")]).await;
    let email = "purge@example.com";
    let token = token_of(&app, email).await;
    let infected = uploaded(&app, &token, "v.csv", eicar()).await;
    let infected_id = str_of(&infected, "id").to_owned();
    app.file_until(&token, &infected_id, &["infected"]).await;
    let ticket = upload_url(&app, &token, "never.csv", 10).await;
    let abandoned = str_of(&ticket, "file_id").to_owned();
    assert!(actions(&app, &token).await.contains(&"security.file.infected".to_owned()));
    // Past the retention and the URL's expiry (+ grace); tokens expire too.
    app.clock.advance(time::Duration::hours(2));
    let token =
        str_of(&app.login(email, PASSWORD).await.json::<Value>().await.unwrap(), "access_token").to_owned();
    let mut purged = false;
    for _ in 0..200 {
        let gone = app.get_auth(&format!("/api/v1/files/{abandoned}"), &token).await.status() == 404;
        if gone && actions(&app, &token).await.contains(&"file.quarantine.purged".to_owned()) {
            purged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(purged, "not purged: {:?}", actions(&app, &token).await);
    let kept =
        app.get_auth(&format!("/api/v1/files/{infected_id}"), &token).await.json::<Value>().await.unwrap();
    assert_eq!(kept["status"], "infected", "the record stays for the audit trail");
}
