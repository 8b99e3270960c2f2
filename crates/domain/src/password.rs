//! The password policy: length, character classes, a banned list of the most
//! common passwords and a zxcvbn strength estimate. Every broken rule is reported.

use crate::error::{FieldViolation, ValidationErrors};
use crate::secret::Secret;
use std::collections::HashSet;
use std::sync::LazyLock;

/// The 10,000 most common passwords, taken from the frequency list inside the
/// zxcvbn crate (see `data/generate.py`). Compared case-insensitively.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt").lines().filter(|l| !l.is_empty()).collect()
});

/// Number of entries in the banned list (for docs and tests).
pub fn banned_list_len() -> usize {
    COMMON_PASSWORDS.len()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_special: bool,
    /// Minimum zxcvbn score (0..=4); 0 disables the strength check.
    pub min_strength: u8,
}

/// ASVS 2.1 / NIST 800-63B: length, not composition. At least 12 characters,
/// long passphrases welcome, no character-class rules (they stay available),
/// a banned list and a strength estimate.
impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            require_uppercase: false,
            require_lowercase: false,
            require_numbers: false,
            require_special: false,
            min_strength: 3,
        }
    }
}

impl PasswordPolicy {
    /// The smallest minimum and maximum an operator may configure (ASVS 2.1.1,
    /// 2.1.2: at least 8 characters allowed, at least 64 accepted).
    pub const LOWEST_MIN_LENGTH: usize = 8;
    pub const LOWEST_MAX_LENGTH: usize = 64;
}

/// Unicode-normalises a password (NFKC) before it is checked or hashed, so the
/// same password typed on another keyboard or system (composed "é" or "e" +
/// combining accent, full-width digits) is the same password.
pub fn normalize(password: &Secret) -> Secret {
    use unicode_normalization::UnicodeNormalization;
    Secret::new(password.expose().nfkc().collect::<String>())
}

