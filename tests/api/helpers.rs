//! `spawn_app()`: the real application on a random port, driven over HTTP.

use futures_util::{SinkExt, StreamExt};
use portcullis::config::Config;
use portcullis::wiring::{Overrides, build};
use portcullis_application::ports::TextMessage;
use portcullis_application::ports::{JobQueue, OutgoingEmail, VirusScanner};
use portcullis_infrastructure::clock::ManualClock;
use portcullis_infrastructure::memory::{MemoryOutbox, MemoryTexts};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const PASSWORD: &str = "Quartz-Lantern-91!";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub clock: Arc<ManualClock>,
    /// Where mail goes when no SMTP server is configured.
    pub outbox: Option<Arc<MemoryOutbox>>,
    /// Where text messages go when Twilio is not configured.
    pub texts: Option<Arc<MemoryTexts>>,
    pub jobs: Arc<dyn JobQueue>,
}

/// Settings every test app gets: fast (but real) Argon2id, generous limits.
pub fn base_env() -> Vec<(&'static str, String)> {
    vec![
        ("HOST", "127.0.0.1".into()),
        ("PORT", "0".into()),
        ("ARGON2_MEMORY_KIB", "64".into()),
        ("ARGON2_ITERATIONS", "1".into()),
        ("RATE_LIMIT_AUTH_MAX_REQUESTS", "1000".into()),
        ("RATE_LIMIT_MAX_REQUESTS", "1000".into()),
        ("LOG_LEVEL", "warn".into()),
        ("JOB_POLL_INTERVAL", "10ms".into()),
        ("JOB_BACKOFF_BASE", "10ms".into()),
        ("JOB_BACKOFF_MAX", "50ms".into()),
        ("MAIL_TO_CONSOLE", "false".into()),
    ]
}

/// The first admin's address in [`spawn_admin_app`].
pub const ADMIN_EMAIL: &str = "boss@example.com";

/// An app whose first admin (`ADMIN_EMAIL`, `PASSWORD`) comes from the
/// bootstrap settings.
pub async fn spawn_admin_app(overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL), ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)];
    all.extend_from_slice(overrides);
    spawn_app_with(&all).await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app with `overrides` on top of [`base_env`].
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = base_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    spawn_app_from(vars).await
}

pub async fn spawn_app_from(vars: HashMap<String, String>) -> TestApp {
    spawn_app_parts(vars, None).await
}

/// Starts an app whose virus scanner is `scanner` (one a test can switch off).
pub async fn spawn_app_scanning_with(scanner: Arc<dyn VirusScanner>, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = base_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    spawn_app_parts(vars, Some(scanner)).await
}

