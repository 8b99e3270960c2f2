//! Small HTML pages for the links Portcullis mails, served when `APP_BASE_URL`
//! points at Portcullis itself (a front end takes over by pointing it at
//! itself and serving `/verify-email`, `/reset-password`, `/magic-link` and
//! `/accept-invitation`).
//!
//! Plain forms, no JavaScript, a strict Content-Security-Policy, no referrer
//! (the token is in the URL), never cached. Opening a link changes nothing
//! (mail scanners prefetch links): each page is a form whose POST, carrying
//! the token, does the work. There are no cookies, so a cross-site POST could
//! not ride on anyone's session; cross-site form posts are refused anyway.

use crate::error::ApiError;
use crate::extract::Client;
use crate::limits::RouteClass;
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use portcullis_application::AppError;
use portcullis_application::auth::{Authenticated, SignIn};
use portcullis_application::mail::escape_html as esc;
use portcullis_domain::mfa::SecondFactor;
use portcullis_domain::secret::Secret;
use serde::Deserialize;

const CSP: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} — Portcullis</title></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title)
    );
    let mut response = HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn ok(title: &str, body: &str) -> HttpResponse {
    page(actix_web::http::StatusCode::OK, title, body)
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize)]
pub struct InvitationForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

fn hidden_token(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"token\" value=\"{}\">", esc(token))
}

fn missing_token() -> HttpResponse {
    page(
        actix_web::http::StatusCode::BAD_REQUEST,
        "Link incomplete",
        "<p>This link has no token. Open the link from the mail exactly as it was sent.</p>",
    )
}

/// A form may only be posted from these pages: a cross-site post is refused
/// (`Sec-Fetch-Site` from browsers that send it; otherwise `Origin`, if any,
/// must be this host).
fn same_site(req: &HttpRequest) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = req.connection_info().host().to_owned();
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host.as_str())
        }
    }
}

/// What every form post passes before its work: same-site only, then the
/// credential budget of this page's route, counted once the form reads.
async fn accept_post(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if !same_site(req) {
        return Err(AppError::Forbidden.into());
    }
    let class = req.extensions().get::<RouteClass>().copied().unwrap_or(RouteClass::Credential("page"));
    crate::rate_limit::enforce_source(req, state, class).await
}

fn link_error(error: &AppError, what: &str) -> HttpResponse {
    let text = match error {
        AppError::TokenExpired => format!("This {what} link has expired. Ask for a new one."),
        AppError::InvalidToken => {
            format!("This {what} link is not valid (it may have been used already). Ask for a new one.")
        }
        AppError::InvitationMismatch(_) => "An account with this address exists already. Sign in to it in your application and accept the invitation there; the roles are added to that account.".to_owned(),
        _ => "Something went wrong on our side. Please try again shortly.".to_owned(),
    };
    let status = match error {
        AppError::TokenExpired | AppError::InvalidToken => actix_web::http::StatusCode::BAD_REQUEST,
        AppError::InvitationMismatch(_) => actix_web::http::StatusCode::CONFLICT,
        _ => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    page(status, "Link not accepted", &format!("<p role=\"alert\">{}</p>", esc(&text)))
}

/// A page whose only content is a one-button form posting the link's token
/// back to `action`: opening the link changes nothing.
fn confirm_page(token: &str, title: &str, action: &str, button: &str) -> HttpResponse {
    if token.is_empty() {
        return missing_token();
    }
    ok(
        title,
        &format!(
            "<form method=\"post\" action=\"{action}\">{}<button type=\"submit\">{button}</button></form>",
            hidden_token(token)
        ),
    )
}

pub async fn verify_email_page(query: web::Query<TokenQuery>) -> HttpResponse {
    confirm_page(&query.token, "Confirm your email address", "/verify-email", "Confirm my email address")
}

pub async fn verify_email_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    accept_post(&req, &state).await?;
    Ok(match state.links.verify_email(&Secret::new(form.token.clone()), &client.0).await {
        Ok(user) => ok(
            "Email address confirmed",
            &format!(
                "<p role=\"status\">{} is confirmed. You can close this page.</p>",
                esc(user.email.as_str())
            ),
        ),
        Err(error) => link_error(&error, "confirmation"),
    })
}

