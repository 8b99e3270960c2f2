//! Route policies: a route that needs a permission declares it where it is
//! registered (next to its rate-limit class, see `lib.rs`), and this
//! middleware enforces it before the handler runs, whatever the handler
//! extracts: the caller is authenticated, their principal built (cached
//! permissions) and the permission required through the application's
//! `AccessControl` (a refusal is 403 `FORBIDDEN`, audited). The principal
//! is left in the request for the `Caller` extractor.

use crate::error::ApiError;
use crate::extract::{Client, authenticate};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use portcullis_application::AppError;
use portcullis_application::access::{Permission, Principal};

async fn authorize(req: &HttpRequest, permission: &Permission) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::App(AppError::Internal("application state missing".into())))?;
    let claims = authenticate(req, &state).await?;
    let principal = state.access.principal(&claims).await?;
    state.access.require(&principal, permission, &Client::from_request(req).0).await?;
    Ok(principal)
}

/// Route middleware: the caller must hold `permission`.
pub async fn require(
    permission: Permission,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    match authorize(req.request(), &permission).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req).await.map(ServiceResponse::map_into_boxed_body)
        }
        Err(error) => Ok(req.error_response(error)),
    }
}
