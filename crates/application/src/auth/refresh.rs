use super::{AuthService, Authenticated, Refreshed, TokenPair};
use crate::error::AppError;
use crate::ports::RotateOutcome;
use crate::seal::{seal_child, unseal_child};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::secret::{Secret, TokenHash};
use portcullis_domain::session::{NewRefreshToken, Session};
use serde_json::json;

impl AuthService {
    /// Exchanges a refresh token for a new pair, rotating it. See
    /// `portcullis_domain::session` for the reuse and grace rules.
    pub async fn refresh(&self, presented: &Secret, ctx: &RequestContext) -> Result<Refreshed, AppError> {
        if presented.expose().is_empty() || presented.expose().len() > 256 {
            self.refresh_refused("malformed", ctx).await;
            return Err(AppError::InvalidToken);
        }
        let now = self.ports.clock.now();
        let presented_hash = TokenHash::of(presented);
        let child = self.ports.token_generator.refresh_token();
        let new = NewRefreshToken {
            hash: TokenHash::of(&child),
            expires_at: now + self.settings.refresh_token_ttl,
            sealed_for_parent: seal_child(presented, &child),
        };
        let outcome =
            self.ports.sessions.rotate(&presented_hash, &new, now, self.settings.refresh_reuse_grace).await?;
        match outcome {
            RotateOutcome::Rotated { session } => {
                let refreshed = self.pair_for(&session, child, false).await?;
                self.audit
                    .record(
                        AuditAction::TokenRefreshed,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id }),
                    )
                    .await;
                Ok(refreshed)
            }
            RotateOutcome::Grace { session, sealed_child } => {
                let Some(current) = unseal_child(presented, &sealed_child) else {
                    return Err(AppError::InvalidToken);
                };
                let refreshed = self.pair_for(&session, current, true).await?;
                self.audit
                    .record(
                        AuditAction::TokenRefreshed,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id, "grace": true }),
                    )
                    .await;
                Ok(refreshed)
            }
            RotateOutcome::Reused { session } => {
                // The store revoked the family; kill its live access tokens too.
                self.revocations.cache_session(session.id).await;
                self.audit
                    .record(
                        AuditAction::RefreshTokenReuseDetected,
                        Some(session.user_id),
                        ctx,
                        json!({ "session_id": session.id }),
                    )
                    .await;
                Err(AppError::RefreshTokenReused)
            }
            RotateOutcome::Expired => {
                self.refresh_refused("expired", ctx).await;
                Err(AppError::TokenExpired)
            }
            RotateOutcome::Revoked => {
                self.refresh_refused("session_revoked", ctx).await;
                Err(AppError::InvalidToken)
            }
            RotateOutcome::Unknown => {
                self.refresh_refused("unknown", ctx).await;
                Err(AppError::InvalidToken)
            }
        }
    }

    /// Audits a refused refresh, once a minute per source and reason.
    async fn refresh_refused(&self, reason: &str, ctx: &RequestContext) {
        let key = format!("refresh:{}:{reason}", ctx.ip.as_deref().unwrap_or("-"));
        self.audit
            .record_deduped(&key, AuditAction::RefreshRefused, None, ctx, json!({ "reason": reason }))
            .await;
    }

    async fn pair_for(
        &self,
        session: &Session,
        refresh_token: Secret,
        grace: bool,
    ) -> Result<Refreshed, AppError> {
        let user = self.ports.users.find_by_id(session.user_id).await?.ok_or(AppError::InvalidToken)?;
        let access = self
            .ports
            .access_tokens
            .issue(user.id, session.id, self.ports.clock.now())
            .map_err(|e| AppError::Internal(crate::Cause::new(e)))?;
        Ok(Refreshed {
            authenticated: Authenticated {
                tokens: TokenPair {
                    access_token: access.token,
                    expires_in: access.expires_in,
                    refresh_token,
                },
                user,
            },
            grace,
        })
    }
}
