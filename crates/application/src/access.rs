//! Who is calling and what they may do, decided here (not in handlers). A
//! [`Principal`] is built once per request from the verified access-token
//! claims; use cases ask [`AccessControl::require`] for a [`Permission`], and
//! a refusal is audited. The roles issue puts roles behind this same check.

use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AccessClaims, UserRepository};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::ids::{SessionId, UserId};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Something a caller may be allowed to do beyond their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// See job queues and retry dead jobs.
    OperateQueues,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OperateQueues => "queues.operate",
        }
    }
}

/// The caller of a use case: who, in which session, with which rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Grants permissions and enforces them.
#[derive(Clone)]
pub struct AccessControl {
    users: Arc<dyn UserRepository>,
    audit: AuditTrail,
    /// Addresses granted every permission once verified (`ADMIN_EMAILS`,
    /// lower-cased), until roles exist.
    admin_emails: Vec<String>,
}

impl AccessControl {
    pub fn new(users: Arc<dyn UserRepository>, audit: AuditTrail, admin_emails: Vec<String>) -> Self {
        Self { users, audit, admin_emails }
    }

    /// The principal behind verified claims. An address in `ADMIN_EMAILS`
    /// grants admin permissions only once its owner has verified it:
    /// otherwise whoever registered a listed address first would be admin.
    pub async fn principal(&self, claims: &AccessClaims) -> Result<Principal, AppError> {
        let user = self.users.find_by_id(claims.user_id).await?.ok_or(AppError::NotFound("user"))?;
        let admin =
            user.email_verified_at.is_some() && self.admin_emails.iter().any(|e| e == user.email.as_str());
        let permissions = if admin { BTreeSet::from([Permission::OperateQueues]) } else { BTreeSet::new() };
        Ok(Principal { user_id: claims.user_id, session_id: claims.session_id, permissions })
    }

    /// `Ok` when the principal holds `permission`; otherwise the refusal is
    /// audited and answered `Forbidden`.
    pub async fn require(
        &self,
        principal: &Principal,
        permission: Permission,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        if principal.may(permission) {
            return Ok(());
        }
        let details = json!({ "permission": permission.as_str() });
        self.audit.record(AuditAction::AccessDenied, Some(principal.user_id), ctx, details).await;
        Err(AppError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockAuditLog, MockClock, MockUserRepository};
    use portcullis_domain::email::Email;
    use portcullis_domain::user::{PasswordHash, User};
    use time::OffsetDateTime;

    fn user(email: &str, verified: bool) -> User {
        User {
            id: UserId::new(),
            email: Email::parse(email).unwrap(),
            display_name: None,
            password_hash: PasswordHash("h".into()),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            email_verified_at: verified.then_some(OffsetDateTime::UNIX_EPOCH),
        }
    }

    fn access(user: User, audited: usize) -> (AccessControl, AccessClaims) {
        let claims = AccessClaims {
            user_id: user.id,
            session_id: SessionId::new(),
            token_id: "jti".into(),
            issued_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
        };
        let mut users = MockUserRepository::new();
        users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));
        let mut log = MockAuditLog::new();
        log.expect_append().times(audited).returning(|_| Ok(()));
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH);
        let trail = AuditTrail::new(Arc::new(log), Arc::new(clock));
        (AccessControl::new(Arc::new(users), trail, vec!["boss@example.com".into()]), claims)
    }

    /// A listed address is admin only once verified; a refusal is audited.
    #[tokio::test]
    async fn permissions_follow_verified_listed_addresses() {
        let (control, claims) = access(user("boss@example.com", true), 0);
        let boss = control.principal(&claims).await.unwrap();
        assert!(boss.may(Permission::OperateQueues));
        control.require(&boss, Permission::OperateQueues, &RequestContext::default()).await.unwrap();

        for (email, verified) in [("boss@example.com", false), ("ada@example.com", true)] {
            let (control, claims) = access(user(email, verified), 1);
            let caller = control.principal(&claims).await.unwrap();
            assert!(!caller.may(Permission::OperateQueues), "{email}");
            let err = control.require(&caller, Permission::OperateQueues, &RequestContext::default()).await;
            assert!(matches!(err, Err(AppError::Forbidden)), "{err:?}");
        }
    }
}
