//! Second factors: the rules of TOTP codes (RFC 6238: 30-second steps, one
//! step of skew either way, each step accepted once) and of backup codes
//! (ten, each usable once, kept only as hashes). The arithmetic of a code
//! itself (HMAC-SHA1, truncation) is an adapter's; what counts as accepted
//! is decided here.

use crate::phone::PhoneNumber;
use crate::secret::{Secret, TokenHash};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// Seconds per TOTP step (RFC 6238's recommended X).
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Steps accepted either side of the current one (clock drift, typing time).
pub const TOTP_SKEW: u64 = 1;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Backup codes issued at once.
pub const BACKUP_CODE_COUNT: usize = 10;

/// The TOTP time step containing `at` (0 before the epoch).
pub fn totp_step(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp().div_euclid(TOTP_STEP_SECONDS)).unwrap_or(0)
}

/// The verdict on a TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpVerdict {
    /// Matches `step`, which was not used before: record it as the last used.
    Accepted { step: u64 },
    /// Matches a step at or before the last one used: a replayed code.
    Replayed,
    /// Matches no step in the window (or is not 6 digits).
    Wrong,
}

/// Decides a presented TOTP code. `matches(step)` says whether the code is
/// the one for that step; it is asked for every step of the window (the
/// same work whatever the answer). A step at or before `last_used` is
/// never accepted again, so a code (or an older one) cannot be replayed.
pub fn decide_totp(
    code: &str,
    now_step: u64,
    last_used: Option<u64>,
    matches: impl Fn(u64) -> bool,
) -> TotpVerdict {
    let well_formed = is_totp_shaped(code);
    let window = now_step.saturating_sub(TOTP_SKEW)..=now_step.saturating_add(TOTP_SKEW);
    // Every step is checked; the latest matching one wins.
    let matched = window.filter(|step| matches(*step)).last();
    match matched {
        _ if !well_formed => TotpVerdict::Wrong,
        None => TotpVerdict::Wrong,
        Some(step) if last_used.is_some_and(|used| step <= used) => TotpVerdict::Replayed,
        Some(step) => TotpVerdict::Accepted { step },
    }
}

/// Whether `code` has the shape of a TOTP code (6 digits); anything else
/// can only be a backup code.
pub fn is_totp_shaped(code: &str) -> bool {
    code.len() == TOTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The factors a sign-in challenge accepts: each confirmed factor (an
/// authenticator app, a phone), and backup codes while some are left and a
/// factor is on. None: the sign-in needs no second factor.
pub fn offered_factors(
    totp_confirmed: bool,
    sms_confirmed: bool,
    security_keys: usize,
    backup_codes_left: usize,
) -> Vec<SecondFactor> {
    let mut factors = Vec::new();
    if totp_confirmed {
        factors.push(SecondFactor::Totp);
    }
    if sms_confirmed {
        factors.push(SecondFactor::Sms);
    }
    if security_keys > 0 {
        factors.push(SecondFactor::SecurityKey);
    }
    if !factors.is_empty() && backup_codes_left > 0 {
        factors.push(SecondFactor::BackupCode);
    }
    factors
}

/// How long a texted code can be used.
pub const SMS_CODE_TTL: Duration = Duration::minutes(5);
/// Digits of a texted code.
pub const SMS_CODE_DIGITS: usize = 6;

/// What a texted code was sent for; a code answers only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsPurpose {
    /// Proves a new phone number is the user's.
    Enrol,
    /// Answers a sign-in challenge.
    SignIn,
    /// Step-up, turning factors off, new backup codes.
    StepUp,
}

impl SmsPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrol => "enrol",
            Self::SignIn => "sign_in",
            Self::StepUp => "step_up",
        }
    }
}

/// What is kept of a texted code while it can be used: a salted SHA-256 of
/// it, the number it went to and what it was for — never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentSmsCode {
    pub purpose: SmsPurpose,
    /// E.164.
    pub phone: String,
    /// Random, per code: equal codes of two users hash differently.
    pub salt: String,
    /// Hex SHA-256 of `salt:phone:code`.
    pub hash: String,
}

fn sms_code_hash(salt: &str, phone: &str, code: &str) -> TokenHash {
    TokenHash::of(&Secret::new(format!("{salt}:{phone}:{}", normalize_code(code))))
}

impl SentSmsCode {
    pub fn new(purpose: SmsPurpose, phone: &PhoneNumber, salt: String, code: &Secret) -> Self {
        let hash = sms_code_hash(&salt, phone.as_str(), code.expose()).to_hex();
        Self { purpose, phone: phone.as_str().to_owned(), salt, hash }
    }
}

/// The verdict on a texted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsVerdict {
    Accepted,
    /// Not the code sent (or not 6 digits).
    Wrong,
    /// The code sent, but for something else (a sign-in code used to step up).
    OtherPurpose,
    /// Sent to a number the factor no longer has.
    NumberChanged,
}

