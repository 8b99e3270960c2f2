//! `/api/v1/auth/webauthn/*` (registering and managing passkeys and security
//! keys), `/api/v1/auth/passkeys/sign-in/*` (a passkey as the first factor)
//! and `/api/v1/auth/mfa/challenge/security-key*` (a security key as the
//! second). The ceremonies' options and answers are the browser's own JSON
//! (`navigator.credentials.create/get`, WebAuthn Level 3 `toJSON()` shape).

use crate::dto::{
    CeremonyResponse, ChallengeIdRequest, PasskeySignInFinishRequest, RenameCredentialRequest,
    SecurityKeyAnswerRequest, SignInResponse, TokenResponse, WebauthnCredentialItem,
    WebauthnCredentialsResponse, WebauthnRegisterFinishRequest, WebauthnRegisterStartRequest,
    WebauthnRegisteredResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson};
use crate::handlers::{no_store, path_id, to_the_end};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis_domain::secret::Secret;

/// Begin registering a passkey (`kind: "passkey"`, signs in without a
/// password) or a security key (`"security_key"`, a second factor). Needs a
/// sign-in within `REAUTH_WINDOW`. Pass `options` to
/// `navigator.credentials.create`; finish within `expires_in` seconds.
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/register/start", tag = "mfa",
    security(("bearer" = [])),
    request_body = WebauthnRegisterStartRequest,
    responses(
        (status = 200, description = "The ceremony (no-store)", body = CeremonyResponse),
        (status = 400, description = "VALIDATION_ERROR (too many credentials)", body = ErrorEnvelope),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, or not signed in", body = ErrorEnvelope),
    )
)]
pub async fn register_start(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ValidJson<WebauthnRegisterStartRequest>,
) -> Result<HttpResponse, ApiError> {
    let ceremony = state.webauthn.start_registration(&user.0, body.0.kind.into()).await?;
    Ok(no_store(HttpResponse::Ok().json(CeremonyResponse::from(ceremony))))
}

/// Finish a registration with the authenticator's answer. A first security
/// key (the account's first second factor) returns ten backup codes, once.
#[utoipa::path(
    post, path = "/api/v1/auth/webauthn/register/finish", tag = "mfa",
    security(("bearer" = [])),
    request_body = WebauthnRegisterFinishRequest,
    responses(
        (status = 201, description = "Registered (no-store)", body = WebauthnRegisteredResponse),
        (status = 400, description = "VALIDATION_ERROR (name; an authenticator registered already)", body = ErrorEnvelope),
        (status = 401, description = "WEBAUTHN_REFUSED (details.reason), WEBAUTHN_CEREMONY_INVALID, or not signed in", body = ErrorEnvelope),
    )
)]
pub async fn register_finish(
    state: web::Data<AppState>,
    body: ValidJson<WebauthnRegisterFinishRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let body = body.0;
    let (credential, codes) = state
        .webauthn
        .finish_registration(
            &user.0,
            body.kind.into(),
            &Secret::new(body.ceremony_id),
            body.name.as_deref(),
            &body.credential,
            &client.0,
        )
        .await?;
    Ok(no_store(HttpResponse::Created().json(WebauthnRegisteredResponse {
        credential: WebauthnCredentialItem::from(&credential),
        backup_codes: codes,
    })))
}

