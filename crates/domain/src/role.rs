//! Roles: named sets of permission patterns. Users hold roles; what a user
//! may do is the union of their roles' patterns. Three system roles come
//! from the first roles migration (fixed ids, the same in every store) and
//! can be neither deleted nor stripped of what defines them.

use crate::ids::RoleId;
use crate::permission::{PermissionPattern, valid_name};
use std::collections::BTreeSet;
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// A role's name: the permission-name rules (lower-case `[a-z0-9_.-]`, 1–64).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role name {0:?}: lower-case letters, digits, `_`, `-` and `.`, 1-64 characters")]
pub struct InvalidRoleName(pub String);

impl RoleName {
    pub fn parse(raw: &str) -> Result<Self, InvalidRoleName> {
        if valid_name(raw) { Ok(Self(raw.to_owned())) } else { Err(InvalidRoleName(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: RoleName,
    pub description: String,
    pub permissions: BTreeSet<PermissionPattern>,
    /// One of [`SystemRole`]: not deletable, its defining patterns kept.
    pub system: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The roles every installation has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemRole {
    /// Everything (`*`).
    Admin,
    /// Reads users and the audit trail, locks and unlocks accounts.
    Moderator,
    /// What a signed-up account does with its own files. New accounts get it.
    User,
}

impl SystemRole {
    pub const ALL: [SystemRole; 3] = [Self::Admin, Self::Moderator, Self::User];

    pub fn id(self) -> RoleId {
        // Fixed in the migration that creates them.
        RoleId(Uuid::from_u128(match self {
            Self::Admin => 0x0000_0000_0000_7000_8000_0000_0000_0001,
            Self::Moderator => 0x0000_0000_0000_7000_8000_0000_0000_0002,
            Self::User => 0x0000_0000_0000_7000_8000_0000_0000_0003,
        }))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Moderator => "moderator",
            Self::User => "user",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Admin => "Every permission",
            Self::Moderator => "Reads users and the audit trail; locks and unlocks accounts",
            Self::User => "Uploads and manages its own files",
        }
    }

    /// The patterns the role cannot lose.
    pub fn defining_permissions(self) -> &'static [&'static str] {
        match self {
            Self::Admin => &["*"],
            Self::Moderator => &["users:read", "users:lock", "audit:read"],
            Self::User => &["files:read", "files:write"],
        }
    }

    pub fn of(id: RoleId) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The role as the migration creates it.
    pub fn role(self, at: OffsetDateTime) -> Role {
        Role {
            id: self.id(),
            name: RoleName(self.name().to_owned()),
            description: self.description().to_owned(),
            permissions: self.defining_permissions().iter().filter_map(|p| p.parse().ok()).collect(),
            system: true,
            created_at: at,
            updated_at: at,
        }
    }
}

/// Why a role change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRuleViolation {
    #[error("the system role {0} cannot be deleted")]
    SystemRoleDeleted(&'static str),
    #[error("the system role {role} must keep the permission {permission}")]
    DefiningPermissionRemoved { role: &'static str, permission: &'static str },
    #[error("a system role cannot be renamed")]
    SystemRoleRenamed,
    #[error("you cannot remove the admin role from your own account")]
    OwnAdminRoleRemoved,
}

/// Whether `role` may be deleted.
pub fn check_delete(role: &Role) -> Result<(), RoleRuleViolation> {
    match SystemRole::of(role.id) {
        Some(system) => Err(RoleRuleViolation::SystemRoleDeleted(system.name())),
        None => Ok(()),
    }
}

/// Whether `role` may become `name` with `permissions`.
pub fn check_update(
    role: &Role,
    name: &RoleName,
    permissions: &BTreeSet<PermissionPattern>,
) -> Result<(), RoleRuleViolation> {
    let Some(system) = SystemRole::of(role.id) else { return Ok(()) };
    if name.as_str() != system.name() {
        return Err(RoleRuleViolation::SystemRoleRenamed);
    }
    for permission in system.defining_permissions() {
        let kept = permission.parse::<PermissionPattern>().is_ok_and(|p| permissions.contains(&p));
        if !kept {
            return Err(RoleRuleViolation::DefiningPermissionRemoved { role: system.name(), permission });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> BTreeSet<PermissionPattern> {
        list.iter().map(|p| p.parse().unwrap_or_else(|e| panic!("{e}"))).collect()
    }

    fn custom() -> Role {
        Role { id: RoleId::new(), system: false, ..SystemRole::User.role(OffsetDateTime::UNIX_EPOCH) }
    }

    #[test]
    fn system_roles_keep_their_names_and_defining_permissions() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let name = |n: &str| RoleName::parse(n).unwrap_or_else(|e| panic!("{e}"));
        let table: [(SystemRole, &str, &[&str], bool); 7] = [
            (SystemRole::Admin, "admin", &["*"], true),
            (SystemRole::Admin, "admin", &["*", "files:read"], true),
            (SystemRole::Admin, "admin", &["files:*"], false),
            (
                SystemRole::Moderator,
                "moderator",
                &["users:read", "users:lock", "audit:read", "files:read"],
                true,
            ),
            (SystemRole::Moderator, "moderator", &["users:read", "audit:read"], false),
            (SystemRole::User, "user", &[], false),
            (SystemRole::User, "users", &["files:read", "files:write"], false),
        ];
        for (system, new_name, held, ok) in table {
            let result = check_update(&system.role(at), &name(new_name), &patterns(held));
            assert_eq!(result.is_ok(), ok, "{system:?} → {new_name} {held:?}: {result:?}");
        }
        for system in SystemRole::ALL {
            assert!(check_delete(&system.role(at)).is_err(), "{system:?}");
            assert_eq!(SystemRole::of(system.id()), Some(system));
            let defining = patterns(system.defining_permissions());
            assert_eq!(system.role(at).permissions, defining, "every defining pattern parses");
        }
        assert!(check_delete(&custom()).is_ok());
        assert!(
            check_update(&custom(), &name("auditor"), &patterns(&[])).is_ok(),
            "custom roles may be emptied"
        );
    }

    #[test]
    fn role_names_follow_the_permission_name_rules() {
        assert!(RoleName::parse("support-team.eu").is_ok());
        for bad in ["", "Admin", "has space", "a:b", &"x".repeat(65)] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
