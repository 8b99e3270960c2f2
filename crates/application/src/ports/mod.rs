//! The ports: every way a use case reaches the outside world.

mod audit;
mod cipher;
mod clock;
mod devices;
mod events;
mod files;
mod health;
mod invitations;
mod jobs;
mod login_attempts;
mod mail;
mod mfa;
mod oauth;
mod objects;
mod one_time;
mod outbox;
mod password;
mod processing;
mod rate_limit;
mod revocation;
mod roles;
mod scanner;
mod sessions;
mod tokens;
mod urls;
mod users;
mod webauthn;

pub use audit::*;
pub use cipher::*;
pub use clock::*;
pub use devices::*;
pub use events::*;
pub use files::*;
pub use health::*;
pub use invitations::*;
pub use jobs::*;
pub use login_attempts::*;
pub use mail::*;
pub use mfa::*;
pub use oauth::*;
pub use objects::*;
pub use one_time::*;
pub use outbox::*;
pub use password::*;
pub use processing::*;
pub use rate_limit::*;
pub use revocation::*;
pub use roles::*;
pub use scanner::*;
pub use sessions::*;
pub use tokens::*;
pub use urls::*;
pub use users::*;
pub use webauthn::*;

/// Failure of a storage-like port, whatever the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; names the rule (e.g. `email`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    /// The backend could not be reached or failed; the cause is for logs.
    #[error("backend unavailable")]
    Unavailable(#[source] crate::cause::Cause),
}
