use super::users::{now, user};
use portcullis_application::ports::{RoleRepository, StoreError, UserRepository};
use portcullis_domain::ids::{RoleId, UserId};
use portcullis_domain::role::{Role, RoleName, SystemRole};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The role store and the account store it shares a database with.
pub type Ports = (Arc<dyn RoleRepository>, Arc<dyn UserRepository>);

fn role(name: &str, patterns: &[&str]) -> Role {
    Role {
        id: RoleId::new(),
        name: RoleName::parse(name).unwrap(),
        description: format!("the {name} role"),
        permissions: patterns.iter().map(|p| p.parse().unwrap()).collect(),
        system: false,
        created_at: now(),
        updated_at: now(),
    }
}

fn names(roles: &[Role]) -> Vec<&str> {
    roles.iter().map(|r| r.name.as_str()).collect()
}

async fn account(ports: &Ports, email: &str) -> UserId {
    let u = user(email);
    ports.1.insert(&u).await.unwrap();
    u.id
}

contract_suite! { $ role_repository_contract for roles;

pub async fn system_roles_exist_from_the_start(ports: Ports) {
    let roles = ports.0.list().await.unwrap();
    assert_eq!(names(&roles), ["admin", "moderator", "user"]);
    for system in SystemRole::ALL {
        let stored = ports.0.get(system.id()).await.unwrap().unwrap();
        assert!(stored.system);
        assert_eq!(stored.name.as_str(), system.name());
        let defining: BTreeSet<_> = system.defining_permissions().iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(stored.permissions, defining, "{system:?}");
        assert_eq!(ports.0.find_by_name(&stored.name).await.unwrap().map(|r| r.id), Some(system.id()));
    }
}

pub async fn new_accounts_hold_the_user_role(ports: Ports) {
    let ada = account(&ports, "ada@example.com").await;
    assert_eq!(names(&ports.0.roles_of(ada).await.unwrap()), ["user"]);
    assert!(ports.0.roles_of(UserId::new()).await.unwrap().is_empty(), "unknown user: no roles");
}

pub async fn roles_are_created_renamed_and_deleted(ports: Ports) {
    let auditor = role("auditor", &["audit:read", "users:*"]);
    ports.0.insert(&auditor).await.unwrap();
    assert_eq!(ports.0.get(auditor.id).await.unwrap(), Some(auditor.clone()));
    assert_eq!(ports.0.insert(&role("auditor", &[])).await, Err(StoreError::Conflict("role_name")));

    let mut renamed = auditor.clone();
    renamed.name = RoleName::parse("reviewer").unwrap();
    renamed.permissions = ["audit:read".parse().unwrap()].into();
    renamed.description = "reads the trail".into();
    renamed.updated_at = now();
    ports.0.update(&renamed).await.unwrap();
    assert_eq!(ports.0.get(auditor.id).await.unwrap(), Some(renamed.clone()));
    let mut clash = renamed.clone();
    clash.name = RoleName::parse("admin").unwrap();
    assert_eq!(ports.0.update(&clash).await, Err(StoreError::Conflict("role_name")));
    assert_eq!(ports.0.update(&role("ghost", &[])).await, Err(StoreError::NotFound));

    let ada = account(&ports, "ada@example.com").await;
    ports.0.add_user_roles(ada, &BTreeSet::from([auditor.id])).await.unwrap();
    assert!(ports.0.delete(auditor.id).await.unwrap());
    assert!(!ports.0.delete(auditor.id).await.unwrap());
    assert_eq!(ports.0.get(auditor.id).await.unwrap(), None);
    assert_eq!(names(&ports.0.roles_of(ada).await.unwrap()), ["user"], "the assignment went with the role");
}

pub async fn assignments_are_replaced_or_added(ports: Ports) {
    let ada = account(&ports, "ada@example.com").await;
    let admin = SystemRole::Admin.id();
    let moderator = SystemRole::Moderator.id();
    ports.0.set_user_roles(ada, &BTreeSet::from([admin, moderator])).await.unwrap();
    assert_eq!(names(&ports.0.roles_of(ada).await.unwrap()), ["admin", "moderator"]);
    ports.0.add_user_roles(ada, &BTreeSet::from([moderator, SystemRole::User.id()])).await.unwrap();
    assert_eq!(names(&ports.0.roles_of(ada).await.unwrap()), ["admin", "moderator", "user"]);
    ports.0.set_user_roles(ada, &BTreeSet::new()).await.unwrap();
    assert!(ports.0.roles_of(ada).await.unwrap().is_empty());

    // Unknown role or user: refused, nothing changed.
    ports.0.set_user_roles(ada, &BTreeSet::from([admin])).await.unwrap();
    let unknown = BTreeSet::from([moderator, RoleId::new()]);
    assert_eq!(ports.0.set_user_roles(ada, &unknown).await, Err(StoreError::NotFound));
    assert_eq!(ports.0.add_user_roles(ada, &unknown).await, Err(StoreError::NotFound));
    assert_eq!(names(&ports.0.roles_of(ada).await.unwrap()), ["admin"]);
    let nobody = ports.0.set_user_roles(UserId::new(), &BTreeSet::from([admin])).await;
    assert_eq!(nobody, Err(StoreError::NotFound));
}

pub async fn concurrent_assignments_end_in_one_of_them(ports: Ports) {
    let ada = account(&ports, "ada@example.com").await;
    let choices = [
        BTreeSet::from([SystemRole::Admin.id()]),
        BTreeSet::from([SystemRole::Moderator.id(), SystemRole::User.id()]),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let roles = ports.0.clone();
        let set = choices[i % 2].clone();
        tasks.spawn(async move { roles.set_user_roles(ada, &set).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let held: BTreeSet<RoleId> = ports.0.roles_of(ada).await.unwrap().iter().map(|r| r.id).collect();
    assert!(choices.contains(&held), "never a mix: {held:?}");
}

}