/// The caller's passkeys and security keys, oldest first.
#[utoipa::path(
    get, path = "/api/v1/auth/webauthn/credentials", tag = "mfa",
    security(("bearer" = [])),
    responses((status = 200, body = WebauthnCredentialsResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let credentials = state.webauthn.list(&user.0).await?;
    Ok(HttpResponse::Ok().json(WebauthnCredentialsResponse {
        credentials: credentials.iter().map(WebauthnCredentialItem::from).collect(),
    }))
}

/// Rename one of the caller's credentials.
#[utoipa::path(
    patch, path = "/api/v1/auth/webauthn/credentials/{id}", tag = "mfa",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    request_body = RenameCredentialRequest,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: not one of your credentials", body = ErrorEnvelope),
    )
)]
pub async fn rename(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: ValidJson<RenameCredentialRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<uuid::Uuid>(&path, "credential")?;
    state.webauthn.rename(&user.0, id, &body.0.name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove one of the caller's credentials; needs a sign-in within
/// `REAUTH_WINDOW`. A security alert is mailed.
#[utoipa::path(
    delete, path = "/api/v1/auth/webauthn/credentials/{id}", tag = "mfa",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, or not signed in", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: not one of your credentials", body = ErrorEnvelope),
    )
)]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<uuid::Uuid>(&path, "credential")?;
    state.webauthn.remove(&user.0, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Begin a passkey sign-in. No account is named: the browser offers the
/// passkeys it holds for this site (pass `options` to
/// `navigator.credentials.get`).
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/sign-in/start", tag = "auth",
    responses((status = 200, description = "The ceremony (no-store)", body = CeremonyResponse))
)]
pub async fn sign_in_start(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    crate::extract::spend_credential_budget(&req).await?;
    let ceremony = state.webauthn.start_sign_in().await?;
    Ok(no_store(HttpResponse::Ok().json(CeremonyResponse::from(ceremony))))
}

/// Finish a passkey sign-in: tokens, or (with a second factor on) a
/// challenge, exactly as a password login answers.
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/sign-in/finish", tag = "auth",
    request_body = PasskeySignInFinishRequest,
    responses(
        (status = 200, description = "Tokens, or a second-factor challenge (no-store)", body = SignInResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "WEBAUTHN_REFUSED (details.reason), or WEBAUTHN_CEREMONY_INVALID", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED", body = ErrorEnvelope),
    )
)]
pub async fn sign_in_finish(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<PasskeySignInFinishRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let signed_in =
        state.webauthn.finish_sign_in(&Secret::new(body.ceremony_id), &body.credential, &client.0).await?;
    Ok(no_store(HttpResponse::Ok().json(SignInResponse::from(&signed_in))))
}

/// Begin answering a sign-in challenge with a security key (its methods
/// include `security_key`). Asked from the client that passed the first
/// factor.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/challenge/security-key", tag = "mfa",
    request_body = ChallengeIdRequest,
    responses(
        (status = 200, description = "The ceremony (no-store)", body = CeremonyResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "MFA_CHALLENGE_INVALID", body = ErrorEnvelope),
        (status = 409, description = "MFA_NOT_ENABLED: no security key", body = ErrorEnvelope),
    )
)]
pub async fn challenge_start(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<ChallengeIdRequest>,
) -> Result<HttpResponse, ApiError> {
    let ceremony = state.mfa.challenge_security_key(&Secret::new(body.0.challenge_id), &client.0).await?;
    Ok(no_store(HttpResponse::Ok().json(CeremonyResponse::from(ceremony))))
}

/// Answer a sign-in challenge with the security key's assertion. A refused
/// assertion counts toward the second-factor lock like a wrong code.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/challenge/security-key/finish", tag = "mfa",
    request_body = SecurityKeyAnswerRequest,
    responses(
        (status = 200, description = "Signed in with both factors (no-store)", body = TokenResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "WEBAUTHN_REFUSED, WEBAUTHN_CEREMONY_INVALID or MFA_CHALLENGE_INVALID", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED", body = ErrorEnvelope),
    )
)]
pub async fn challenge_finish(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<SecurityKeyAnswerRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mfa = state.mfa.clone();
    // A refused assertion counts toward the code lock: run to its verdict.
    let signed_in = to_the_end("security-key task failed", async move {
        let (challenge, ceremony) = (Secret::new(body.challenge_id), Secret::new(body.ceremony_id));
        mfa.answer_with_security_key(&challenge, &ceremony, &body.credential, &client.0).await
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(TokenResponse::from(&signed_in))))
}
