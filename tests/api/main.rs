//! The HTTP suite: the whole application over real HTTP, on the in-memory
//! adapters (no services needed). One binary, many modules, to keep links short.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod admin;
mod architecture;
mod audit_logs;
mod auth_flow;
mod browser;
mod devices;
mod errors;
mod files;
mod helpers;
mod invitations;
mod live;
mod lockout;
mod meta;
mod mfa;
mod oauth;
mod pages;
mod rate_limit;
mod recovery;
mod roles;
mod sessions;
mod sms;
mod stand_ins;
mod user_admin;
mod webauthn;
