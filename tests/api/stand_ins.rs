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

/// Who the OAuth stand-in says is signing in.
#[derive(Clone, Debug)]
pub struct Profile {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
}

/// How the OAuth stand-in misbehaves, when a test asks it to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Misbehaviour {
    #[default]
    None,
    /// The ID token carries another nonce than the one asked for.
    WrongNonce,
    /// The ID token is signed with a key the JWKS does not publish.
    ForeignKey,
    /// The ID token is for another client.
    WrongAudience,
    /// Every endpoint answers 503.
    Down,
    /// The ID token leaves the address out (UserInfo has it).
    EmailOnlyFromUserinfo,
}

struct Grant {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
    profile: Profile,
    used: bool,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    profile: Arc<Mutex<Profile>>,
    github_emails: Arc<Mutex<serde_json::Value>>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
    grants: Arc<Mutex<HashMap<String, Grant>>>,
    tokens: Arc<Mutex<HashMap<String, Profile>>>,
}

/// The provider signs ID tokens with RS256, as most do.
const SIGNING_KEY: &str = include_str!("../../crates/infrastructure/testdata/rsa2048.pem");
/// A key the JWKS does not publish.
const FOREIGN_KEY: &str = include_str!("../../crates/infrastructure/testdata/ed25519.pem");

fn jwks() -> serde_json::Value {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k1".into());
    json!({ "keys": [jwk] })
}

impl Provider {
    fn down(&self) -> bool {
        *self.misbehaviour.lock().unwrap() == Misbehaviour::Down
    }

    fn id_token(&self, grant: &Grant) -> String {
        let misbehaviour = *self.misbehaviour.lock().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let audience =
            if misbehaviour == Misbehaviour::WrongAudience { "another-client" } else { &self.client_id };
        let nonce = match misbehaviour {
            Misbehaviour::WrongNonce => Some("not-the-nonce".to_owned()),
            _ => grant.nonce.clone(),
        };
        let mut claims = json!({
            "iss": self.issuer, "aud": audience, "sub": grant.profile.subject, "iat": now, "exp": now + 300,
            "nonce": nonce, "email": grant.profile.email, "email_verified": grant.profile.email_verified,
            "name": "Ada Lovelace",
        });
        if let (Misbehaviour::EmailOnlyFromUserinfo, Some(claims)) = (misbehaviour, claims.as_object_mut()) {
            claims.retain(|k, _| !k.starts_with("email"));
        }
        let (key, algorithm) = if misbehaviour == Misbehaviour::ForeignKey {
            (
                jsonwebtoken::EncodingKey::from_ed_pem(FOREIGN_KEY.as_bytes()).unwrap(),
                jsonwebtoken::Algorithm::EdDSA,
            )
        } else {
            (
                jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).unwrap(),
                jsonwebtoken::Algorithm::RS256,
            )
        };
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

async fn discovery(state: web::Data<Provider>) -> HttpResponse {
    if state.down() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let i = &state.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"), "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks_endpoint(state: web::Data<Provider>) -> HttpResponse {
    if state.down() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().json(jwks())
}

/// Signs the configured user in at once and sends the browser back.
async fn authorize(state: web::Data<Provider>, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    if state.down() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let get = |k: &str| query.get(k).cloned().unwrap_or_default();
    if get("client_id") != state.client_id
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
    {
        return HttpResponse::BadRequest().body("bad authorization request");
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let grant = Grant {
        challenge: get("code_challenge"),
        nonce: query.get("nonce").cloned(),
        redirect_uri: get("redirect_uri"),
        profile: state.profile.lock().unwrap().clone(),
        used: false,
    };
    state.grants.lock().unwrap().insert(code.clone(), grant);
    let location = format!("{}?code={code}&state={}", get("redirect_uri"), get("state"));
    HttpResponse::Found().insert_header(("location", location)).finish()
}

fn oauth_error(error: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": error }))
}

async fn token(
    state: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if state.down() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", state.client_id, state.client_secret))
    );
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" }));
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let mut grants = state.grants.lock().unwrap();
    let Some(grant) = grants.get_mut(&get("code")) else { return oauth_error("invalid_grant") };
    use sha2::Digest;
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(get("code_verifier")));
    if grant.used || grant.redirect_uri != get("redirect_uri") || challenge != grant.challenge {
        return oauth_error("invalid_grant");
    }
    grant.used = true;
    let access_token = uuid::Uuid::new_v4().simple().to_string();
    state.tokens.lock().unwrap().insert(access_token.clone(), grant.profile.clone());
    let id_token = grant.nonce.is_some().then(|| state.id_token(grant));
    HttpResponse::Ok().json(json!({
        "access_token": access_token, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": "provider-refresh-token", "id_token": id_token,
    }))
}

fn bearer_profile(state: &Provider, req: &HttpRequest) -> Option<Profile> {
    let token = req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?.to_owned();
    state.tokens.lock().unwrap().get(&token).cloned()
}

/// OpenID Connect's UserInfo.
async fn userinfo(state: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    match bearer_profile(&state, &req) {
        Some(p) => HttpResponse::Ok().json(json!({
            "sub": p.subject, "email": p.email, "email_verified": p.email_verified, "name": "Ada Lovelace",
        })),
        None => HttpResponse::Unauthorized().finish(),
    }
}

/// GitHub's `GET /user`.
async fn github_user(state: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    match bearer_profile(&state, &req) {
        Some(p) => HttpResponse::Ok().json(json!({
            "id": p.subject.parse::<u64>().unwrap_or(1), "login": "ada", "name": "Ada Lovelace", "email": null,
        })),
        None => HttpResponse::Unauthorized().json(json!({ "message": "Bad credentials" })),
    }
}

/// GitHub's `GET /user/emails`.
async fn github_emails(state: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    match bearer_profile(&state, &req) {
        Some(_) => HttpResponse::Ok().json(state.github_emails.lock().unwrap().clone()),
        None => HttpResponse::Unauthorized().json(json!({ "message": "Bad credentials" })),
    }
}

/// A small OpenID Connect provider (discovery, JWKS, authorize, token) that
/// also answers GitHub's two profile calls. Started per test on a free port.
#[derive(Clone)]
pub struct OAuthStandIn {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    profile: Arc<Mutex<Profile>>,
    github_emails: Arc<Mutex<serde_json::Value>>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
}

impl OAuthStandIn {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let provider = Provider {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "portcullis-test-client".into(),
            client_secret: uuid::Uuid::new_v4().simple().to_string(),
            profile: Arc::new(Mutex::new(Profile {
                subject: "1001".into(),
                email: "ada@example.com".into(),
                email_verified: true,
            })),
            github_emails: Arc::new(Mutex::new(json!([
                { "email": "ada@example.com", "primary": true, "verified": true }
            ]))),
            misbehaviour: Arc::default(),
            grants: Arc::default(),
            tokens: Arc::default(),
        };
        let stand_in = Self {
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.clone(),
            profile: provider.profile.clone(),
            github_emails: provider.github_emails.clone(),
            misbehaviour: provider.misbehaviour.clone(),
        };
        let data = web::Data::new(provider);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/jwks", web::get().to(jwks_endpoint))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/user", web::get().to(github_user))
                .route("/user/emails", web::get().to(github_emails))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        stand_in
    }

    pub fn sign_in_as(&self, profile: Profile) {
        *self.profile.lock().unwrap() = profile;
    }

    pub fn set_github_emails(&self, emails: serde_json::Value) {
        *self.github_emails.lock().unwrap() = emails;
    }

    pub fn misbehave(&self, how: Misbehaviour) {
        *self.misbehaviour.lock().unwrap() = how;
    }
}
