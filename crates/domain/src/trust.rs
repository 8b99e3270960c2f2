//! A session's trust score (0–100): how much a sign-in looks like its owner.
//! Pure: the signals are gathered by the use case (device, audit log, MFA,
//! account, lockout counters); the score is stored on the session, shown in
//! the session list and lets a high-trust session have a relaxed budget.

use time::Duration;

/// What is known about a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustSignals {
    /// The device was marked trusted by its owner.
    pub trusted_device: bool,
    /// The owner signed in from this source before (audit log, 90 days).
    pub known_ip: bool,
    /// A second factor was used for this sign-in.
    pub second_factor: bool,
    /// How long the account has existed.
    pub account_age: Duration,
    /// Wrong passwords for the account recently (the lockout window).
    pub recent_failures: u32,
}

/// 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrustScore(u8);

impl TrustScore {
    /// From this score on a session counts as high-trust.
    pub const HIGH: u8 = 70;

    pub fn value(self) -> u8 {
        self.0
    }

    pub fn is_high(self) -> bool {
        self.0 >= Self::HIGH
    }

    /// Whether a stored score (0–100) is high.
    pub fn is_high_value(score: u8) -> bool {
        score >= Self::HIGH
    }
}

const BASE: i32 = 20;
const TRUSTED_DEVICE: i32 = 30;
const KNOWN_IP: i32 = 20;
const SECOND_FACTOR: i32 = 25;
const PER_FAILURE: i32 = 10;
const MAX_FAILURE_PENALTY: i32 = 40;

/// The score: a base, plus what vouches for the sign-in, minus recent failures.
pub fn trust_score(s: &TrustSignals) -> TrustScore {
    let age = if s.account_age >= Duration::days(30) {
        10
    } else if s.account_age >= Duration::days(7) {
        5
    } else {
        0
    };
    let failures = (i32::try_from(s.recent_failures).unwrap_or(i32::MAX).saturating_mul(PER_FAILURE))
        .min(MAX_FAILURE_PENALTY);
    let score = BASE
        + if s.trusted_device { TRUSTED_DEVICE } else { 0 }
        + if s.known_ip { KNOWN_IP } else { 0 }
        + if s.second_factor { SECOND_FACTOR } else { 0 }
        + age
        - failures;
    TrustScore(score.clamp(0, 100) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(device: bool, ip: bool, mfa: bool, age_days: i64, failures: u32) -> TrustSignals {
        TrustSignals {
            trusted_device: device,
            known_ip: ip,
            second_factor: mfa,
            account_age: Duration::days(age_days),
            recent_failures: failures,
        }
    }

    #[test]
    fn scores_follow_the_signals() {
        let table: [(TrustSignals, u8, bool); 9] = [
            (signals(false, false, false, 0, 0), 20, false),
            (signals(true, false, false, 0, 0), 50, false),
            (signals(true, true, false, 0, 0), 70, true),
            (signals(true, true, true, 0, 0), 95, true),
            (signals(true, true, true, 365, 0), 100, true),
            (signals(false, true, false, 8, 0), 45, false),
            (signals(false, false, false, 0, 2), 0, false),
            (signals(true, true, true, 365, 3), 75, true),
            (signals(true, true, true, 365, 1_000_000), 65, false),
        ];
        for (s, score, high) in table {
            let got = trust_score(&s);
            assert_eq!((got.value(), got.is_high()), (score, high), "{s:?}");
        }
    }

    #[test]
    fn every_good_signal_raises_and_every_failure_lowers() {
        for base in [signals(false, false, false, 0, 1), signals(false, true, false, 10, 0)] {
            let raised = [
                TrustSignals { trusted_device: true, ..base },
                TrustSignals { known_ip: true, ..base },
                TrustSignals { second_factor: true, ..base },
                TrustSignals { account_age: Duration::days(60), ..base },
            ];
            for r in raised {
                assert!(trust_score(&r) >= trust_score(&base), "{r:?} vs {base:?}");
            }
            let worse = TrustSignals { recent_failures: base.recent_failures + 1, ..base };
            assert!(trust_score(&worse) <= trust_score(&base));
        }
    }
}
