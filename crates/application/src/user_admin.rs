//! The admin's view of accounts: list and search, one account in detail,
//! lock and unlock (a lock ends every session), end a user's sessions. Each
//! needs its permission (`users:read`, `users:lock`); each change is audited
//! with the actor and the before/after.

use crate::access::{AccessControl, Principal, permissions};
use crate::audit_trail::AuditTrail;
use crate::error::AppError;
use crate::ports::{AuditLog, Clock, DeviceStore, RoleRepository, StoreError, UserFilter, UserRepository};
use crate::sessions::{SessionService, SessionView};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::device::Device;
use portcullis_domain::ids::UserId;
use portcullis_domain::role::{Role, RoleName};
use portcullis_domain::user::User;
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

/// One account with what an admin needs to judge it.
#[derive(Debug, Clone)]
pub struct UserDetail {
    pub user: User,
    pub roles: Vec<Role>,
    pub sessions: Vec<SessionView>,
    pub devices: Vec<Device>,
    pub last_sign_in_at: Option<OffsetDateTime>,
}

/// A page of accounts and the cursor of the next (`None`: the last page).
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next: Option<UserId>,
}

#[derive(Clone)]
pub struct UserAdmin {
    users: Arc<dyn UserRepository>,
    roles: Arc<dyn RoleRepository>,
    devices: Arc<dyn DeviceStore>,
    audit_log: Arc<dyn AuditLog>,
    sessions: SessionService,
    access: AccessControl,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

impl UserAdmin {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        users: Arc<dyn UserRepository>,
        roles: Arc<dyn RoleRepository>,
        devices: Arc<dyn DeviceStore>,
        audit_log: Arc<dyn AuditLog>,
        sessions: SessionService,
        access: AccessControl,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { users, roles, devices, audit_log, sessions, access, audit, clock }
    }

    /// Accounts, newest first; `role` names a role whose holders to list.
    pub async fn list(
        &self,
        caller: &Principal,
        filter: UserFilter,
        role: Option<&str>,
        before: Option<UserId>,
        limit: u32,
        ctx: &RequestContext,
    ) -> Result<UserPage, AppError> {
        self.access.require(caller, &permissions::USERS_READ, ctx).await?;
        let mut filter = filter;
        if let Some(name) = role {
            let found = match RoleName::parse(name.trim()) {
                Ok(name) => self.roles.find_by_name(&name).await?,
                Err(_) => None,
            };
            let Some(found) = found else {
                let problem = FieldViolation::new("role", "unknown_role", "no such role");
                return Err(ValidationErrors(vec![problem]).into());
            };
            filter.role = Some(found.id);
        }
        let limit = limit.clamp(1, 200);
        let users = self.users.search(&filter, before, limit + 1).await?;
        let (users, next) = crate::paging::page_of(users, limit as usize, |u| u.id);
        Ok(UserPage { users, next })
    }

    pub async fn detail(
        &self,
        caller: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<UserDetail, AppError> {
        self.access.require(caller, &permissions::USERS_READ, ctx).await?;
        let user = self.users.find_by_id(id).await?.ok_or(AppError::NotFound("user"))?;
        let events = self.audit_log.list_for_user(id, None, 100).await?;
        let last_sign_in_at =
            events.iter().find(|e| e.action == AuditAction::LoginSucceeded).map(|e| e.occurred_at);
        Ok(UserDetail {
            roles: self.roles.roles_of(id).await?,
            sessions: self.sessions.list_for(id, None).await?,
            devices: self.devices.list(id).await?,
            last_sign_in_at,
            user,
        })
    }

    /// Locks the account (no sign-in until unlocked) and ends its sessions.
    /// An admin cannot lock their own account.
    pub async fn lock(&self, caller: &Principal, id: UserId, ctx: &RequestContext) -> Result<User, AppError> {
        self.access.require(caller, &permissions::USERS_LOCK, ctx).await?;
        if id == caller.user_id {
            let problem = FieldViolation::new("id", "own_account", "you cannot lock your own account");
            return Err(ValidationErrors(vec![problem]).into());
        }
        self.set_locked(caller, id, Some(self.clock.now()), ctx).await
    }

    pub async fn unlock(
        &self,
        caller: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        self.access.require(caller, &permissions::USERS_LOCK, ctx).await?;
        self.set_locked(caller, id, None, ctx).await
    }

    async fn set_locked(
        &self,
        caller: &Principal,
        id: UserId,
        locked_at: Option<OffsetDateTime>,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        let before = self.users.find_by_id(id).await?.ok_or(AppError::NotFound("user"))?;
        // Locking a locked account keeps the first lock's time.
        let value = locked_at.map(|now| before.locked_at.unwrap_or(now));
        let after = match self.users.set_locked(id, value).await {
            Err(StoreError::NotFound) => return Err(AppError::NotFound("user")),
            other => other?,
        };
        let ended = if locked_at.is_some() { self.sessions.end_all(id, None).await?.len() } else { 0 };
        let action = if locked_at.is_some() { AuditAction::UserLocked } else { AuditAction::UserUnlocked };
        let details = json!({
            "target_user_id": id,
            "before": { "locked": before.locked_at.is_some() },
            "after": { "locked": after.locked_at.is_some() },
            "sessions_ended": ended,
        });
        self.audit.record(action, Some(caller.user_id), ctx, details).await;
        Ok(after)
    }

    /// Ends every session of the user; returns how many.
    pub async fn end_sessions(
        &self,
        caller: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<usize, AppError> {
        self.access.require(caller, &permissions::USERS_LOCK, ctx).await?;
        self.users.find_by_id(id).await?.ok_or(AppError::NotFound("user"))?;
        let ended = self.sessions.end_all(id, None).await?.len();
        let details = json!({ "target_user_id": id, "sessions_ended": ended });
        self.audit.record(AuditAction::UserSessionsEnded, Some(caller.user_id), ctx, details).await;
        Ok(ended)
    }
}
