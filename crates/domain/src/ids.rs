//! Typed identifiers, so a session id can never be passed where a user id is due.

use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUIDv7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies a login session, i.e. one refresh-token family.
    SessionId
);
id_type!(
    /// Identifies an audit event; time-ordered, so it doubles as a cursor.
    AuditEventId
);
id_type!(
    /// Identifies an uploaded file.
    FileId
);
id_type!(
    /// Identifies a role.
    RoleId
);
id_type!(
    /// Identifies a device a user signed in from.
    DeviceId
);
id_type!(
    /// Identifies an invitation.
    InvitationId
);
