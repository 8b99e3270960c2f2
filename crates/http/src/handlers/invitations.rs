//! `/api/v1/admin/invitations` (invite, list, withdraw: `invitations:*`)
//! and `/api/v1/auth/invitations/accept`. These handlers parse, call and map.

use super::no_store;
use crate::dto::{
    AcceptInvitationRequest, AcceptInvitationResponse, InvitationRequest, InvitationResponse,
    InvitationsQuery, InvitationsResponse,
};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Caller, Client, MaybeUser, ValidJson, report_to_errors};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use garde::Validate;
use portcullis_application::invitations::{Acceptance, Accepted, InvitationInput};
use portcullis_domain::ids::InvitationId;
use portcullis_domain::secret::Secret;

/// Invite an address: a single-use link (7 days) is mailed to it.
#[utoipa::path(
    post, path = "/api/v1/admin/invitations", tag = "admin",
    security(("bearer" = [])),
    request_body = InvitationRequest,
    responses(
        (status = 201, description = "Invited; the mail is promised (sent by the worker)", body = InvitationResponse),
        (status = 400, description = "VALIDATION_ERROR: a bad address or an unknown role", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs invitations:write, and roles:assign for a role beyond user", body = ErrorEnvelope),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    body: ValidJson<InvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = InvitationInput { email: body.email, roles: body.roles };
    let invitation = state.invitations.invite(&caller.0, &input, &client.0).await?;
    Ok(HttpResponse::Created().json(InvitationResponse::at(&invitation, invitation.created_at)))
}

/// The newest invitations, with their state.
#[utoipa::path(
    get, path = "/api/v1/admin/invitations", tag = "admin",
    security(("bearer" = [])),
    params(InvitationsQuery),
    responses(
        (status = 200, body = InvitationsResponse),
        (status = 400, description = "VALIDATION_ERROR: a limit out of range", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: needs invitations:read", body = ErrorEnvelope),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    query: web::Query<InvitationsQuery>,
) -> Result<HttpResponse, ApiError> {
    query.validate().map_err(|r| ApiError::from(report_to_errors(&r)))?;
    let (listed, now) = state.invitations.list(&caller.0, query.limit.unwrap_or(50), &client.0).await?;
    Ok(HttpResponse::Ok().json(InvitationsResponse {
        invitations: listed.iter().map(|i| InvitationResponse::at(i, now)).collect(),
    }))
}

/// Withdraw an invitation that was not accepted yet.
#[utoipa::path(
    delete, path = "/api/v1/admin/invitations/{id}", tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Withdrawn: its link no longer works"),
        (status = 403, description = "FORBIDDEN: needs invitations:write", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such invitation, or accepted or withdrawn already", body = ErrorEnvelope),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    client: Client,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: InvitationId = super::path_id(&path, "invitation")?;
    state.invitations.revoke(&caller.0, id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accept an invitation: a new account is created with the invitation's
/// roles and signed in (201); an address with an account gets the roles
/// when its owner, signed in, accepts (200).
#[utoipa::path(
    post, path = "/api/v1/auth/invitations/accept", tag = "auth",
    security((), ("bearer" = [])),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = AcceptInvitationResponse),
        (status = 200, description = "Roles added to the signed-in account", body = AcceptInvitationResponse),
        (status = 400, description = "VALIDATION_ERROR: the password (required for a new account) or the display name", body = ErrorEnvelope),
        (status = 401, description = "INVALID_TOKEN (unknown, used or withdrawn), TOKEN_EXPIRED, or UNAUTHORIZED with details.reason account_exists: sign in to the invited account and accept again", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN, details.reason another_account: signed in to an account of another address", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
    )
)]
pub async fn accept(
    state: web::Data<AppState>,
    caller: MaybeUser,
    client: Client,
    body: ValidJson<AcceptInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let acceptance = Acceptance {
        token: Secret::new(body.token),
        password: body.password.map(Secret::new),
        display_name: body.display_name,
        signed_in: caller.0.map(|c| c.user_id),
    };
    let accepted = state.invitations.accept(acceptance, &client.0).await?;
    let body = AcceptInvitationResponse::from(&accepted);
    Ok(match accepted {
        Accepted::NewAccount { .. } => {
            state.metrics.logins.with_label_values(&["success"]).inc();
            no_store(HttpResponse::Created().json(body))
        }
        Accepted::ExistingAccount { .. } => HttpResponse::Ok().json(body),
    })
}
