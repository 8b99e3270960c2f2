//! `/api/v1/oauth/*`: sign-in with OAuth 2.0 / OpenID Connect providers,
//! linking them to an account, and the linked accounts.

use crate::dto::{
    AuthorizeUrlResponse, ConfirmLinkRequest, LinkRequiredResponse, LinkedAccountItem,
    LinkedAccountsResponse, OAuthCallbackQuery, OAuthCallbackResponse, SignInResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson};
use crate::handlers::{no_store, path_id, to_the_end};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis_application::AppError;
use portcullis_application::auth::OAuthOutcome;
use portcullis_application::ports::OAuthRefusal;
use portcullis_domain::secret::Secret;

/// Begin signing in with `provider`: 302 to the provider, with `state`,
/// PKCE (S256) and, for OpenID Connect, a `nonce`, all kept server-side for
/// 10 minutes. Unknown provider: 404.
#[utoipa::path(
    get, path = "/api/v1/oauth/{provider}/authorize", tag = "auth",
    params(("provider" = String, Path, description = "A name from OAUTH_PROVIDERS")),
    responses(
        (status = 302, description = "To the provider (Location)"),
        (status = 404, description = "NOT_FOUND: no such provider", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: the provider cannot be reached", body = ErrorEnvelope),
    )
)]
pub async fn authorize(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::extract::spend_credential_budget(&req).await?;
    let url = state.oauth.authorize(&path, None).await?;
    Ok(no_store(HttpResponse::Found().insert_header(("location", url)).finish()))
}

/// Begin linking `provider` to the signed-in account (needs a sign-in within
/// `REAUTH_WINDOW`): send the browser to `authorize_url`; the callback links.
#[utoipa::path(
    post, path = "/api/v1/oauth/{provider}/link", tag = "auth",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "A name from OAUTH_PROVIDERS")),
    responses(
        (status = 200, description = "Where to send the browser (no-store)", body = AuthorizeUrlResponse),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, or not signed in", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such provider", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE", body = ErrorEnvelope),
    )
)]
pub async fn link(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let url = state.oauth.authorize(&path, Some(&user.0)).await?;
    Ok(no_store(HttpResponse::Ok().json(AuthorizeUrlResponse { authorize_url: url })))
}

/// Where the provider sends the browser back. Answers the sign-in (tokens,
/// or a second-factor challenge), `{linked}` for a link begun by a signed-in
/// user, or `{link_required}` when an account already has the provider's
/// verified address: its owner confirms with the password at
/// `/oauth/link/confirm`.
#[utoipa::path(
    get, path = "/api/v1/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "A name from OAUTH_PROVIDERS"), OAuthCallbackQuery),
    responses(
        (status = 200, description = "Signed in, linked, or a link to confirm (no-store)", body = OAuthCallbackResponse),
        (status = 400, description = "BAD_REQUEST: neither code nor error", body = ErrorEnvelope),
        (status = 401, description = "OAUTH_STATE_INVALID (unknown, used, expired, another provider), OAUTH_REFUSED (details.reason)", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such provider", body = ErrorEnvelope),
        (status = 409, description = "OAUTH_EMAIL_UNVERIFIED, OAUTH_ACCOUNT_LINKED", body = ErrorEnvelope),
        (status = 503, description = "SERVICE_UNAVAILABLE: the provider cannot be reached", body = ErrorEnvelope),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: Client,
    path: web::Path<String>,
    query: web::Query<OAuthCallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    crate::extract::spend_credential_budget(&req).await?;
    let query = query.into_inner();
    if query.error.is_some() {
        return Err(AppError::OAuthRefused(OAuthRefusal::Denied).into());
    }
    let (Some(code), Some(oauth_state)) = (query.code, query.state) else {
        return Err(ApiError::BadRequest("the callback needs `code` and `state` (or `error`)".into()));
    };
    let outcome =
        state.oauth.callback(&path, &Secret::new(code), &Secret::new(oauth_state), &client.0).await?;
    let body = match outcome {
        OAuthOutcome::SignedIn(signed_in) => {
            OAuthCallbackResponse::SignedIn(SignInResponse::from(&signed_in))
        }
        OAuthOutcome::Linked(link) => {
            OAuthCallbackResponse::Linked { linked: LinkedAccountItem::from(&link) }
        }
        OAuthOutcome::LinkRequired { link_id, provider, email, expires_in } => {
            OAuthCallbackResponse::LinkRequired(LinkRequiredResponse {
                link_required: true,
                link_id: link_id.expose().to_owned(),
                provider,
                email,
                expires_in: expires_in.whole_seconds(),
            })
        }
    };
    Ok(no_store(HttpResponse::Ok().json(body)))
}

/// Accept an offered link with the existing account's password (counted
/// like a login): the provider account is linked and the owner signed in.
#[utoipa::path(
    post, path = "/api/v1/oauth/link/confirm", tag = "auth",
    request_body = ConfirmLinkRequest,
    responses(
        (status = 200, description = "Tokens, or a second-factor challenge (no-store)", body = SignInResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CREDENTIALS, OAUTH_STATE_INVALID", body = ErrorEnvelope),
        (status = 409, description = "OAUTH_ACCOUNT_LINKED", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED", body = ErrorEnvelope),
    )
)]
pub async fn confirm_link(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<ConfirmLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let oauth = state.oauth.clone();
    let (link_id, password) = (Secret::new(body.link_id), Secret::new(body.password));
    let signed_in =
        to_the_end(
            "link task failed",
            async move { oauth.confirm_link(&link_id, &password, &client.0).await },
        )
        .await?;
    Ok(no_store(HttpResponse::Ok().json(SignInResponse::from(&signed_in))))
}

/// The caller's linked provider accounts, oldest first.
#[utoipa::path(
    get, path = "/api/v1/oauth/accounts", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = LinkedAccountsResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn accounts(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let accounts = state.oauth.accounts(&user.0).await?;
    Ok(HttpResponse::Ok()
        .json(LinkedAccountsResponse { accounts: accounts.iter().map(LinkedAccountItem::from).collect() }))
}

/// Remove a linked provider account (needs a sign-in within
/// `REAUTH_WINDOW`). Refused when it is the account's last way in.
#[utoipa::path(
    delete, path = "/api/v1/oauth/accounts/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Linked account id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, or not signed in", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "LAST_SIGN_IN_METHOD: no password, passkey or other link", body = ErrorEnvelope),
    )
)]
pub async fn unlink(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<uuid::Uuid>(&path, "linked account")?;
    state.oauth.unlink(&user.0, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
