//! Local stand-ins of third-party HTTP APIs, each started per test on a free
//! port and speaking the part of the protocol the adapter uses.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use portcullis_application::ports::TextMessage;
use portcullis_infrastructure::memory::is_e164;
use serde_json::json;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Twilio's Messages resource: `POST /2010-04-01/Accounts/{sid}/Messages.json`
/// with HTTP basic auth (account SID, auth token) and a form body (`To`,
/// `From`, `Body`). Answers as Twilio does: 201 with the message, or an error
/// object `{code, message, more_info, status}` (20003 authentication,
/// 21211 invalid `To`, 21212 invalid `From`, 21602 no `Body`).
#[derive(Clone)]
pub struct TwilioStandIn {
    pub url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    received: Arc<Mutex<Vec<TextMessage>>>,
    down: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Twilio {
    account_sid: String,
    auth_token: String,
    from: String,
    received: Arc<Mutex<Vec<TextMessage>>>,
    down: Arc<AtomicBool>,
}

fn twilio_error(status: u16, code: u32, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(status).json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    }))
}

async fn messages(
    state: web::Data<Twilio>,
    path: web::Path<String>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if state.down.load(Ordering::SeqCst) {
        return twilio_error(503, 20500, "Service Unavailable");
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", state.account_sid, state.auth_token))
    );
    let presented = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if presented != expected || *path != state.account_sid {
        return twilio_error(401, 20003, "Authenticate");
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (to, from, body) = (field("To"), field("From"), field("Body"));
    if !is_e164(&to) {
        return twilio_error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    if from != state.from {
        return twilio_error(400, 21212, &format!("The 'From' number {from} is not a valid phone number."));
    }
    if body.is_empty() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    state.received.lock().unwrap().push(TextMessage { to: to.clone(), body: body.clone() });
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    HttpResponse::Created().json(json!({
        "sid": sid, "account_sid": state.account_sid, "to": to, "from": from, "body": body,
        "status": "queued", "num_segments": "1", "direction": "outbound-api",
    }))
}

impl TwilioStandIn {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let state = Twilio {
            account_sid: format!("AC{}", uuid::Uuid::new_v4().simple()),
            auth_token: uuid::Uuid::new_v4().simple().to_string(),
            from: "+15005550006".into(),
            received: received.clone(),
            down: down.clone(),
        };
        let stand_in = Self {
            url: format!("http://127.0.0.1:{port}"),
            account_sid: state.account_sid.clone(),
            auth_token: state.auth_token.clone(),
            from: state.from.clone(),
            received,
            down,
        };
        let data = web::Data::new(state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/2010-04-01/Accounts/{sid}/Messages.json", web::post().to(messages))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        stand_in
    }

    /// Messages accepted, in order.
    pub fn received(&self) -> Vec<TextMessage> {
        self.received.lock().unwrap().clone()
    }

    /// Makes every request fail with 503 (or recover).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The app settings that point Twilio here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", self.account_sid.clone()),
            ("TWILIO_AUTH_TOKEN", self.auth_token.clone()),
            ("TWILIO_FROM", self.from.clone()),
            ("TWILIO_API_URL", self.url.clone()),
        ]
    }

    pub fn config(&self, auth_token: &str) -> portcullis_infrastructure::twilio::TwilioConfig {
        portcullis_infrastructure::twilio::TwilioConfig {
            account_sid: self.account_sid.clone(),
            auth_token: portcullis_domain::secret::Secret::new(auth_token),
            from: self.from.clone(),
            api_url: self.url.clone(),
            timeout: std::time::Duration::from_secs(5),
        }
    }
}
