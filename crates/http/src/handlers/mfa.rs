//! `/api/v1/auth/mfa*` and `/api/v1/auth/reauthenticate`: second factors and
//! step-up. The use cases decide; these translate.

use crate::dto::{
    AccessTokenResponse, BackupCodesResponse, ChallengeIdRequest, CodeRequest, FactorCodeRequest, FactorName,
    MfaChallengeRequest, MfaStatusResponse, ReauthenticateRequest, SmsSentResponse, SmsSetupRequest,
    TokenResponse, TotpSetupResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{AuthUser, Client, ValidJson};
use crate::handlers::{no_store, to_the_end};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis_application::AppError;
use portcullis_application::auth::Proof;
use portcullis_domain::secret::Secret;

/// Which second factors are on, and how many backup codes remain.
#[utoipa::path(
    get, path = "/api/v1/auth/mfa", tag = "mfa",
    security(("bearer" = [])),
    responses((status = 200, body = MfaStatusResponse), (status = 401, body = ErrorEnvelope))
)]
pub async fn status(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let status = state.mfa.status(&user.0).await?;
    Ok(HttpResponse::Ok().json(MfaStatusResponse::from(status)))
}

/// Start enrolling an authenticator app. The secret stays pending until a
/// code from the app confirms it (`/mfa/totp/verify`); asking again replaces
/// a pending secret.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/setup", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Shown once (no-store)", body = TotpSetupResponse),
        (status = 401, body = ErrorEnvelope),
        (status = 409, description = "MFA_ALREADY_ENABLED", body = ErrorEnvelope),
    )
)]
pub async fn totp_setup(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let provisioning = state.mfa.setup_totp(&user.0).await?;
    Ok(no_store(HttpResponse::Ok().json(TotpSetupResponse::from(provisioning))))
}

/// Confirm the pending authenticator app with a current code: the second
/// factor is on, and ten backup codes are returned, this once.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/verify", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Backup codes, shown once (no-store)", body = BackupCodesResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CODE, or not signed in", body = ErrorEnvelope),
        (status = 409, description = "MFA_ALREADY_ENABLED, or MFA_NOT_ENABLED (no enrolment started)", body = ErrorEnvelope),
    )
)]
pub async fn totp_verify(
    state: web::Data<AppState>,
    body: ValidJson<CodeRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let codes = state.mfa.confirm_totp(&user.0, &Secret::new(body.0.code), &client.0).await?;
    Ok(no_store(HttpResponse::Ok().json(BackupCodesResponse { backup_codes: codes })))
}

/// Replace every backup code; needs a current code from the app (default)
/// or a texted one (`method: "sms"`, sent by `/mfa/sms/send`).
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/backup-codes/regenerate", tag = "mfa",
    security(("bearer" = [])),
    request_body = FactorCodeRequest,
    responses(
        (status = 200, description = "The new codes, shown once (no-store)", body = BackupCodesResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CODE, or not signed in", body = ErrorEnvelope),
        (status = 409, description = "MFA_NOT_ENABLED", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED: too many wrong codes", body = ErrorEnvelope),
    )
)]
pub async fn regenerate_backup_codes(
    state: web::Data<AppState>,
    body: ValidJson<FactorCodeRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let method = body.0.method.unwrap_or(FactorName::Totp).into();
    let (mfa, code) = (state.mfa.clone(), Secret::new(body.0.code));
    let codes = to_the_end("backup-code task failed", async move {
        mfa.regenerate_backup_codes(&user.0, method, &code, &client.0).await
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(BackupCodesResponse { backup_codes: codes })))
}

/// Turn second-factor authentication off: the app, the phone and the backup
/// codes all go. Needs a sign-in (or step-up) within `REAUTH_WINDOW` and a
/// current code (app, texted, or a backup code).
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/disable", tag = "mfa",
    security(("bearer" = [])),
    request_body = FactorCodeRequest,
    responses(
        (status = 204, description = "Off; a security alert is mailed"),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, INVALID_CODE, or not signed in", body = ErrorEnvelope),
        (status = 409, description = "MFA_NOT_ENABLED", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED: too many wrong codes", body = ErrorEnvelope),
    )
)]
pub async fn disable(
    state: web::Data<AppState>,
    body: ValidJson<FactorCodeRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let method = body.0.method.unwrap_or(FactorName::Totp).into();
    let (mfa, code) = (state.mfa.clone(), Secret::new(body.0.code));
    to_the_end("disable task failed", async move { mfa.disable(&user.0, method, &code, &client.0).await })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Answer a sign-in challenge with a second factor: the session opens.
/// Wrong codes count toward the account's code lock; the challenge stays
/// open until it expires (5 minutes) or is answered.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/challenge", tag = "mfa",
    request_body = MfaChallengeRequest,
    responses(
        (status = 200, description = "Signed in with both factors (no-store)", body = TokenResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CODE, or MFA_CHALLENGE_INVALID (unknown, answered, expired, or another client)", body = ErrorEnvelope),
        (status = 403, description = "ACCOUNT_DISABLED", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED: too many wrong codes", body = ErrorEnvelope),
    )
)]
pub async fn challenge(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<MfaChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mfa = state.mfa.clone();
    let result = to_the_end("challenge task failed", async move {
        mfa.answer_challenge(
            &Secret::new(body.challenge_id),
            body.method.into(),
            &Secret::new(body.code),
            &client.0,
        )
        .await
    })
    .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(AppError::AccountLocked { .. }) => "locked",
        Err(AppError::InvalidCode) => "failure",
        Err(_) => "error",
    };
    state.metrics.logins.with_label_values(&[outcome]).inc();
    Ok(no_store(HttpResponse::Ok().json(TokenResponse::from(&result?))))
}

