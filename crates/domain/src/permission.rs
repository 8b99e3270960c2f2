//! Permissions as `resource:action` strings (`files:read`, `users:lock`) and
//! the patterns roles hold, which may use `*` for either part (`files:*`) or
//! for everything (`*`). A caller may do what any pattern they hold matches:
//! effective permissions are the union of their roles' patterns.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// One name: lower-case ASCII letters, digits, `_`, `-` and `.`, 1–64 bytes.
/// (A `const fn`, so the permissions routes declare are checked at compile time.)
pub const fn valid_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 64 {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.') {
            return false;
        }
        i += 1;
    }
    true
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission {0:?}: expected resource:action (lower-case names; `*` allowed in patterns)")]
pub struct InvalidPermission(pub String);

/// A concrete permission a route requires, e.g. `files:read`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    resource: Cow<'static, str>,
    action: Cow<'static, str>,
}

impl Permission {
    /// A permission named in code: `const FILES_READ: Permission =
    /// Permission::of("files", "read");` fails to compile when a name is bad.
    pub const fn of(resource: &'static str, action: &'static str) -> Self {
        assert!(valid_name(resource) && valid_name(action), "invalid permission name");
        Self { resource: Cow::Borrowed(resource), action: Cow::Borrowed(action) }
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn action(&self) -> &str {
        &self.action
    }
}

impl FromStr for Permission {
    type Err = InvalidPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((resource, action)) if valid_name(resource) && valid_name(action) => {
                Ok(Self { resource: Cow::Owned(resource.to_owned()), action: Cow::Owned(action.to_owned()) })
            }
            _ => Err(InvalidPermission(s.to_owned())),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

/// One side of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Part {
    Any,
    Name(String),
}

impl Part {
    fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            Some(Self::Any)
        } else if valid_name(s) {
            Some(Self::Name(s.to_owned()))
        } else {
            None
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Name(n) => n == name,
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// What a role holds: `files:read`, `files:*`, `*:read` or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermissionPattern {
    resource: Part,
    action: Part,
}

impl PermissionPattern {
    pub fn grants(&self, wanted: &Permission) -> bool {
        self.resource.matches(&wanted.resource) && self.action.matches(&wanted.action)
    }
}

impl FromStr for PermissionPattern {
    type Err = InvalidPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(Self { resource: Part::Any, action: Part::Any });
        }
        let parsed = s.split_once(':').and_then(|(resource, action)| {
            Some(Self { resource: Part::parse(resource)?, action: Part::parse(action)? })
        });
        parsed.ok_or_else(|| InvalidPermission(s.to_owned()))
    }
}

impl fmt::Display for PermissionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.resource, &self.action) {
            (Part::Any, Part::Any) => f.write_str("*"),
            (resource, action) => write!(f, "{resource}:{action}"),
        }
    }
}

/// Whether the union of `held` grants `wanted`.
pub fn allowed<'a>(held: impl IntoIterator<Item = &'a PermissionPattern>, wanted: &Permission) -> bool {
    held.into_iter().any(|p| p.grants(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn pat(s: &str) -> PermissionPattern {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn patterns_grant_what_they_match() {
        let table: [(&str, &str, bool); 10] = [
            ("files:read", "files:read", true),
            ("files:read", "files:delete", false),
            ("files:read", "users:read", false),
            ("files:*", "files:delete", true),
            ("files:*", "filesx:delete", false),
            ("*:read", "audit:read", true),
            ("*:read", "audit:export", false),
            ("*", "users:lock", true),
            ("*:*", "roles:delete", true),
            ("users:lock", "users:unlock", false),
        ];
        for (held, wanted, expected) in table {
            assert_eq!(pat(held).grants(&p(wanted)), expected, "{held} grants {wanted}?");
        }
    }

    #[test]
    fn effective_permissions_are_the_union() {
        let held = [pat("files:read"), pat("audit:*")];
        assert!(allowed(&held, &p("files:read")));
        assert!(allowed(&held, &p("audit:export")));
        assert!(!allowed(&held, &p("files:delete")));
        assert!(!allowed(&[], &p("files:read")), "no role, no permission");
    }

    #[test]
    fn malformed_permissions_and_patterns_are_refused() {
        for bad in [
            "",
            "files",
            "files:",
            ":read",
            "a:b:c",
            "Files:read",
            "files:re ad",
            "fi*les:read",
            "*files:read",
        ] {
            assert!(bad.parse::<PermissionPattern>().is_err(), "pattern {bad:?}");
            assert!(bad.parse::<Permission>().is_err(), "permission {bad:?}");
        }
        let long = format!("{}:read", "r".repeat(65));
        assert!(long.parse::<Permission>().is_err());
        for wildcard in ["*", "files:*", "*:read"] {
            assert!(wildcard.parse::<Permission>().is_err(), "a required permission is concrete: {wildcard}");
            assert_eq!(pat(wildcard).to_string(), wildcard, "round trip");
        }
        assert_eq!(pat("*:*").to_string(), "*");
        assert_eq!(p("users:lock").to_string(), "users:lock");
    }
}