impl PasswordPolicy {
    /// Checks the cheap rules (length, classes, banned list). Run before the
    /// strength estimate, which costs milliseconds and belongs off the async workers.
    pub fn check_rules(&self, field: &str, password: &Secret) -> ValidationErrors {
        let pw = password.expose();
        let mut errors = ValidationErrors::default();
        let len = pw.chars().count();
        let mut fail = |code: &str, msg: String| errors.push(FieldViolation::new(field, code, msg));
        if len < self.min_length {
            fail("too_short", format!("must be at least {} characters", self.min_length));
        }
        if len > self.max_length {
            fail("too_long", format!("must be at most {} characters", self.max_length));
        }
        if self.require_uppercase && !pw.chars().any(char::is_uppercase) {
            fail("missing_uppercase", "must contain an uppercase letter".into());
        }
        if self.require_lowercase && !pw.chars().any(char::is_lowercase) {
            fail("missing_lowercase", "must contain a lowercase letter".into());
        }
        if self.require_numbers && !pw.chars().any(|c| c.is_ascii_digit()) {
            fail("missing_number", "must contain a number".into());
        }
        if self.require_special && !pw.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            fail("missing_special", "must contain a special character".into());
        }
        if COMMON_PASSWORDS.contains(pw.to_lowercase().as_str()) {
            fail("common_password", "is one of the most common passwords".into());
        }
        errors
    }

    /// zxcvbn strength estimate, with the account's own data (email, name) as
    /// context so that "alice2024!" is weak for alice. Skipped for overlong input:
    /// its cost grows with length and the length rule already failed.
    pub fn check_strength(&self, field: &str, password: &Secret, context: &[&str]) -> ValidationErrors {
        let pw = password.expose();
        if self.min_strength == 0 || pw.is_empty() || pw.chars().count() > self.max_length {
            return ValidationErrors::default();
        }
        let estimate = zxcvbn::zxcvbn(pw, context);
        let score = u8::from(estimate.score());
        if score >= self.min_strength {
            return ValidationErrors::default();
        }
        let hint = estimate
            .feedback()
            .and_then(|f| {
                f.warning().map(|w| w.to_string()).or_else(|| f.suggestions().first().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "add more words or characters".to_owned());
        ValidationErrors::single(
            field,
            "too_weak",
            format!("is too easy to guess (strength {score}/4, need {}): {hint}", self.min_strength),
        )
    }

    /// All rules at once.
    pub fn check(&self, field: &str, password: &Secret, context: &[&str]) -> ValidationErrors {
        let mut errors = self.check_rules(field, password);
        errors.extend(self.check_strength(field, password, context));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(errors: &ValidationErrors) -> Vec<String> {
        errors.0.iter().map(|v| v.code.clone()).collect()
    }

    #[test]
    fn strong_password_passes() {
        let p = with_classes();
        let e = p.check("password", &Secret::new("Tr0ubadour&Horse-Staple"), &["alice@example.com"]);
        assert!(e.is_empty(), "{e}");
    }

    fn with_classes() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_special: true,
            ..PasswordPolicy::default()
        }
    }

    #[test]
    fn defaults_follow_asvs_length_not_composition() {
        let p = PasswordPolicy::default();
        let passphrase = "correct horse battery staple lantern";
        assert_eq!(passphrase.len(), 36);
        assert!(p.check("password", &Secret::new(passphrase), &[]).is_empty());
        let c = codes(&p.check("password", &Secret::new("Tr0ub4dor&3"), &[]));
        assert!(c.contains(&"too_short".to_owned()), "{c:?}");
        assert!(!c.iter().any(|x| x.starts_with("missing_")), "{c:?}");
    }

    #[test]
    fn normalization_makes_forms_equal() {
        let composed = Secret::new("caf\u{e9} au lait \u{ff11}\u{ff12}");
        let decomposed = Secret::new("cafe\u{301} au lait 12");
        assert_eq!(normalize(&composed).expose(), normalize(&decomposed).expose());
        assert_eq!(normalize(&Secret::new("plain ascii")).expose(), "plain ascii");
    }

    #[test]
    fn reports_every_failed_rule() {
        let p = with_classes();
        let e = p.check("password", &Secret::new("abc"), &[]);
        let c = codes(&e);
        for expected in ["too_short", "missing_uppercase", "missing_number", "missing_special", "too_weak"] {
            assert!(c.iter().any(|x| x == expected), "{expected} missing from {c:?}");
        }
        assert!(!c.iter().any(|x| x == "missing_lowercase"));
    }

    #[test]
    fn banned_list_is_case_insensitive() {
        let p = PasswordPolicy {
            require_special: false,
            require_uppercase: false,
            require_lowercase: false,
            require_numbers: false,
            min_strength: 0,
            min_length: 8,
            ..Default::default()
        };
        assert_eq!(codes(&p.check("password", &Secret::new("PASSWORD"), &[])), vec!["common_password"]);
        assert!(banned_list_len() >= 10_000);
    }

    #[test]
    fn too_long_is_reported_and_strength_skipped() {
        let p = with_classes();
        let long = format!("Aa1!{}", "x".repeat(200));
        let c = codes(&p.check("password", &Secret::new(&long), &[]));
        assert_eq!(c, vec!["too_long"]);
    }

    #[test]
    fn context_makes_personal_passwords_weak() {
        let p = PasswordPolicy { min_strength: 4, ..Default::default() };
        let e = p.check_strength("password", &Secret::new("Alicewonder!1"), &["alicewonder"]);
        assert_eq!(codes(&e), vec!["too_weak"]);
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let p = PasswordPolicy {
            min_length: 8,
            min_strength: 0,
            require_special: false,
            require_numbers: false,
            require_uppercase: false,
            ..Default::default()
        };
        // 8 characters, 16 bytes.
        assert!(
            p.check_rules("password", &Secret::new("ééééééé\u{e9}")).0.iter().all(|v| v.code != "too_short")
        );
    }
}
