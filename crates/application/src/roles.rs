//! Roles and who holds them: the admin use cases (list, create, change,
//! delete, assign) and the bootstrap of the first admin. Every change is
//! audited with the actor and the before/after, and invalidates the cached
//! permissions on every instance.

use crate::access::{AccessControl, Principal, permissions};
use crate::audit_trail::AuditTrail;
use crate::auth::AccountService;
use crate::error::AppError;
use crate::ports::{Clock, RoleRepository, StoreError, UserRepository};
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{RoleId, UserId};
use portcullis_domain::permission::PermissionPattern;
use portcullis_domain::role::{self, Role, RoleName, RoleRuleViolation, SystemRole};
use portcullis_domain::secret::Secret;
use portcullis_domain::{FieldViolation, ValidationErrors};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A role as an admin writes it.
#[derive(Debug, Clone)]
pub struct RoleInput {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// What the bootstrap of the first admin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The account was created with the admin role.
    Created(UserId),
    /// The account exists and holds the admin role: nothing to do.
    AlreadyAdmin(UserId),
    /// The account exists without the admin role: left alone (someone may
    /// have registered the address first; grant the role through the API).
    ExistsWithoutAdmin(UserId),
}

#[derive(Clone)]
pub struct RoleService {
    roles: Arc<dyn RoleRepository>,
    users: Arc<dyn UserRepository>,
    access: AccessControl,
    audit: AuditTrail,
    clock: Arc<dyn Clock>,
}

