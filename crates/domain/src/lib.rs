//! The Portcullis domain: what a user, a session, a refresh token and an audit
//! event are, and the rules they obey. Nothing here performs I/O or knows about a
//! runtime, a database or HTTP; every adapter and use case builds on these types.

pub mod audit;
pub mod device;
pub mod email;
pub mod error;
pub mod files;
pub mod ids;
pub mod invitation;
pub mod jobs;
pub mod mfa;
pub mod one_time;
pub mod password;
pub mod permission;
pub mod phone;
pub mod rate;
pub mod role;
pub mod secret;
pub mod session;
pub mod source;
pub mod trust;
pub mod user;
pub mod webauthn;

pub use error::{FieldViolation, ValidationErrors};
