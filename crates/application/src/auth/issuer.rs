//! Sessions and their tokens, shared by every way of signing in: opening a
//! session (first refresh token + access token) and ending a user's sessions
//! (the database first, then the revocation cache).

use super::TokenPair;
use crate::error::AppError;
use crate::ports::{AccessTokenIssuer, Clock, SessionStore, TokenGenerator};
use crate::revocation::Revocations;
use portcullis_domain::audit::RequestContext;
use portcullis_domain::ids::SessionId;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::session::{NewRefreshToken, Session};
use portcullis_domain::user::User;
use std::sync::Arc;
use time::Duration;

#[derive(Clone)]
pub struct SessionIssuer {
    pub sessions: Arc<dyn SessionStore>,
    pub access_tokens: Arc<dyn AccessTokenIssuer>,
    pub token_generator: Arc<dyn TokenGenerator>,
    pub clock: Arc<dyn Clock>,
    pub revocations: Revocations,
    pub refresh_token_ttl: Duration,
}

impl SessionIssuer {
    /// Opens a session: first refresh token plus an access token.
    pub async fn start(&self, user: &User, ctx: &RequestContext) -> Result<TokenPair, AppError> {
        let now = self.clock.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            revoked_at: None,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
        };
        let refresh_token = self.token_generator.refresh_token();
        let first = NewRefreshToken {
            hash: TokenHash::of(&refresh_token),
            expires_at: now + self.refresh_token_ttl,
            sealed_for_parent: Vec::new(),
        };
        self.sessions.create(&session, &first).await?;
        let access = self
            .access_tokens
            .issue(user.id, session.id, now)
            .map_err(|e| AppError::Internal(crate::Cause::new(e)))?;
        Ok(TokenPair { access_token: access.token, expires_in: access.expires_in, refresh_token })
    }
    /// Revokes the user's sessions (all, or all but `keep`) and their live
    /// access tokens; returns how many.
    pub(crate) async fn revoke_user_sessions(
        &self,
        user: &User,
        keep: Option<portcullis_domain::ids::SessionId>,
    ) -> Result<usize, AppError> {
        let revoked = self.sessions.revoke_all_for_user(user.id, keep, self.clock.now()).await?;
        for sid in &revoked {
            self.revocations.cache_session(*sid).await;
        }
        Ok(revoked.len())
    }
}
