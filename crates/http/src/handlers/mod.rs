//! Route handlers, one module per area.

pub mod admin;
pub mod auth;
pub mod meta;
pub mod recovery;
pub mod users;
