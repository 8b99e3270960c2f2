//! Adapters for the application's ports. Each real adapter (`postgres`,
//! `redis`, `password`, `jwt`) has an in-memory twin in `memory` with the same
//! semantics, and every port has one contract suite in `contract` that both
//! must pass.

pub mod audit_batch;
mod bounded;
pub mod cipher;
pub mod clamav;
pub mod clock;
#[cfg(any(test, feature = "contract"))]
#[macro_use]
pub mod contract;
pub mod eicar;
pub mod fallback;
pub mod fixtures;
pub mod inspect;
pub mod jwt;
pub mod local_disk;
pub mod memory;
pub mod oauth;
pub mod password;
pub mod postgres;
pub mod random;
pub mod redis;
pub mod s3;
pub mod signed_urls;
pub mod smtp;
pub mod totp;
pub mod twilio;
pub mod webauthn;