async fn spawn_app_parts(vars: HashMap<String, String>, scanner: Option<Arc<dyn VirusScanner>>) -> TestApp {
    let config =
        Config::from_lookup(&move |name| vars.get(name).cloned()).expect("test configuration is valid");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let app =
        build(&config, Overrides { clock: Some(clock.clone()), scanner }).await.expect("application builds");
    let jobs = app.state.jobs.clone();
    if config.jobs.in_process {
        // Runs for the rest of the test; the runtime ends it.
        std::mem::forget(app.worker.start());
    }
    let state = app.state;
    let texts = app.texts;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let port = listener.local_addr().expect("local address").port();
    let server = portcullis::serve(state, listener, 1).expect("server starts");
    tokio::spawn(server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        clock,
        outbox: app.outbox,
        texts,
        jobs,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            &json!({ "email": email, "password": PASSWORD, "display_name": "Ada" }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login", &json!({ "email": email, "password": password })).await
    }

    /// Signs the bootstrap admin in; returns the login body.
    pub async fn admin_sign_in(&self) -> Value {
        let res = self.login(ADMIN_EMAIL, PASSWORD).await;
        assert_eq!(res.status(), 200, "the bootstrap admin signs in");
        res.json().await.expect("json")
    }

    /// Registers and logs in; returns the login body.
    pub async fn signed_in(&self, email: &str) -> Value {
        assert_eq!(self.register(email).await.status(), 201);
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    /// Waits (up to 5 s) until `count` messages to `to` have been delivered
    /// by the worker, and returns them.
    pub async fn mail_to(&self, to: &str, count: usize) -> Vec<OutgoingEmail> {
        let outbox = self.outbox.as_ref().expect("the in-memory outbox");
        for _ in 0..500 {
            let messages = outbox.to(to);
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let subjects: Vec<String> = outbox.to(to).into_iter().map(|m| m.subject).collect();
        panic!("expected {count} message(s) to {to}, got {subjects:?}");
    }

    /// Waits (up to 5 s) until `count` text messages to `number` were sent
    /// by the worker, and returns them.
    pub async fn texts_to(&self, number: &str, count: usize) -> Vec<TextMessage> {
        let texts = self.texts.as_ref().expect("the in-memory texts");
        for _ in 0..500 {
            let messages = texts.to(number);
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("expected {count} text(s) to {number}, got {}", texts.to(number).len());
    }

    /// Waits (up to 5 s) until the clean-ups scheduled at start have run, so
    /// a test that moves the clock far ahead does not race them (a purge on
    /// the moved clock removes what has expired).
    pub async fn startup_cleanups_done(&self) {
        for _ in 0..500 {
            let stats = self.jobs.stats("maintenance").await.unwrap();
            let scheduled = portcullis::worker::RECURRING.len() as u64;
            if stats.pending + stats.scheduled + stats.running == 0 && stats.completed >= scheduled {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the start-up clean-ups did not finish in 5 s");
    }

    /// Lets queued mail jobs run, then asserts nothing was mailed to `to`.
    pub async fn no_mail_to(&self, to: &str) {
        for _ in 0..100 {
            let stats = self.jobs.stats("mail").await.unwrap();
            if stats.pending + stats.scheduled + stats.running == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let outbox = self.outbox.as_ref().expect("the in-memory outbox");
        assert!(outbox.to(to).is_empty(), "unexpected mail to {to}");
    }

    /// Sets a new password with a reset token.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Response {
        self.post("/api/v1/auth/password/reset", &json!({ "token": token, "new_password": new_password }))
            .await
    }

    /// Uploads `bytes` as the multipart part `file` named `name`.
    pub async fn upload(&self, token: &str, name: &str, bytes: Vec<u8>) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        self.client
            .post(self.url("/api/v1/files"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request sent")
    }

    /// Polls the file until its status is one of `wanted` (up to 10 s); returns it.
    pub async fn file_until(&self, token: &str, id: &str, wanted: &[&str]) -> Value {
        let mut last = Value::Null;
        for _ in 0..400 {
            let res = self.get_auth(&format!("/api/v1/files/{id}"), token).await;
            assert_eq!(res.status(), 200);
            last = res.json().await.expect("json");
            if wanted.iter().any(|w| last["status"] == *w) {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("file {id} never reached {wanted:?}: {last}");
    }

    pub async fn refresh(&self, token: &str) -> Response {
        self.post("/api/v1/auth/refresh", &json!({ "refresh_token": token })).await
    }
}

/// Asserts the status and the envelope's code; returns the body.
pub async fn expect_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("X-Request-Id on every response");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"].get("details").is_some(), "{body}");
    assert_eq!(body["request_id"], header_id.as_str());
    for key in ["timestamp", "path", "method"] {
        assert!(body[key].is_string(), "{key} missing: {body}");
    }
    body
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The token of the first link in a mail's text part.
pub fn link_token(mail: &OutgoingEmail) -> String {
    let start = mail.text.find("token=").map(|i| i + "token=".len()).expect("a link with a token");
    mail.text[start..].split_whitespace().next().unwrap().to_owned()
}

/// A status WebSocket of the app, authenticated by header.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect_socket(app: &TestApp, token: &str) -> Socket {
    let url = app.url("/api/v1/ws").replace("http://", "ws://");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("the socket opens").0
}

pub async fn send_json(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.unwrap();
}

/// The next JSON message (pings are answered by the client library).
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(close) => panic!("closed: {close:?}"),
            _ => continue,
        }
    }
}

/// The six digits in a texted message.
pub fn code_in(message: &TextMessage) -> String {
    let start = message.body.find("code: ").expect("a code in the text") + "code: ".len();
    let code: String = message.body[start..].chars().take(6).collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{}", message.body);
    code
}

/// A discoverable passkey's answer from `origin`. The software passkey keeps
/// no resident credentials, so the test plays the platform's part: it
/// offers the credential it holds (`credential_id`) and returns the user
/// handle (`user`, the account's id).
pub fn discoverable_answer(
    device: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
    options: &Value,
    credential_id: &[u8],
    user: &str,
    origin: &str,
) -> Value {
    use base64::Engine;
    use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, WebauthnAuthenticator};
    let mut options = options.clone();
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]), "no account is named");
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    options["publicKey"]["allowCredentials"] = json!([{ "type": "public-key", "id": id }]);
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let mut answer = device.do_authentication(url::Url::parse(origin).unwrap(), options).unwrap();
    answer.response.user_handle = Some(uuid::Uuid::parse_str(user).unwrap().as_bytes().to_vec());
    serde_json::to_value(answer).unwrap()
}
