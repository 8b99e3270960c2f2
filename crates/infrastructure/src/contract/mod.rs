//! One contract suite per port. Each case is a plain `async fn` taking the
//! port; the `*_contract!` macros turn every case into a `#[tokio::test]` for a
//! given adapter factory, so the in-memory twin (always) and the real adapter
//! (in the integration suite) run exactly the same cases.
//!
//! A factory is an async expression yielding `(Arc<dyn Port>, guard)`; the
//! guard keeps per-test resources (a database, a key prefix) alive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Defines a suite's cases and, from the same list, the `$register!` macro
/// that turns each case into a test for a given adapter factory. A case is
/// listed where it is written: it cannot be written and never run.
///
/// `$` is passed in as the first token (the macro defines a macro).
macro_rules! contract_suite {
    ($d:tt $register:ident for $module:ident; $( $(#[$meta:meta])* pub async fn $case:ident $args:tt $body:block )*) => {
        $( $(#[$meta])* pub async fn $case $args $body )*

        #[doc = concat!("Registers every case of `contract::", stringify!($module), "` for a factory.")]
        #[macro_export]
        macro_rules! $register {
            ($d factory:expr) => {
                $d crate::contract_cases!($d crate::contract::$module, $d factory, [$($case),*]);
            };
        }
    };
}

#[macro_use]
pub mod audit;
#[macro_use]
pub mod credentials;
#[macro_use]
pub mod devices;
#[macro_use]
pub mod ephemeral;
#[macro_use]
pub mod events;
#[macro_use]
pub mod factors;
#[macro_use]
pub mod files;
#[macro_use]
pub mod invitations;
#[macro_use]
pub mod jobs;
#[macro_use]
pub mod linked;
#[macro_use]
pub mod login_attempts;
#[macro_use]
pub mod mail;
#[macro_use]
pub mod objects;
#[macro_use]
pub mod one_time;
#[macro_use]
pub mod outbox;
#[macro_use]
pub mod permission_cache;
#[macro_use]
pub mod sms;
#[macro_use]
pub mod rate_limit;
#[macro_use]
pub mod registration;
#[macro_use]
pub mod revocation;
#[macro_use]
pub mod roles;
#[macro_use]
pub mod scanner;
#[macro_use]
pub mod sessions;
#[macro_use]
pub mod users;

/// Expands to one `#[tokio::test]` per listed case of `$module`.
#[macro_export]
macro_rules! contract_cases {
    ($module:path, $factory:expr, [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                use $module as suite;
                let (port, _guard) = $factory.await;
                suite::$case(port).await;
            }
        )*
    };
}

/// A key prefix unique to one test, so Redis-backed cases run in parallel.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}
