//! Background jobs: identity and the retry rule.

use std::fmt;
use time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Exponential backoff with full jitter: the delay before retry number
/// `attempt` (1-based) is uniform in `[base·2^(attempt-1) / 2, base·2^(attempt-1)]`,
/// capped at `max`. `jitter` in `[0, 1)` comes from the caller (no RNG here).
pub fn retry_delay(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = (base * 2f64.powi(exponent as i32)).min(max);
    let jitter = jitter.clamp(0.0, 1.0);
    full * (0.5 + 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let base = Duration::seconds(2);
        let max = Duration::minutes(5);
        assert_eq!(retry_delay(1, base, max, 1.0), Duration::seconds(2));
        assert_eq!(retry_delay(1, base, max, 0.0), Duration::seconds(1));
        assert_eq!(retry_delay(3, base, max, 1.0), Duration::seconds(8));
        assert_eq!(retry_delay(20, base, max, 1.0), max);
        assert_eq!(retry_delay(u32::MAX, base, max, 0.0), max / 2);
        let mid = retry_delay(2, base, max, 0.5);
        assert!(mid > Duration::seconds(2) && mid < Duration::seconds(4));
    }
}
