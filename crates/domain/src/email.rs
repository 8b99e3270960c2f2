//! E-mail addresses as accounts know them: trimmed, lower-cased, checked.

use crate::error::ValidationErrors;
use std::fmt;

/// A syntactically valid, normalised e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;

impl Email {
    /// Trims and lower-cases `raw`, then checks it against a pragmatic subset of
    /// RFC 5321 (the addresses real mail systems accept), not the full grammar.
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let normalised = raw.trim().to_lowercase();
        let invalid = |msg: &str| ValidationErrors::single("email", "invalid_email", msg);
        if normalised.is_empty() {
            return Err(ValidationErrors::single("email", "required", "email is required"));
        }
        if normalised.len() > MAX_LEN {
            return Err(invalid("email must be at most 254 characters"));
        }
        let Some((local, domain)) = normalised.split_once('@') else {
            return Err(invalid("email must contain '@'"));
        };
        if local.is_empty() || local.len() > MAX_LOCAL || !valid_local(local) {
            return Err(invalid("email has an invalid local part"));
        }
        if !valid_domain(domain) {
            return Err(invalid("email has an invalid domain"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIAL: &str = "!#$%&'*+/=?^_`{|}~.-";
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok =
        labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    labels.iter().all(label_ok) && tld_ok
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn accepts_plus_and_subdomains() {
        assert!(Email::parse("a.b+tag@mail.example.co.uk").is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@b.com",
            "a b@c.com",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b.c0m",
            "a@b..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_overlong() {
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
        let long_domain = format!("a@{}.com", "b".repeat(250));
        assert!(Email::parse(&long_domain).is_err());
    }
}
