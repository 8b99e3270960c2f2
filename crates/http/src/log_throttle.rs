//! Backend errors during an outage would otherwise log one ERROR line per
//! failed request (805 lines in a 20 s Redis outage). The first failure of a
//! burst is logged with its cause; the next ones within the window are only
//! counted (`backend_errors_total` counts every one) and summed up in one line
//! when the window has passed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to log for one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` similar failures were swallowed since the last line.
    Log { suppressed: u64 },
    /// Counted, not logged.
    Quiet,
}

#[derive(Debug)]
pub struct LogThrottle {
    window: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub const fn new(window: Duration) -> Self {
        Self { window, state: Mutex::new((None, 0)) }
    }

    pub fn note(&self, now: Instant) -> Verdict {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.0 {
            Some(last) if now.duration_since(last) < self.window => {
                state.1 += 1;
                Verdict::Quiet
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Verdict::Log { suppressed }
            }
        }
    }
}

/// Every backend failure of this process goes through this one.
pub static BACKEND_ERRORS: LogThrottle = LogThrottle::new(Duration::from_secs(10));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_then_a_summary() {
        let throttle = LogThrottle::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(throttle.note(t), Verdict::Log { suppressed: 0 });
        for i in 1..=804 {
            assert_eq!(throttle.note(t + Duration::from_millis(i * 10)), Verdict::Quiet);
        }
        assert_eq!(throttle.note(t + Duration::from_secs(11)), Verdict::Log { suppressed: 804 });
        assert_eq!(throttle.note(t + Duration::from_secs(30)), Verdict::Log { suppressed: 0 });
    }
}
