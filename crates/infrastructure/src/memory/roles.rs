use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{RoleRepository, StoreError};
use portcullis_domain::ids::{RoleId, UserId};
use portcullis_domain::role::{Role, RoleName, SystemRole};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use time::OffsetDateTime;

struct State {
    roles: HashMap<RoleId, Role>,
    /// Every account has an entry (possibly empty): what the foreign key on
    /// `user_roles.user_id` checks in PostgreSQL.
    held: HashMap<UserId, BTreeSet<RoleId>>,
}

/// Roles and assignments. Starts with the system roles, like the migration;
/// [`super::MemoryUserRepository`] reports each new account here (the `user`
/// role), under its own lock, as PostgreSQL does in one transaction.
pub struct MemoryRoleStore(Mutex<State>);

impl Default for MemoryRoleStore {
    fn default() -> Self {
        let at = OffsetDateTime::now_utc();
        let roles = SystemRole::ALL.into_iter().map(|r| (r.id(), r.role(at))).collect();
        Self(Mutex::new(State { roles, held: HashMap::new() }))
    }
}

impl MemoryRoleStore {
    /// A new account: it holds the `user` role.
    pub(crate) fn account_created(&self, user: UserId) {
        lock(&self.0).held.insert(user, BTreeSet::from([SystemRole::User.id()]));
    }

    /// The users holding `role`.
    pub(crate) fn holders(&self, role: RoleId) -> Vec<UserId> {
        lock(&self.0).held.iter().filter(|(_, roles)| roles.contains(&role)).map(|(u, _)| *u).collect()
    }

    fn assign(&self, user: UserId, roles: &BTreeSet<RoleId>, replace: bool) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        if roles.iter().any(|r| !state.roles.contains_key(r)) {
            return Err(StoreError::NotFound);
        }
        let held = state.held.get_mut(&user).ok_or(StoreError::NotFound)?;
        if replace {
            held.clear();
        }
        held.extend(roles.iter().copied());
        Ok(())
    }
}

fn by_name(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    roles
}

#[async_trait]
impl RoleRepository for MemoryRoleStore {
    async fn list(&self) -> Result<Vec<Role>, StoreError> {
        Ok(by_name(lock(&self.0).roles.values().cloned().collect()))
    }

    async fn get(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        Ok(lock(&self.0).roles.get(&id).cloned())
    }

    async fn find_by_name(&self, name: &RoleName) -> Result<Option<Role>, StoreError> {
        Ok(lock(&self.0).roles.values().find(|r| &r.name == name).cloned())
    }

    async fn insert(&self, role: &Role) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        if state.roles.values().any(|r| r.name == role.name) {
            return Err(StoreError::Conflict("role_name"));
        }
        if state.roles.contains_key(&role.id) {
            return Err(StoreError::Conflict("id"));
        }
        state.roles.insert(role.id, role.clone());
        Ok(())
    }

    async fn update(&self, role: &Role) -> Result<(), StoreError> {
        let mut state = lock(&self.0);
        if state.roles.values().any(|r| r.name == role.name && r.id != role.id) {
            return Err(StoreError::Conflict("role_name"));
        }
        let stored = state.roles.get_mut(&role.id).ok_or(StoreError::NotFound)?;
        stored.name = role.name.clone();
        stored.description = role.description.clone();
        stored.permissions = role.permissions.clone();
        stored.updated_at = role.updated_at;
        Ok(())
    }

    async fn delete(&self, id: RoleId) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        if state.roles.remove(&id).is_none() {
            return Ok(false);
        }
        for held in state.held.values_mut() {
            held.remove(&id);
        }
        Ok(true)
    }

    async fn roles_of(&self, user: UserId) -> Result<Vec<Role>, StoreError> {
        let state = lock(&self.0);
        let held = state.held.get(&user).into_iter().flatten();
        Ok(by_name(held.filter_map(|id| state.roles.get(id).cloned()).collect()))
    }

    async fn set_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError> {
        self.assign(user, roles, true)
    }

    async fn add_user_roles(&self, user: UserId, roles: &BTreeSet<RoleId>) -> Result<(), StoreError> {
        self.assign(user, roles, false)
    }
}