/// Decides a presented code against the one sent. The hash is computed and
/// compared (in constant time) whatever else is wrong. Expiry and single use
/// are the store's: a sent code lives `SMS_CODE_TTL` and is taken once.
pub fn decide_sms_code(
    sent: &SentSmsCode,
    presented: &str,
    purpose: SmsPurpose,
    phone: &PhoneNumber,
) -> SmsVerdict {
    let presented = normalize_code(presented);
    let shaped = presented.len() == SMS_CODE_DIGITS && presented.bytes().all(|b| b.is_ascii_digit());
    let expected = sent.hash.len() == 64;
    let matches =
        sms_code_hash(&sent.salt, &sent.phone, &presented).to_hex().as_bytes().ct_eq(sent.hash.as_bytes());
    match () {
        _ if !shaped || !expected || !bool::from(matches) => SmsVerdict::Wrong,
        _ if sent.purpose != purpose => SmsVerdict::OtherPurpose,
        _ if sent.phone != phone.as_str() => SmsVerdict::NumberChanged,
        _ => SmsVerdict::Accepted,
    }
}

/// The form a code is typed in, made canonical: backup codes ignore case,
/// spaces and dashes (`ABCD-efgh` is `abcdefgh`); TOTP codes ignore spaces.
pub fn normalize_code(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// A backup code's stored form: SHA-256 of its canonical text. The codes
/// carry 80 random bits, so a fast hash is enough (as for refresh tokens).
pub fn backup_code_hash(raw: &str) -> TokenHash {
    TokenHash::of(&Secret::new(normalize_code(raw)))
}

/// Groups a backup code's canonical characters as `xxxx-xxxx-xxxx-xxxx`.
pub fn format_backup_code(canonical: &str) -> String {
    let chars: Vec<char> = canonical.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// A second factor a user can answer a challenge with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// A code texted to a confirmed phone.
    Sms,
    /// A WebAuthn security key (an assertion, not a typed code).
    SecurityKey,
    /// One of the printed single-use codes.
    BackupCode,
}

impl SecondFactor {
    pub const ALL: [SecondFactor; 4] = [Self::Totp, Self::Sms, Self::SecurityKey, Self::BackupCode];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Sms => "sms",
            Self::SecurityKey => "security_key",
            Self::BackupCode => "backup_code",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The RFC 8176 authentication method reference of this factor.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp | Self::BackupCode => "otp",
            Self::Sms => "sms",
            Self::SecurityKey => "hwk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn steps_follow_the_unix_clock() {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        assert_eq!(totp_step(at(0)), 0);
        assert_eq!(totp_step(at(29)), 0);
        assert_eq!(totp_step(at(30)), 1);
        assert_eq!(totp_step(at(59)), 1);
        assert_eq!(totp_step(at(1_111_111_109)), 37_037_036, "RFC 6238 appendix B, T = 0x23523EC");
        assert_eq!(totp_step(at(-1)), 0, "before the epoch: never negative");
    }

    /// A table of the window and replay rules (the code "matches" the steps listed).
    #[test]
    fn the_window_and_the_replay_rule() {
        type Row = (&'static str, u64, Option<u64>, &'static [u64], TotpVerdict);
        let table: [Row; 10] = [
            ("123456", 100, None, &[100], TotpVerdict::Accepted { step: 100 }),
            ("123456", 100, None, &[99], TotpVerdict::Accepted { step: 99 }),
            ("123456", 100, None, &[101], TotpVerdict::Accepted { step: 101 }),
            ("123456", 100, None, &[98], TotpVerdict::Wrong),
            ("123456", 100, None, &[102], TotpVerdict::Wrong),
            ("123456", 100, Some(100), &[100], TotpVerdict::Replayed),
            ("123456", 100, Some(100), &[99], TotpVerdict::Replayed),
            ("123456", 100, Some(99), &[100], TotpVerdict::Accepted { step: 100 }),
            ("12345", 100, None, &[100], TotpVerdict::Wrong),
            ("12345a", 100, None, &[100], TotpVerdict::Wrong),
        ];
        for (code, now, last, matching, expected) in table {
            let verdict = decide_totp(code, now, last, |s| matching.contains(&s));
            assert_eq!(verdict, expected, "{code} now={now} last={last:?} matching={matching:?}");
        }
        assert_eq!(decide_totp("000000", 0, None, |s| s == 0), TotpVerdict::Accepted { step: 0 });
    }

    #[test]
    fn backup_codes_ignore_case_spaces_and_dashes() {
        assert_eq!(normalize_code(" ABCD-efgh ijkl-MNOP "), "abcdefghijklmnop");
        assert_eq!(backup_code_hash("ABCD-EFGH-IJKL-MNOP"), backup_code_hash("abcdefghijklmnop"));
        assert_ne!(backup_code_hash("abcdefghijklmnop"), backup_code_hash("abcdefghijklmnoq"));
        assert_eq!(format_backup_code("abcdefghijklmnop"), "abcd-efgh-ijkl-mnop");
        for factor in SecondFactor::ALL {
            assert_eq!(SecondFactor::parse(factor.as_str()), Some(factor));
        }
        assert_eq!(SecondFactor::parse("voice"), None);
        assert!(is_totp_shaped("012345") && !is_totp_shaped("01234") && !is_totp_shaped("abcdef"));
    }

    #[test]
    fn the_factors_a_challenge_offers() {
        use SecondFactor::{BackupCode, SecurityKey, Sms, Totp};
        type Row = (bool, bool, usize, usize, &'static [SecondFactor]);
        let table: [Row; 10] = [
            (false, false, 0, 10, &[]),
            (false, false, 0, 0, &[]),
            (true, false, 0, 0, &[Totp]),
            (true, false, 0, 3, &[Totp, BackupCode]),
            (false, true, 0, 0, &[Sms]),
            (false, true, 0, 10, &[Sms, BackupCode]),
            (true, true, 0, 1, &[Totp, Sms, BackupCode]),
            (false, false, 1, 0, &[SecurityKey]),
            (false, false, 2, 10, &[SecurityKey, BackupCode]),
            (true, true, 1, 10, &[Totp, Sms, SecurityKey, BackupCode]),
        ];
        for (totp, sms, keys, left, expected) in table {
            let offered = offered_factors(totp, sms, keys, left);
            assert_eq!(offered, expected, "totp={totp} sms={sms} keys={keys} left={left}");
        }
    }

    #[test]
    fn a_texted_code_answers_its_purpose_on_its_number() {
        let phone = PhoneNumber::parse("+447911123456").unwrap();
        let other = PhoneNumber::parse("+14155552671").unwrap();
        let sent = SentSmsCode::new(SmsPurpose::SignIn, &phone, "salt".into(), &Secret::new("012345"));
        assert!(!sent.hash.contains("012345"), "only the hash is kept");
        type Row = (&'static str, SmsPurpose, bool, SmsVerdict);
        let table: [Row; 8] = [
            ("012345", SmsPurpose::SignIn, true, SmsVerdict::Accepted),
            (" 012 345 ", SmsPurpose::SignIn, true, SmsVerdict::Accepted),
            ("012346", SmsPurpose::SignIn, true, SmsVerdict::Wrong),
            ("01234", SmsPurpose::SignIn, true, SmsVerdict::Wrong),
            ("", SmsPurpose::SignIn, true, SmsVerdict::Wrong),
            ("012345", SmsPurpose::StepUp, true, SmsVerdict::OtherPurpose),
            ("012346", SmsPurpose::StepUp, true, SmsVerdict::Wrong),
            ("012345", SmsPurpose::SignIn, false, SmsVerdict::NumberChanged),
        ];
        for (code, purpose, same_number, expected) in table {
            let number = if same_number { &phone } else { &other };
            assert_eq!(decide_sms_code(&sent, code, purpose, number), expected, "{code:?} {purpose:?}");
        }
        let salted = SentSmsCode::new(SmsPurpose::SignIn, &phone, "pepper".into(), &Secret::new("012345"));
        assert_ne!(salted.hash, sent.hash, "the salt changes the hash");
        let broken = SentSmsCode { hash: "00".into(), ..sent };
        assert_eq!(decide_sms_code(&broken, "012345", SmsPurpose::SignIn, &phone), SmsVerdict::Wrong);
    }

    proptest! {
        /// Whatever the clock and the history, an accepted step lies within
        /// one step of now and after every step used before.
        #[test]
        fn an_accepted_step_is_in_the_window_and_new(
            now in 0u64..1_000_000,
            last in proptest::option::of(0u64..1_000_000),
            matching in proptest::collection::vec(0u64..1_000_002, 0..4),
        ) {
            if let TotpVerdict::Accepted { step } = decide_totp("123456", now, last, |s| matching.contains(&s)) {
                prop_assert!(step + 1 >= now && step <= now + 1);
                prop_assert!(matching.contains(&step));
                prop_assert!(last.is_none_or(|used| step > used));
            }
        }

        /// Single use: once a code's step is recorded, the same code (and
        /// every code of an earlier step) is refused for ever after.
        #[test]
        fn a_code_is_never_accepted_twice(
            start in 1u64..1_000_000,
            later in 0u64..5,
            matching in proptest::collection::vec(0u64..1_000_010, 1..4),
        ) {
            let first = decide_totp("123456", start, None, |s| matching.contains(&s));
            if let TotpVerdict::Accepted { step } = first {
                let again = decide_totp("123456", start + later, Some(step), |s| matching.contains(&s) && s <= step);
                prop_assert_ne!(matches!(again, TotpVerdict::Accepted { .. }), true);
            }
        }

        /// A code that matches nothing is wrong whatever else holds.
        #[test]
        fn no_match_is_wrong(now in 0u64..u64::MAX, last in proptest::option::of(0u64..u64::MAX)) {
            prop_assert_eq!(decide_totp("123456", now, last, |_| false), TotpVerdict::Wrong);
        }
    }
}
