//! Who is calling and what they may do, decided here (not in handlers). A
//! [`Principal`] is built once per request from the verified access-token
//! claims and the caller's roles (cached, see [`PermissionCache`]); routes
//! declare the [`Permission`] they need and use cases check it again with
//! [`AccessControl::require`]. A refusal is audited.

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AccessClaims, Grants, PermissionCache, RoleRepository};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::permission::{self, PermissionPattern};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::Duration;

pub use portcullis_domain::permission::Permission;

/// Every permission the API checks, with what it allows (the permission list
/// of docs/admin.md is checked against this table).
pub mod permissions {
    use super::Permission;

    pub const FILES_READ: Permission = Permission::of("files", "read");
    pub const FILES_WRITE: Permission = Permission::of("files", "write");
    pub const USERS_READ: Permission = Permission::of("users", "read");
    pub const USERS_LOCK: Permission = Permission::of("users", "lock");
    pub const ROLES_READ: Permission = Permission::of("roles", "read");
    pub const ROLES_WRITE: Permission = Permission::of("roles", "write");
    pub const ROLES_ASSIGN: Permission = Permission::of("roles", "assign");
    pub const AUDIT_READ: Permission = Permission::of("audit", "read");
    pub const INVITATIONS_READ: Permission = Permission::of("invitations", "read");
    pub const INVITATIONS_WRITE: Permission = Permission::of("invitations", "write");
    pub const QUEUES_READ: Permission = Permission::of("queues", "read");
    pub const QUEUES_WRITE: Permission = Permission::of("queues", "write");

    pub const ALL: [(Permission, &str); 12] = [
        (FILES_READ, "list, read and download your own files"),
        (FILES_WRITE, "upload and delete your own files"),
        (USERS_READ, "list users and read their details, sessions and devices"),
        (USERS_LOCK, "lock and unlock accounts, end a user's sessions"),
        (ROLES_READ, "list roles"),
        (ROLES_WRITE, "create, change and delete roles"),
        (ROLES_ASSIGN, "set a user's roles; name roles in an invitation"),
        (AUDIT_READ, "read the audit trail"),
        (INVITATIONS_READ, "list invitations"),
        (INVITATIONS_WRITE, "invite people and withdraw invitations"),
        (QUEUES_READ, "read job-queue statistics and dead jobs"),
        (QUEUES_WRITE, "retry dead jobs"),
    ];
}

/// How long effective permissions are cached.
pub const GRANTS_TTL: Duration = Duration::minutes(5);

/// The caller of a use case: who, in which session, with which rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    /// The names of the roles held.
    pub roles: BTreeSet<String>,
    /// The union of the roles' patterns.
    pub permissions: BTreeSet<PermissionPattern>,
}

impl Principal {
    pub fn may(&self, wanted: &Permission) -> bool {
        permission::allowed(&self.permissions, wanted)
    }
}

/// Grants permissions and enforces them.
#[derive(Clone)]
pub struct AccessControl {
    roles: Arc<dyn RoleRepository>,
    cache: Arc<dyn PermissionCache>,
    audit: AuditTrail,
}

impl AccessControl {
    pub fn new(roles: Arc<dyn RoleRepository>, cache: Arc<dyn PermissionCache>, audit: AuditTrail) -> Self {
        Self { roles, cache, audit }
    }

    /// The principal behind verified claims, with the caller's current roles.
    /// A cache failure falls back to the database (the source of truth).
    pub async fn principal(&self, claims: &AccessClaims) -> Result<Principal, AppError> {
        let grants = self.grants(claims.user_id).await?;
        Ok(Principal {
            user_id: claims.user_id,
            session_id: claims.session_id,
            roles: grants.roles,
            permissions: grants.permissions,
        })
    }

    /// What `user` may do: from the cache while current, else from the roles.
    pub async fn grants(&self, user: portcullis_domain::ids::UserId) -> Result<Grants, AppError> {
        let seen = match self.cache.get(user).await {
            Ok((Some(grants), _)) => return Ok(grants),
            Ok((None, seen)) => Some(seen),
            Err(error) => {
                tracing::warn!(%error, "permission cache unavailable; reading roles from the database");
                None
            }
        };
        let grants = Grants::of(&self.roles.roles_of(user).await?);
        if let Some(seen) = seen
            && let Err(error) = self.cache.put(user, &grants, seen, GRANTS_TTL).await
        {
            tracing::warn!(%error, "could not cache effective permissions");
        }
        Ok(grants)
    }

