//! Extractors: the caller's context, the authenticated user, validated JSON.

use crate::error::ApiError;
use crate::limits::{Authenticated, KeyKind, RouteClass};
use crate::rate_limit::enforce;
use crate::request_id::AuthenticatedUserId;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::{LocalBoxFuture, Ready, ready};
use portcullis_application::AppError;
use portcullis_application::ports::AccessClaims;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde::de::DeserializeOwned;

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::App(AppError::Internal("application state missing".into())))
}

/// Where the request came from, for audit events.
pub struct Client(pub RequestContext);

impl Client {
    pub fn from_request(req: &HttpRequest) -> Self {
        Self(crate::caller::context(req))
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::from_request(req)))
    }
}

pub(crate) use crate::caller::bearer;

/// A caller with a valid, unrevoked access token. Also counts the request
/// against the per-user limit.
pub struct AuthUser(pub AccessClaims);

/// The access token of a request: the `Authorization: Bearer` header or, for
/// a WebSocket handshake only (browsers cannot set headers on one), the
/// `access_token` query parameter.
pub(crate) fn credential(req: &HttpRequest) -> Result<String, ApiError> {
    let header = bearer(req);
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if header.is_ok() || !upgrade {
        return header;
    }
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match query.get("access_token").map(|t| t.trim()) {
        Some(token) if !token.is_empty() => Ok(token.to_owned()),
        _ => header,
    }
}

/// Verifies the bearer token (once per request: a route policy and the
/// extractors share the result) and counts the request against the per-user
/// limit. A request without a token is audited like a rejected one
/// (deduplicated per source), with the route it tried.
pub(crate) async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<AccessClaims, ApiError> {
    if let Some(done) = req.extensions().get::<Authenticated>() {
        return Ok(done.0.clone());
    }
    let ctx = Client::from_request(req).0;
    let verified = req.extensions().get::<crate::limits::VerifiedToken>().map(|v| v.0.clone());
    if let Some(claims) = verified {
        return admitted(req, state, state.sign_in.admit(claims, &ctx).await?).await;
    }
    let token = match credential(req) {
        Ok(token) => token,
        Err(error) => {
            let key = format!("access:{}:missing", ctx.ip.as_deref().unwrap_or("-"));
            let details = serde_json::json!({ "reason": "missing", "route": ctx.route });
            state.audit.record_deduped(&key, AuditAction::AccessTokenRejected, None, &ctx, details).await;
            return Err(error);
        }
    };
    let claims = state.sign_in.authenticate(&token, &ctx).await?;
    admitted(req, state, claims).await
}

/// A caller whose token was accepted: recorded for the access log and the
/// extractors, and counted against the per-user budget.
async fn admitted(
    req: &HttpRequest,
    state: &AppState,
    claims: AccessClaims,
) -> Result<AccessClaims, ApiError> {
    req.extensions_mut().insert(AuthenticatedUserId(claims.user_id));
    enforce(
        req,
        state,
        RouteClass::General,
        KeyKind::User,
        &claims.user_id.to_string(),
        Some(claims.user_id),
    )
    .await?;
    req.extensions_mut().insert(Authenticated(claims.clone()));
    Ok(claims)
}

impl AuthUser {
    /// The caller, checked inside a handler once its body has been read: a
    /// credential route spends its budget when the body reads (`ValidJson`),
    /// which must come before a refusal of the bearer (extractors run
    /// together, and the first to fail answers).
    pub async fn after_body(req: &HttpRequest) -> Result<Self, ApiError> {
        let state = state(req)?;
        Ok(Self(authenticate(req, &state).await?))
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            Ok(Self(authenticate(&req, &state).await?))
        })
    }
}

/// The caller of a route that serves both the signed-in and the anonymous:
/// a request with an `Authorization` header must carry a valid token
/// (401 otherwise, never silently anonymous); one without is anonymous.
pub struct MaybeUser(pub Option<AccessClaims>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if !req.headers().contains_key(header::AUTHORIZATION) {
                return Ok(Self(None));
            }
            let state = state(&req)?;
            Ok(Self(Some(authenticate(&req, &state).await?)))
        })
    }
}

/// The authenticated caller as the use cases take it: who, in which
/// session, with which permissions ([`AuthUser`] first, then
/// `AccessControl::principal`).
pub struct Caller(pub portcullis_application::access::Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            // Built by the route's policy already, when it declares one.
            if let Some(principal) = req.extensions().get::<portcullis_application::access::Principal>() {
                return Ok(Self(principal.clone()));
            }
            let user = user.await?;
            let state = state(&req)?;
            Ok(Self(state.access.principal(&user.0).await?))
        })
    }
}

/// A missing required field is a field problem like any other
/// (VALIDATION_ERROR naming it); anything else the body got wrong (a wrong
/// type, an unknown field) is BAD_REQUEST.
fn deserialize_error(error: &serde_json::Error) -> ApiError {
    let text = error.to_string();
    let missing = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    match missing {
        Some(field) => ValidationErrors::single(field, "required", "is required").into(),
        None => ApiError::BadRequest(text),
    }
}

/// JSON body that passed its garde rules (shape and bounds; the domain checks
/// the business rules when the DTO becomes domain types).
pub struct ValidJson<T>(pub T);

pub fn report_to_errors(report: &garde::Report) -> ValidationErrors {
    ValidationErrors(
        report
            .iter()
            .map(|(path, error)| {
                let field = path.to_string();
                let field = if field.is_empty() { "body".to_owned() } else { field };
                FieldViolation::new(&field, "invalid", error.message())
            })
            .collect(),
    )
}

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + garde::Validate + 'static,
    T::Context: Default,
{
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            // Bodies are JSON objects: serde would also read a struct from an array.
            let value = match json.await?.into_inner() {
                object @ serde_json::Value::Object(_) => object,
                _ => return Err(ApiError::BadRequest("the body must be a JSON object".into()).into()),
            };
            let value: T = serde_json::from_value(value).map_err(|e| deserialize_error(&e))?;
            value.validate().map_err(|report| ApiError::from(report_to_errors(&report)))?;
            // A credential route spends its per-source budget now, not before
            // the body could be read (see `rate_limit::per_route`).
            spend_credential_budget(&req).await?;
            Ok(Self(value))
        })
    }
}

/// Spends the per-source budget of the credential route that matched (its
/// class was recorded by `rate_limit::per_route`); nothing on other routes.
/// Called once the request is known to be well-formed: by [`ValidJson`],
/// and by credential routes that take no body.
pub async fn spend_credential_budget(req: &HttpRequest) -> Result<(), ApiError> {
    let class = req.extensions().get::<RouteClass>().copied();
    if let Some(class @ RouteClass::Credential(_)) = class {
        let state = state(req)?;
        crate::rate_limit::enforce_source(req, &state, class).await?;
    }
    Ok(())
}
