//! The integration suite: every port's contract against the real adapters
//! (PostgreSQL, Redis), and the HTTP API on real backends. Run by
//! `make test-integration`; it needs DATABASE_URL and REDIS_URL and fails —
//! never skips — when they are missing or unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod clamav;
mod contract_postgres;
mod contract_redis;
#[allow(dead_code)] // shared with the api suite, which uses all of it
#[path = "../api/helpers.rs"]
mod helpers;
mod http;
mod process;
mod s3;
mod smtp;
#[allow(dead_code)] // shared with the api suite, which uses all of it
#[path = "../api/stand_ins.rs"]
mod stand_ins;
mod support;
