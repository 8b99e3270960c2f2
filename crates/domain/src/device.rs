//! Devices: what a user signs in from, recognised by a client-provided
//! device id when the client sends one, otherwise by its user agent's family
//! and platform. A new device is worth a security alert; a device the user
//! marked trusted raises the trust of its sessions.

use crate::ids::{DeviceId, UserId};
use crate::secret::{Secret, TokenHash};
use time::OffsetDateTime;

/// What a request says about the device it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceHint {
    /// The `X-Device-Id` header (1–128 of `[A-Za-z0-9._:-]`).
    pub client_id: Option<String>,
    /// "Firefox on Linux"; `None` without a user agent.
    pub agent: Option<String>,
}

impl DeviceHint {
    /// A client device id as accepted: 1–128 characters of `[A-Za-z0-9._:-]`.
    pub fn acceptable_client_id(raw: &str) -> bool {
        (1..=128).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
    }

    /// How the device is recognised: its client id (kept only as a hash), or
    /// else its agent. `None` when the request says nothing about either.
    pub fn key(&self) -> Option<String> {
        match (&self.client_id, &self.agent) {
            (Some(id), _) => Some(format!("id:{}", TokenHash::of(&Secret::new(id.clone())).to_hex())),
            (None, Some(agent)) => Some(format!("agent:{agent}")),
            (None, None) => None,
        }
    }

    /// What the user is shown.
    pub fn name(&self) -> String {
        self.agent.clone().unwrap_or_else(|| "Unknown device".to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    /// [`DeviceHint::key`]: unique per user.
    pub key: String,
    pub name: String,
    pub trusted: bool,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub last_ip: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_wins_and_is_kept_hashed() {
        let hint =
            DeviceHint { client_id: Some("app-install-42".into()), agent: Some("Firefox on Linux".into()) };
        let key = hint.key().unwrap();
        assert!(key.starts_with("id:") && !key.contains("app-install-42"), "{key}");
        assert_eq!(key, DeviceHint { client_id: Some("app-install-42".into()), agent: None }.key().unwrap());
        assert_eq!(hint.name(), "Firefox on Linux");
        let by_agent = DeviceHint { client_id: None, agent: Some("Chrome on Android".into()) };
        assert_eq!(by_agent.key().as_deref(), Some("agent:Chrome on Android"));
        assert_eq!(DeviceHint::default().key(), None);
        assert_eq!(DeviceHint::default().name(), "Unknown device");
    }

    #[test]
    fn client_ids_are_checked() {
        assert!(DeviceHint::acceptable_client_id("a1._:-Z"));
        for bad in ["", "has space", "line\nbreak", &"x".repeat(129), "é"] {
            assert!(!DeviceHint::acceptable_client_id(bad), "{bad:?}");
        }
    }
}