/// The policy's complaints above a form (nothing when there are none).
fn problem_list(intro: &str, id: &str, problems: &[String]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let items: String = problems.iter().map(|p| format!("<li>{}</li>", esc(p))).collect();
    format!("<div role=\"alert\"><p>{}</p><ul id=\"{id}\">{items}</ul></div>", esc(intro))
}

fn reset_form(token: &str, problems: &[String]) -> String {
    let errors = problem_list("The new password was not accepted:", "password-problems", problems);
    format!(
        "{errors}<form method=\"post\" action=\"/reset-password\">{}<p><label for=\"new_password\">New password</label> <input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"1\"{}></p><button type=\"submit\">Set the new password</button></form>",
        hidden_token(token),
        if problems.is_empty() {
            ""
        } else {
            " aria-describedby=\"password-problems\" aria-invalid=\"true\""
        }
    )
}

pub async fn reset_password_page(query: web::Query<TokenQuery>) -> HttpResponse {
    if query.token.is_empty() {
        return missing_token();
    }
    ok("Choose a new password", &reset_form(&query.token, &[]))
}

pub async fn reset_password_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, ApiError> {
    accept_post(&req, &state).await?;
    let form = form.into_inner();
    let result = state
        .links
        .reset_password(&Secret::new(form.token.clone()), &Secret::new(form.new_password), &client.0)
        .await;
    Ok(match result {
        Ok(()) => ok(
            "Password changed",
            "<p role=\"status\">Your password was changed and every session was signed out. You can sign in with the new password.</p>",
        ),
        Err(AppError::Validation(errors)) => {
            let problems: Vec<String> = errors.0.iter().map(|v| v.message.clone()).collect();
            page(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Choose a new password",
                &reset_form(&form.token, &problems),
            )
        }
        Err(error) => link_error(&error, "password reset"),
    })
}

pub async fn magic_link_page(query: web::Query<TokenQuery>) -> HttpResponse {
    confirm_page(&query.token, "Sign in", "/magic-link", "Sign me in")
}

pub async fn magic_link_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    accept_post(&req, &state).await?;
    Ok(match state.links.verify_magic_link(&Secret::new(form.token.clone()), &client.0).await {
        Ok(SignIn::Complete(signed_in)) => signed_in_page(&signed_in),
        Ok(SignIn::MfaRequired(challenge)) => {
            ok("Two-step sign-in", &challenge_form(challenge.id.expose(), &[]))
        }
        Err(error) => link_error(&error, "sign-in"),
    })
}

fn signed_in_page(signed_in: &Authenticated) -> HttpResponse {
    ok(
        "Signed in",
        &format!(
            "<p role=\"status\">Signed in as {}. A new session was opened; its tokens are below for the API (they are shown once and never cached).</p><dl><dt>Access token</dt><dd><code id=\"access-token\">{}</code></dd><dt>Refresh token</dt><dd><code id=\"refresh-token\">{}</code></dd></dl>",
            esc(signed_in.user.email.as_str()),
            esc(signed_in.tokens.access_token.expose()),
            esc(signed_in.tokens.refresh_token.expose())
        ),
    )
}

/// The second step of a magic-link sign-in when the account has a second
/// factor: a code from the app, or a backup code.
fn challenge_form(challenge_id: &str, problems: &[String]) -> String {
    let errors = problem_list("Not signed in:", "challenge-problems", problems);
    format!(
        "{errors}<p>This account has two-step sign-in. Enter the 6-digit code from your authenticator app, or one of your backup codes.</p><form method=\"post\" action=\"/magic-link/challenge\"><input type=\"hidden\" name=\"challenge_id\" value=\"{}\"><p><label for=\"code\">Code</label> <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"text\" autocomplete=\"one-time-code\" required maxlength=\"64\" autofocus></p><button type=\"submit\">Sign in</button></form>",
        esc(challenge_id)
    )
}

#[derive(Debug, Deserialize)]
pub struct ChallengeForm {
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    code: String,
}

