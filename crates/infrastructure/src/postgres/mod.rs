//! PostgreSQL adapters over diesel-async with a deadpool connection pool.

mod audit;
mod one_time;
mod outbox;
mod schema;
mod sessions;
#[cfg(any(test, feature = "contract"))]
pub mod test_db;
mod users;

pub use audit::PgAuditLog;
pub use one_time::PgOneTimeTokens;
pub use outbox::PgOutbox;
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
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(StdDuration::from_secs(5)))
        .create_timeout(Some(StdDuration::from_secs(5)))
        .recycle_timeout(Some(StdDuration::from_secs(2)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| PgSetupError::Pool(e.to_string()))
}

/// Applies pending migrations and returns the versions applied.
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
            let conn =
                AsyncPgConnection::establish(&url).await.map_err(|e| PgSetupError::Connect(e.to_string()))?;
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