    /// `Ok` when the principal holds `wanted`; otherwise the refusal is
    /// audited (once a minute per user, permission and route) and answered
    /// `Forbidden`.
    pub async fn require(
        &self,
        principal: &Principal,
        wanted: &Permission,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        if principal.may(wanted) {
            return Ok(());
        }
        let route = ctx.route.as_deref().unwrap_or("-");
        let key = format!("forbidden:{}:{wanted}:{route}", principal.user_id);
        let details =
            json!({ "permission": wanted.to_string(), "route": ctx.route, "roles": principal.roles });
        self.audit
            .record_deduped(&key, AuditAction::AccessDenied, Some(principal.user_id), ctx, details)
            .await;
        Err(AppError::Forbidden)
    }

    /// After any role or assignment change: every instance drops its cached
    /// permissions at once. A failure is logged loudly; entries then expire
    /// within [`GRANTS_TTL`].
    pub async fn changed(&self) {
        if let Err(error) = self.cache.invalidate().await {
            tracing::error!(%error, ttl_seconds = GRANTS_TTL.whole_seconds(), "could not invalidate cached permissions; changes apply when entries expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::StoreError;
    use crate::ports::{CacheGeneration, MockAuditLog, MockClock, MockPermissionCache, MockRoleRepository};
    use portcullis_domain::role::SystemRole;
    use time::OffsetDateTime;

    fn claims() -> AccessClaims {
        AccessClaims {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            token_id: "jti".into(),
            issued_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            trust_score: 0,
            amr: vec!["pwd".into()],
            auth_time: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn trail(audited: usize) -> AuditTrail {
        let mut log = MockAuditLog::new();
        log.expect_append().times(audited).returning(|_| Ok(()));
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH);
        AuditTrail::new(Arc::new(log), Arc::new(clock))
    }

    fn roles(held: Vec<SystemRole>) -> MockRoleRepository {
        let mut roles = MockRoleRepository::new();
        roles
            .expect_roles_of()
            .returning(move |_| Ok(held.iter().map(|r| r.role(OffsetDateTime::UNIX_EPOCH)).collect()));
        roles
    }

    /// A cache that is down is not a reason to refuse (or to allow): the
    /// database decides.
    #[tokio::test]
    async fn a_failing_cache_falls_back_to_the_roles() {
        let mut cache = MockPermissionCache::new();
        cache.expect_get().returning(|_| Err(StoreError::Unavailable("redis down".into())));
        cache.expect_put().never();
        let control =
            AccessControl::new(Arc::new(roles(vec![SystemRole::Moderator])), Arc::new(cache), trail(0));
        let principal = control.principal(&claims()).await.unwrap();
        assert!(principal.may(&permissions::USERS_LOCK));
        assert!(!principal.may(&permissions::ROLES_WRITE));
        assert_eq!(principal.roles, BTreeSet::from(["moderator".to_owned()]));
    }

    /// A miss stores what the database said with the generation seen before
    /// reading it; a refusal is audited once however often it is repeated.
    #[tokio::test]
    async fn misses_are_stored_with_the_generation_seen_and_refusals_audited_once() {
        let mut cache = MockPermissionCache::new();
        cache.expect_get().returning(|_| Ok((None, CacheGeneration(7))));
        cache
            .expect_put()
            .withf(|_, grants, seen, ttl| {
                *seen == CacheGeneration(7) && *ttl == GRANTS_TTL && grants.roles.contains("user")
            })
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let control = AccessControl::new(Arc::new(roles(vec![SystemRole::User])), Arc::new(cache), trail(1));
        let principal = control.principal(&claims()).await.unwrap();
        control.require(&principal, &permissions::FILES_WRITE, &RequestContext::default()).await.unwrap();
        for _ in 0..3 {
            let refused =
                control.require(&principal, &permissions::QUEUES_READ, &RequestContext::default()).await;
            assert!(matches!(refused, Err(AppError::Forbidden)), "{refused:?}");
        }
    }
}
