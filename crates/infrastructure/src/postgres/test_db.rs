//! An isolated, migrated database per test (after crates.io's
//! `crates_io_test_db`): the migrations run once per test process into a
//! template database, and each test gets `CREATE DATABASE … TEMPLATE`, which is
//! dropped again when the test's [`TestDatabase`] is dropped.

use super::run_migrations;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::sync::{Mutex, OnceLock};

/// The database URL the integration suite must use; panics with a clear
/// message when it is missing, because that suite never skips silently.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("DATABASE_URL must be set for the PostgreSQL integration tests"))
}

pub use super::with_database;

/// Runs SQL statements on the server's maintenance connection, from a thread
/// of its own so it works from any runtime and from `Drop`.
fn admin(statements: Vec<String>) -> Result<(), String> {
    let url = database_url();
    std::thread::spawn(move || {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mut conn = AsyncPgConnection::establish(&url)
                .await
                .map_err(|e| format!("cannot connect to PostgreSQL at DATABASE_URL: {e}"))?;
            for sql in statements {
                diesel::sql_query(&sql).execute(&mut conn).await.map_err(|e| format!("{sql}: {e}"))?;
            }
            Ok(())
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_owned())?
}

fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| format!("portcullis_tmpl_{}", std::process::id()))
}

#[derive(diesel::QueryableByName)]
struct Datname {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

/// Templates left by test processes that have exited (killed mid-run).
fn stale_templates() -> Vec<String> {
    let url = database_url();
    let names = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        rt.block_on(async move {
            let mut conn = AsyncPgConnection::establish(&url).await.ok()?;
            diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'portcullis\\_tmpl\\_%'")
                .load::<Datname>(&mut conn)
                .await
                .ok()
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or_default();
    names
        .into_iter()
        .map(|d| d.datname)
        .filter(|name| {
            let pid = name.trim_start_matches("portcullis_tmpl_");
            pid.parse::<u32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect()
}

/// Creates (once per process) the migrated template database.
fn template() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let name = template_name();
        let mut statements: Vec<String> = stale_templates()
            .iter()
            .map(|stale| format!("DROP DATABASE IF EXISTS {stale} WITH (FORCE)"))
            .collect();
        statements.extend([format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")]);
        admin(statements).unwrap_or_else(|e| panic!("creating the template database failed: {e}"));
        run_migrations(&with_database(&database_url(), name))
            .unwrap_or_else(|e| panic!("migrating the template database failed: {e}"));
    });
    template_name()
}

/// Serialises `CREATE DATABASE … TEMPLATE` (PostgreSQL refuses to copy a
/// template that another copy is reading).
static CREATE_LOCK: Mutex<()> = Mutex::new(());

pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        let template = template();
        let name = format!("portcullis_t_{}", uuid::Uuid::new_v4().simple());
        {
            let _guard = CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            admin(vec![format!("CREATE DATABASE {name} TEMPLATE {template}")])
                .unwrap_or_else(|e| panic!("creating a test database failed: {e}"));
        }
        let url = with_database(&database_url(), &name);
        Self { name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(vec![format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)]) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn reads_plain_database_names() {
        use super::super::database_name;
        assert_eq!(database_name("postgres://u@h:5432/portcullis?sslmode=disable"), Some("portcullis"));
        assert_eq!(database_name("postgres://u@h/my_db"), Some("my_db"));
        assert_eq!(database_name("postgres://u@h/"), None);
        assert_eq!(database_name("postgres://u@h/bad\"name"), None);
    }

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
