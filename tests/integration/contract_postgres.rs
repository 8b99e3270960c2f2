//! Contract suites against PostgreSQL, one migrated database per test.

use portcullis_application::ports::{AuditLog, OneTimeTokenStore, SessionStore, UserRepository};
use portcullis_infrastructure::postgres::test_db::TestDatabase;
use portcullis_infrastructure::postgres::{
    self, PgAuditLog, PgOneTimeTokens, PgSessionStore, PgUserRepository,
};
use std::sync::Arc;

fn database() -> (postgres::PgPool, TestDatabase) {
    let db = TestDatabase::new();
    let pool = postgres::pool(db.url(), 8).unwrap();
    (pool, db)
}

mod users {
    use super::*;
    portcullis_infrastructure::user_repository_contract!(async {
        let (pool, db) = database();
        (Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>, db)
    });
}

mod files {
    use super::*;
    portcullis_infrastructure::file_repository_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::files::Ports = (
            Arc::new(postgres::PgFileRepository::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::FileRepository>,
            Arc::new(PgUserRepository::new(pool.clone())) as Arc<dyn UserRepository>,
            Arc::new(postgres::PgOutbox::new(pool)),
        );
        (ports, db)
    });
}

mod sessions {
    use super::*;
    portcullis_infrastructure::session_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::sessions::Ports = (
            Arc::new(PgSessionStore::new(pool.clone())) as Arc<dyn SessionStore>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod devices {
    use super::*;
    portcullis_infrastructure::device_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::devices::Ports = (
            Arc::new(postgres::PgDeviceStore::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::DeviceStore>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod factors {
    use super::*;
    portcullis_infrastructure::factor_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::factors::Ports = (
            Arc::new(postgres::PgFactorStore::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::FactorStore>,
            Arc::new(PgUserRepository::new(pool.clone())) as Arc<dyn UserRepository>,
            Arc::new(postgres::PgCredentialStore::new(pool)),
        );
        (ports, db)
    });
}

mod linked {
    use super::*;
    portcullis_infrastructure::linked_account_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::linked::Ports = (
            Arc::new(postgres::PgLinkedAccounts::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::LinkedAccountStore>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod credentials {
    use super::*;
    portcullis_infrastructure::credential_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::credentials::Ports = (
            Arc::new(postgres::PgCredentialStore::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::CredentialStore>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod invitations {
    use super::*;
    portcullis_infrastructure::invitation_store_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::invitations::Ports = (
            Arc::new(postgres::PgInvitations::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::InvitationStore>,
            Arc::new(PgUserRepository::new(pool.clone())) as Arc<dyn UserRepository>,
            Arc::new(postgres::PgOutbox::new(pool)),
        );
        (ports, db)
    });
}

mod roles {
    use super::*;
    portcullis_infrastructure::role_repository_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::roles::Ports = (
            Arc::new(postgres::PgRoleRepository::new(pool.clone()))
                as Arc<dyn portcullis_application::ports::RoleRepository>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod one_time {
    use super::*;
    portcullis_infrastructure::one_time_token_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::one_time::Ports = (
            Arc::new(PgOneTimeTokens::new(pool.clone())) as Arc<dyn OneTimeTokenStore>,
            Arc::new(PgUserRepository::new(pool)) as Arc<dyn UserRepository>,
        );
        (ports, db)
    });
}

mod registration {
    use super::*;
    portcullis_infrastructure::registration_contract!(async {
        let (pool, db) = database();
        let ports: portcullis_infrastructure::contract::registration::Ports = (
            Arc::new(PgUserRepository::new(pool.clone())) as Arc<dyn UserRepository>,
            Arc::new(postgres::PgOutbox::new(pool)),
        );
        (ports, db)
    });
}

mod outbox {
    use super::*;
    portcullis_infrastructure::outbox_contract!(async {
        let (pool, db) = database();
        (Arc::new(postgres::PgOutbox::new(pool)) as Arc<dyn portcullis_application::ports::Outbox>, db)
    });
}

mod audit {
    use super::*;
    portcullis_infrastructure::audit_log_contract!(async {
        let (pool, db) = database();
        (Arc::new(PgAuditLog::new(pool)) as Arc<dyn AuditLog>, db)
    });

    /// The table itself refuses to change history, whoever asks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_table_is_append_only() {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let (pool, db) = database();
        let log = PgAuditLog::new(pool);
        let event = portcullis_domain::audit::AuditEvent::new(
            portcullis_domain::audit::AuditAction::Logout,
            None,
            &Default::default(),
            time::OffsetDateTime::now_utc(),
            serde_json::json!({}),
        );
        log.append(&event).await.unwrap();
        let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
        for sql in
            ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"]
        {
            let err = diesel::sql_query(sql).execute(&mut conn).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }
}

/// Migrations apply cleanly to an empty database and are idempotent.
#[test]
fn migrations_are_idempotent() {
    let db = TestDatabase::new();
    assert!(postgres::run_migrations(db.url()).unwrap().is_empty(), "template already migrated");
}
