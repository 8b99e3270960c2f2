//! PostgreSQL adapters over diesel-async with a deadpool connection pool.

mod audit;
mod credentials;
mod devices;
mod factors;
mod files;
mod invitations;
mod linked;
mod one_time;
mod outbox;
mod roles;
mod schema;
mod sessions;
#[cfg(any(test, feature = "contract"))]
pub mod test_db;
mod users;

pub use audit::PgAuditLog;
pub use credentials::PgCredentialStore;
pub use devices::PgDeviceStore;
pub use factors::PgFactorStore;
pub use files::PgFileRepository;
pub use invitations::PgInvitations;
pub use linked::PgLinkedAccounts;
pub use one_time::PgOneTimeTokens;
pub use outbox::PgOutbox;
pub use roles::PgRoleRepository;
pub use sessions::PgSessionStore;
pub use users::PgUserRepository;

use async_trait::async_trait;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use portcullis_application::Cause;
use portcullis_application::ports::{HealthCheck, StoreError};
use std::time::Duration as StdDuration;

/// The SQL migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

pub type PgPool = Pool<AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    #[error("could not build the connection pool: {0}")]
    Pool(String),
    #[error("could not connect to PostgreSQL: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migration(String),
}

/// A connection pool whose waits and connects are bounded, so a database that
/// is down turns into a quick `Unavailable` rather than a hung request.
pub fn pool(url: &str, max_size: usize) -> Result<PgPool, PgSetupError> {
    // No test query per checkout (`RecyclingMethod::Fast`): a connection is
    // recycled unless a transaction was left open or it broke. After a
    // database restart each pooled connection fails its next use once (503,
    // worth a retry) and is replaced; every request saves a round trip
    // (issue 13: `SELECT 1` was one of two PostgreSQL round trips of a bearer
    // request).
    // `ManagerConfig` is non-exhaustive: built from its default.
    #[allow(clippy::field_reassign_with_default)]
    let config = {
        let mut config = diesel_async::pooled_connection::ManagerConfig::default();
        config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
        config
    };
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(StdDuration::from_secs(5)))
        .create_timeout(Some(StdDuration::from_secs(5)))
        .recycle_timeout(Some(StdDuration::from_secs(2)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| PgSetupError::Pool(e.to_string()))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The database name of `url`, if it has a plain one (letters, digits, `_`).
pub fn database_name(url: &str) -> Option<&str> {
    let base = url.split('?').next()?;
    let after_scheme = &base[base.find("://")? + 3..];
    let name = &after_scheme[after_scheme.find('/')? + 1..];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(name)
}

/// Creates the database `url` names, from the server's `postgres` database,
/// when the role may; otherwise says how to create it.
async fn create_database(url: &str) -> Result<(), PgSetupError> {
    use diesel_async::AsyncConnection;
    let missing = |why: String| {
        PgSetupError::Connect(format!(
            "the database in DATABASE_URL does not exist and could not be created ({why}); create it with `createdb <name>`"
        ))
    };
    let name = database_name(url).ok_or_else(|| missing("its name is not a plain identifier".into()))?;
    let mut admin = AsyncPgConnection::establish(&with_database(url, "postgres"))
        .await
        .map_err(|e| missing(e.to_string()))?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .map_err(|e| missing(e.to_string()))?;
    tracing::info!(database = name, "created the database named in DATABASE_URL");
    Ok(())
}

/// Applies pending migrations and returns the versions applied. Creates the
/// database first when it does not exist and the role may.
///
/// Runs on a dedicated thread with its own multi-thread runtime: diesel-async's
/// harness calls `block_in_place`, which panics on the current-thread runtimes
/// of actix workers and plain `#[tokio::test]`s.
pub fn run_migrations(url: &str) -> Result<Vec<String>, PgSetupError> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| PgSetupError::Migration(e.to_string()))?;
        runtime.block_on(async move {
            use diesel_async::AsyncConnection;
            let conn = match AsyncPgConnection::establish(&url).await {
                Ok(conn) => conn,
                Err(e) if e.to_string().contains("does not exist") => {
                    create_database(&url).await?;
                    AsyncPgConnection::establish(&url)
                        .await
                        .map_err(|e| PgSetupError::Connect(e.to_string()))?
                }
                Err(e) => return Err(PgSetupError::Connect(e.to_string())),
            };
            let mut harness = AsyncMigrationHarness::new(conn);
            harness
                .run_pending_migrations(MIGRATIONS)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(|e| PgSetupError::Migration(e.to_string()))
        })
    })
    .join()
    .map_err(|_| PgSetupError::Migration("migration thread panicked".into()))?
}

pub(crate) async fn conn(pool: &PgPool) -> Result<Object<AsyncPgConnection>, StoreError> {
    pool.get().await.map_err(|e| StoreError::Unavailable(Cause::context("postgres pool", e)))
}

pub(crate) fn db_error(e: diesel::result::Error) -> StoreError {
    StoreError::Unavailable(Cause::context("postgres", e))
}

/// An insert's outcome: a unique violation is `Conflict(rule)`, other
/// failures are the database's.
pub(crate) fn inserted(
    result: Result<usize, diesel::result::Error>,
    rule: &'static str,
) -> Result<(), StoreError> {
    use diesel::result::{DatabaseErrorKind, Error};
    match result {
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(StoreError::Conflict(rule)),
        Err(e) => Err(db_error(e)),
    }
}

/// `/health/ready` probe: a round trip through the pool.
#[derive(Clone)]
pub struct PgHealth(pub PgPool);

#[async_trait]
impl HealthCheck for PgHealth {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<(), StoreError> {
        let mut conn = conn(&self.0).await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.map(|_| ()).map_err(db_error)
    }
}
