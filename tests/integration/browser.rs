//! The link pages in a real browser: Debian's headless Chromium, driven over
//! the WebDriver protocol (chromedriver) with the test's own HTTP client.
//! `make deps` installs both.

use crate::helpers::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is not installed: run `make deps` (Debian packages chromium, chromium-driver)",
            );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            }
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Self { driver, base, session, http }
    }

    /// One WebDriver command; `Err` carries the driver's error answer.
    async fn try_call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if !body.is_null() {
            request = request.json(&body);
        }
        let value: Value = request.send().await.unwrap().json().await.unwrap();
        if value["value"].get("error").is_some() { Err(value) } else { Ok(value["value"].clone()) }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.try_call(method, path, body).await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    /// The element matching `css`; retried while a submitted form's answer
    /// is still loading (5 s at most).
    async fn find(&self, css: &str) -> String {
        let mut last = Value::Null;
        for _ in 0..100 {
            match self
                .try_call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css }))
                .await
            {
                Ok(found) => {
                    return found
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_owned();
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no element {css:?}: {last}");
    }

    /// Send `body` to `/element/{id}{action}` for the element matching `css`,
    /// finding it again if the page replaced it in between.
    async fn act(&self, css: &str, action: &str, body: Value) {
        let mut last = Value::Null;
        for _ in 0..100 {
            let element = self.find(css).await;
            match self
                .try_call(reqwest::Method::POST, &format!("/element/{element}{action}"), body.clone())
                .await
            {
                Ok(_) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{action} on {css:?} failed: {last}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.act(css, "/value", json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        self.act(css, "/click", json!({})).await;
    }

    /// The visible text of the page once `needle` shows up in it (5 s at most).
    async fn text_with(&self, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            // The page may be replaced between finding <body> and reading it
            // (a form answer arriving): a stale element is simply read again.
            let body = self.find("body").await;
            if let Ok(value) =
                self.try_call(reqwest::Method::GET, &format!("/element/{body}/text"), Value::Null).await
            {
                text = value.as_str().unwrap_or_default().to_owned();
                if text.contains(needle) {
                    return text;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{needle:?} never appeared; the page says: {text}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// First hour: the mailed links work in a real browser, without JavaScript:
/// confirm the address, set a new password (policy errors shown), sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_pages_work_in_headless_chromium() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    assert_eq!(app.register("ada@example.com").await.status(), 201);

    let verify = link_token(&app.mail_to("ada@example.com", 1).await[0]);
    browser.open(&app.url(&format!("/verify-email?token={verify}"))).await;
    browser.click("button[type=submit]").await;
    browser.text_with("ada@example.com is confirmed").await;

    app.post("/api/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 2).await;
    let reset = link_token(mails.iter().find(|m| m.subject.contains("Reset")).unwrap());
    browser.open(&app.url(&format!("/reset-password?token={reset}"))).await;
    browser.type_into("#new_password", "short").await;
    browser.click("button[type=submit]").await;
    let answer = browser.text_with("The new password was not accepted").await;
    assert!(answer.contains("at least 12 characters"), "{answer}");
    browser.type_into("#new_password", "copper meadow lantern").await;
    browser.click("button[type=submit]").await;
    browser.text_with("Password changed").await;
    assert_eq!(app.login("ada@example.com", "copper meadow lantern").await.status(), 200);

    app.post("/api/v1/auth/magic-link", &json!({ "email": "ada@example.com" })).await;
    let mails = app.mail_to("ada@example.com", 4).await;
    let magic = link_token(mails.iter().rev().find(|m| m.subject.contains("sign-in link")).unwrap());
    browser.open(&app.url(&format!("/magic-link?token={magic}"))).await;
    browser.click("button[type=submit]").await;
    browser.text_with("Signed in as ada@example.com").await;
}