fn describe(role: &Role) -> Value {
    json!({
        "name": role.name.as_str(),
        "description": role.description,
        "permissions": role.permissions.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn role_names(roles: &[Role]) -> Vec<&str> {
    roles.iter().map(|r| r.name.as_str()).collect()
}

impl From<RoleRuleViolation> for AppError {
    fn from(value: RoleRuleViolation) -> Self {
        Self::RoleProtected(value)
    }
}

/// The name and patterns of `input`, or every field problem at once.
fn parse_input(input: &RoleInput) -> Result<(RoleName, BTreeSet<PermissionPattern>), AppError> {
    let mut errors = ValidationErrors::default();
    let name = RoleName::parse(input.name.trim())
        .map_err(|e| errors.0.push(FieldViolation::new("name", "invalid", e.to_string())))
        .ok();
    let mut patterns = BTreeSet::new();
    for (i, raw) in input.permissions.iter().enumerate() {
        match raw.trim().parse::<PermissionPattern>() {
            Ok(p) => {
                patterns.insert(p);
            }
            Err(e) => {
                errors.0.push(FieldViolation::new(&format!("permissions[{i}]"), "invalid", e.to_string()))
            }
        }
    }
    if input.description.chars().count() > 500 {
        errors.0.push(FieldViolation::new("description", "too_long", "at most 500 characters"));
    }
    match name {
        Some(name) if errors.0.is_empty() => Ok((name, patterns)),
        _ => Err(errors.into()),
    }
}

impl RoleService {
    pub fn new(
        roles: Arc<dyn RoleRepository>,
        users: Arc<dyn UserRepository>,
        access: AccessControl,
        audit: AuditTrail,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { roles, users, access, audit, clock }
    }

    pub async fn list(&self, caller: &Principal, ctx: &RequestContext) -> Result<Vec<Role>, AppError> {
        self.access.require(caller, &permissions::ROLES_READ, ctx).await?;
        Ok(self.roles.list().await?)
    }

    pub async fn create(
        &self,
        caller: &Principal,
        input: &RoleInput,
        ctx: &RequestContext,
    ) -> Result<Role, AppError> {
        self.access.require(caller, &permissions::ROLES_WRITE, ctx).await?;
        let (name, permissions) = parse_input(input)?;
        let now = self.clock.now();
        let role = Role {
            id: RoleId::new(),
            name,
            description: input.description.trim().to_owned(),
            permissions,
            system: false,
            created_at: now,
            updated_at: now,
        };
        match self.roles.insert(&role).await {
            Err(StoreError::Conflict(_)) => return Err(AppError::RoleNameTaken),
            other => other?,
        }
        let details = json!({ "role_id": role.id, "after": describe(&role) });
        self.audit.record(AuditAction::RoleCreated, Some(caller.user_id), ctx, details).await;
        Ok(role)
    }

    /// Replaces a role's name, description and permissions. A system role
    /// keeps its name and defining permissions (409 otherwise).
    pub async fn update(
        &self,
        caller: &Principal,
        id: RoleId,
        input: &RoleInput,
        ctx: &RequestContext,
    ) -> Result<Role, AppError> {
        self.access.require(caller, &permissions::ROLES_WRITE, ctx).await?;
        let (name, permissions) = parse_input(input)?;
        let before = self.roles.get(id).await?.ok_or(AppError::NotFound("role"))?;
        role::check_update(&before, &name, &permissions)?;
        let after = Role {
            name,
            description: input.description.trim().to_owned(),
            permissions,
            updated_at: self.clock.now(),
            ..before.clone()
        };
        match self.roles.update(&after).await {
            Err(StoreError::Conflict(_)) => return Err(AppError::RoleNameTaken),
            Err(StoreError::NotFound) => return Err(AppError::NotFound("role")),
            other => other?,
        }
        self.access.changed().await;
        let details = json!({ "role_id": id, "before": describe(&before), "after": describe(&after) });
        self.audit.record(AuditAction::RoleUpdated, Some(caller.user_id), ctx, details).await;
        Ok(after)
    }

    /// Deletes a role and every assignment of it; system roles stay (409).
    pub async fn delete(&self, caller: &Principal, id: RoleId, ctx: &RequestContext) -> Result<(), AppError> {
        self.access.require(caller, &permissions::ROLES_WRITE, ctx).await?;
        let before = self.roles.get(id).await?.ok_or(AppError::NotFound("role"))?;
        role::check_delete(&before)?;
        if !self.roles.delete(id).await? {
            return Err(AppError::NotFound("role"));
        }
        self.access.changed().await;
        let details = json!({ "role_id": id, "before": describe(&before) });
        self.audit.record(AuditAction::RoleDeleted, Some(caller.user_id), ctx, details).await;
        Ok(())
    }

    /// Makes `names` exactly the roles `user` holds. An admin cannot take
    /// the admin role off their own account (there would be nobody left to
    /// give it back, perhaps).
    pub async fn set_user_roles(
        &self,
        caller: &Principal,
        user: UserId,
        names: &[String],
        ctx: &RequestContext,
    ) -> Result<Vec<Role>, AppError> {
        self.access.require(caller, &permissions::ROLES_ASSIGN, ctx).await?;
        let wanted = self.resolve(names, "roles").await?;
        self.users.find_by_id(user).await?.ok_or(AppError::NotFound("user"))?;
        let before = self.roles.roles_of(user).await?;
        let admin = SystemRole::Admin.id();
        if user == caller.user_id && before.iter().any(|r| r.id == admin) && !wanted.contains(&admin) {
            return Err(RoleRuleViolation::OwnAdminRoleRemoved.into());
        }
        match self.roles.set_user_roles(user, &wanted).await {
            Err(StoreError::NotFound) => return Err(AppError::NotFound("user")),
            other => other?,
        }
        self.access.changed().await;
        let after = self.roles.roles_of(user).await?;
        let details =
            json!({ "target_user_id": user, "before": role_names(&before), "after": role_names(&after) });
        self.audit.record(AuditAction::UserRolesChanged, Some(caller.user_id), ctx, details).await;
        Ok(after)
    }

    /// Role ids for role names; every unknown name is a field problem.
    pub async fn resolve(&self, names: &[String], field: &str) -> Result<BTreeSet<RoleId>, AppError> {
        let mut errors = ValidationErrors::default();
        let mut ids = BTreeSet::new();
        for (i, raw) in names.iter().enumerate() {
            let found = match RoleName::parse(raw.trim()) {
                Ok(name) => self.roles.find_by_name(&name).await?,
                Err(_) => None,
            };
            match found {
                Some(role) => {
                    ids.insert(role.id);
                }
                None => errors.0.push(FieldViolation::new(
                    &format!("{field}[{i}]"),
                    "unknown_role",
                    "no such role",
                )),
            }
        }
        if errors.0.is_empty() { Ok(ids) } else { Err(errors.into()) }
    }

    /// Adds roles to an account (an accepted invitation) and invalidates the
    /// cached permissions.
    pub async fn grant(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), AppError> {
        self.roles.add_user_roles(user, roles).await?;
        self.access.changed().await;
        Ok(())
    }

    /// The first admin, from `BOOTSTRAP_ADMIN_EMAIL` / `_PASSWORD`, at start.
    /// Idempotent: an existing account is never changed (see [`Bootstrap`]).
    pub async fn bootstrap_admin(
        &self,
        accounts: &AccountService,
        email: &Email,
        password: &Secret,
    ) -> Result<Bootstrap, AppError> {
        let ctx = RequestContext { user_agent: Some("bootstrap".into()), ..RequestContext::default() };
        let admin = SystemRole::Admin.id();
        if let Some(user) = self.users.find_by_email(email).await? {
            let held = self.roles.roles_of(user.id).await?;
            return Ok(if held.iter().any(|r| r.id == admin) {
                Bootstrap::AlreadyAdmin(user.id)
            } else {
                Bootstrap::ExistsWithoutAdmin(user.id)
            });
        }
        let user =
            match accounts.create_verified(email, password, None, "BOOTSTRAP_ADMIN_PASSWORD", &ctx).await {
                Ok(user) => user,
                // Another instance starting at the same moment created it.
                Err(AppError::EmailTaken) => {
                    return Box::pin(self.bootstrap_admin(accounts, email, password)).await;
                }
                Err(e) => return Err(e),
            };
        self.roles.add_user_roles(user.id, &BTreeSet::from([admin])).await?;
        self.access.changed().await;
        let details = json!({ "target_user_id": user.id, "before": ["user"], "after": ["admin", "user"], "bootstrap": true });
        self.audit.record(AuditAction::UserRolesChanged, None, &ctx, details).await;
        Ok(Bootstrap::Created(user.id))
    }
}
