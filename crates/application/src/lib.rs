//! Ports and use cases. A port is an `async_trait` the use cases call and an
//! adapter in `portcullis-infrastructure` implements; the use cases hold the
//! behaviour and know nothing of HTTP, SQL or Redis.

pub mod access;
pub mod admin;
pub mod audit_query;
pub mod audit_trail;
pub mod auth;
pub mod cause;
pub mod devices;
pub mod error;
pub mod files;
pub mod invitations;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod maintenance;
pub(crate) mod paging;
pub mod ports;
pub mod relay;
pub mod revocation;
pub mod roles;
pub mod seal;
pub mod sessions;
pub mod user_admin;

pub use error::{AppError, Cause};