pub async fn magic_link_challenge_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    form: web::Form<ChallengeForm>,
) -> Result<HttpResponse, ApiError> {
    accept_post(&req, &state).await?;
    let code = portcullis_domain::mfa::normalize_code(&form.code);
    // Six digits are an app's code; anything else is tried as a backup code.
    let method = if portcullis_domain::mfa::is_totp_shaped(&code) {
        SecondFactor::Totp
    } else {
        SecondFactor::BackupCode
    };
    let answer = state
        .mfa
        .answer_challenge(&Secret::new(form.challenge_id.clone()), method, &Secret::new(code), &client.0)
        .await;
    Ok(match answer {
        Ok(signed_in) => signed_in_page(&signed_in),
        Err(AppError::InvalidCode) => page(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Two-step sign-in",
            &challenge_form(
                &form.challenge_id,
                &["That code is not valid (or was used already).".to_owned()],
            ),
        ),
        Err(AppError::AccountLocked { .. }) => page(
            actix_web::http::StatusCode::LOCKED,
            "Two-step sign-in",
            "<p role=\"alert\">Too many wrong codes. Wait a while, then ask for a new sign-in link.</p>",
        ),
        Err(AppError::ChallengeInvalid) => page(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Two-step sign-in",
            "<p role=\"alert\">This sign-in has expired or was finished already. Ask for a new sign-in link.</p>",
        ),
        Err(error) => link_error(&error, "sign-in"),
    })
}

fn invitation_form(token: &str, display_name: &str, problems: &[String]) -> String {
    let errors = problem_list("The account was not created:", "invitation-problems", problems);
    format!(
        "{errors}<p>Choose a password for your new account. (If this address has an account already, sign in to it in your application and accept the invitation there.)</p><form method=\"post\" action=\"/accept-invitation\">{}<p><label for=\"display_name\">Your name (optional)</label> <input id=\"display_name\" name=\"display_name\" type=\"text\" autocomplete=\"name\" maxlength=\"100\" value=\"{}\"></p><p><label for=\"password\">Password</label> <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"1\"{}></p><button type=\"submit\">Create my account</button></form>",
        hidden_token(token),
        esc(display_name),
        if problems.is_empty() {
            ""
        } else {
            " aria-describedby=\"invitation-problems\" aria-invalid=\"true\""
        }
    )
}

pub async fn accept_invitation_page(query: web::Query<TokenQuery>) -> HttpResponse {
    if query.token.is_empty() {
        return missing_token();
    }
    ok("Accept your invitation", &invitation_form(&query.token, "", &[]))
}

pub async fn accept_invitation_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    form: web::Form<InvitationForm>,
) -> Result<HttpResponse, ApiError> {
    accept_post(&req, &state).await?;
    let form = form.into_inner();
    let acceptance = portcullis_application::invitations::Acceptance {
        token: Secret::new(form.token.clone()),
        password: Some(Secret::new(form.password)),
        display_name: Some(form.display_name.clone()),
        // No cookies here: an existing account accepts through the API.
        signed_in: None,
    };
    Ok(match state.invitations.accept(acceptance, &client.0).await {
        Ok(portcullis_application::invitations::Accepted::NewAccount { signed_in, .. }) => ok(
            "Welcome",
            &format!(
                "<p role=\"status\">Your account {} is ready and signed in. You can sign in with your email and the password you chose. The new session's tokens are below for the API (they are shown once and never cached).</p><dl><dt>Access token</dt><dd><code id=\"access-token\">{}</code></dd><dt>Refresh token</dt><dd><code id=\"refresh-token\">{}</code></dd></dl>",
                esc(signed_in.user.email.as_str()),
                esc(signed_in.tokens.access_token.expose()),
                esc(signed_in.tokens.refresh_token.expose())
            ),
        ),
        Ok(portcullis_application::invitations::Accepted::ExistingAccount { user, .. }) => ok(
            "Invitation accepted",
            &format!("<p role=\"status\">The roles were added to {}.</p>", esc(user.email.as_str())),
        ),
        Err(AppError::Validation(errors)) => {
            let problems: Vec<String> = errors.0.iter().map(|v| v.message.clone()).collect();
            page(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Accept your invitation",
                &invitation_form(&form.token, &form.display_name, &problems),
            )
        }
        Err(error) => link_error(&error, "invitation"),
    })
}