/// Step-up: prove again who you are (password, or a second-factor code) to
/// move the session's `auth_time` to now. Answers a new access token for
/// the same session; the refresh token is unchanged.
#[utoipa::path(
    post, path = "/api/v1/auth/reauthenticate", tag = "mfa",
    security(("bearer" = [])),
    request_body = ReauthenticateRequest,
    responses(
        (status = 200, description = "A new access token (no-store)", body = AccessTokenResponse),
        (status = 400, description = "BAD_REQUEST: neither or both of `password` and `code`; VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CREDENTIALS, INVALID_CODE, or not signed in", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED", body = ErrorEnvelope),
    )
)]
pub async fn reauthenticate(
    state: web::Data<AppState>,
    body: ValidJson<ReauthenticateRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let proof = match body.0 {
        ReauthenticateRequest::Password(p) => Proof::Password(Secret::new(p.password)),
        ReauthenticateRequest::Code(c) => {
            Proof::Code { method: c.method.unwrap_or(FactorName::Totp).into(), code: Secret::new(c.code) }
        }
    };
    let mfa = state.mfa.clone();
    let claims = user.0.clone();
    let issued = to_the_end("reauthentication task failed", async move {
        mfa.reauthenticate(&claims, &proof, &client.0).await
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(AccessTokenResponse {
        access_token: issued.token.expose().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in.whole_seconds(),
    })))
}

/// Start enrolling a phone: the number (international form) is checked and
/// kept pending, and a six-digit code is texted to it (valid 5 minutes).
/// Confirm with `/mfa/sms/verify`. With another factor on, this needs a
/// sign-in within `REAUTH_WINDOW`.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/sms/setup", tag = "mfa",
    security(("bearer" = [])),
    request_body = SmsSetupRequest,
    responses(
        (status = 202, description = "The code is on its way", body = SmsSentResponse),
        (status = 400, description = "VALIDATION_ERROR (`phone`: invalid_phone)", body = ErrorEnvelope),
        (status = 401, description = "REAUTHENTICATION_REQUIRED, or not signed in", body = ErrorEnvelope),
        (status = 409, description = "MFA_ALREADY_ENABLED: a phone is confirmed", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED: too many texts to this user or number", body = ErrorEnvelope),
    )
)]
pub async fn sms_setup(
    state: web::Data<AppState>,
    user: AuthUser,
    body: ValidJson<SmsSetupRequest>,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let sent = state.mfa.setup_sms(&user.0, &body.0.phone, &client.0).await?;
    Ok(HttpResponse::Accepted().json(SmsSentResponse::from(sent)))
}

/// Confirm the pending phone with the code texted to it. The phone is then
/// a second factor; when it is the account's first, ten backup codes are
/// returned this once (otherwise `backup_codes` is empty: the set stays).
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/sms/verify", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Backup codes, if new (no-store)", body = BackupCodesResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "INVALID_CODE, or not signed in", body = ErrorEnvelope),
        (status = 409, description = "MFA_ALREADY_ENABLED, or MFA_NOT_ENABLED (no phone pending)", body = ErrorEnvelope),
        (status = 423, description = "ACCOUNT_LOCKED: too many wrong codes", body = ErrorEnvelope),
    )
)]
pub async fn sms_verify(
    state: web::Data<AppState>,
    body: ValidJson<CodeRequest>,
    req: HttpRequest,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let user = AuthUser::after_body(&req).await?;
    let (mfa, code) = (state.mfa.clone(), Secret::new(body.0.code));
    let codes = to_the_end("phone confirmation task failed", async move {
        mfa.confirm_sms(&user.0, &code, &client.0).await
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(BackupCodesResponse { backup_codes: codes })))
}

/// Text a step-up code to the confirmed phone: for `/auth/reauthenticate`,
/// `/mfa/disable` and `/mfa/backup-codes/regenerate` with `method: "sms"`.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/sms/send", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The code is on its way", body = SmsSentResponse),
        (status = 401, body = ErrorEnvelope),
        (status = 409, description = "MFA_NOT_ENABLED: no confirmed phone", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED: too many texts to this user or number", body = ErrorEnvelope),
    )
)]
pub async fn sms_send(
    state: web::Data<AppState>,
    user: AuthUser,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let sent = state.mfa.send_sms_code(&user.0, &client.0).await?;
    Ok(HttpResponse::Accepted().json(SmsSentResponse::from(sent)))
}

/// Text a sign-in code for an open challenge whose methods include `sms`;
/// then answer at `/mfa/challenge` with `method: "sms"`. Asked from the
/// client that passed the first factor.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/challenge/sms", tag = "mfa",
    request_body = ChallengeIdRequest,
    responses(
        (status = 202, description = "The code is on its way", body = SmsSentResponse),
        (status = 400, description = "VALIDATION_ERROR", body = ErrorEnvelope),
        (status = 401, description = "MFA_CHALLENGE_INVALID (unknown, answered, expired, or another client)", body = ErrorEnvelope),
        (status = 409, description = "MFA_NOT_ENABLED: the account has no confirmed phone", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
    )
)]
pub async fn challenge_sms(
    state: web::Data<AppState>,
    client: Client,
    body: ValidJson<ChallengeIdRequest>,
) -> Result<HttpResponse, ApiError> {
    let sent = state.mfa.challenge_sms(&Secret::new(body.0.challenge_id), &client.0).await?;
    Ok(HttpResponse::Accepted().json(SmsSentResponse::from(sent)))
}
