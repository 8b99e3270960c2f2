//! The rate-limit rule: GCRA (the generic cell rate algorithm). A limit of
//! `limit` requests per `window` lets a burst of `limit` through at once and
//! then one request every `window / limit`: the budget refills steadily
//! instead of all at once. Its whole state per key is one instant, the
//! theoretical arrival time (TAT): the moment the budget would be full again.
//! That makes a check O(1) in time and memory whatever the rate, where a
//! sliding-window log keeps every request of the window (issue 13).
//!
//! Times are whole microseconds on any fixed scale (Unix time for Redis'
//! `TIME`). The Redis adapter runs the same arithmetic in Lua; both are held
//! to one contract suite.

/// What one request does to a key's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    pub allowed: bool,
    /// The TAT to store (unchanged when refused).
    pub tat: i64,
    /// Requests that could still be made at once.
    pub remaining: u32,
    /// Allowed: until the budget is full again. Refused: until the next
    /// request would be allowed (the `Retry-After`). Always at least 1 µs.
    pub reset_after_us: i64,
}

/// A window in whole microseconds, at least 1 (the unit of [`gcra`]).
pub fn window_us(window: time::Duration) -> i64 {
    i64::try_from(window.whole_microseconds()).unwrap_or(i64::MAX).max(1)
}

/// The spacing between requests at the steady rate, at least 1 µs.
pub fn interval_us(limit: u32, window_us: i64) -> i64 {
    (window_us / i64::from(limit.max(1))).max(1)
}

/// Decides one request at `now` against the stored TAT (`None`: never seen,
/// or expired — the key lives only until its TAT).
pub fn gcra(stored_tat: Option<i64>, now: i64, limit: u32, window_us: i64) -> GcraOutcome {
    gcra_take(stored_tat, now, limit, window_us, 1).1
}

/// Takes up to `want` requests' worth of the budget at once (at least one is
/// asked for): as many as fit, and the outcome of the last one taken. Granted
/// zero is a refusal, exactly as [`gcra`] refuses one request. What a lease
/// of budget (served from an instance's memory, issue 13) is cut from: the
/// budget never gives out more than a run of single requests would have.
pub fn gcra_take(
    stored_tat: Option<i64>,
    now: i64,
    limit: u32,
    window_us: i64,
    want: u32,
) -> (u32, GcraOutcome) {
    let interval = interval_us(limit, window_us);
    let tat = stored_tat.map_or(now, |t| t.max(now));
    let room = (window_us.saturating_sub(tat - now) / interval).max(0);
    let granted = room.min(i64::from(want.max(1)));
    let remaining =
        |used: i64| u32::try_from(((window_us - used) / interval).clamp(0, i64::from(limit))).unwrap_or(0);
    if granted >= 1 {
        let next = tat.saturating_add(granted * interval);
        let outcome = GcraOutcome {
            allowed: true,
            tat: next,
            remaining: remaining(next - now),
            reset_after_us: (next - now).max(1),
        };
        (u32::try_from(granted).unwrap_or(u32::MAX), outcome)
    } else {
        let reset_after_us = (tat.saturating_add(interval) - window_us - now).max(1);
        (0, GcraOutcome { allowed: false, tat, remaining: 0, reset_after_us })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    /// (allowed, remaining, reset after µs) of one hit.
    type Seen = (bool, u32, i64);
    /// name, limit, window, the instants of the hits, what each sees.
    type Case = (&'static str, u32, i64, &'static [i64], &'static [Seen]);

    /// Runs hits at the given instants and returns (allowed, remaining, reset).
    fn run(limit: u32, window: i64, at: &[i64]) -> Vec<Seen> {
        let mut tat = None;
        at.iter()
            .map(|&now| {
                let o = gcra(tat, now, limit, window);
                tat = Some(o.tat);
                (o.allowed, o.remaining, o.reset_after_us)
            })
            .collect()
    }

    #[test]
    fn table() {
        let cases: &[Case] = &[
            (
                "a burst of `limit` passes, the next waits one interval",
                3,
                60 * S,
                &[0, 0, 0, 0],
                &[(true, 2, 20 * S), (true, 1, 40 * S), (true, 0, 60 * S), (false, 0, 20 * S)],
            ),
            (
                "after the burst, one request per interval",
                2,
                S,
                &[0, 0, S / 2, S / 2, S / 2 + S / 2],
                &[(true, 1, S / 2), (true, 0, S), (true, 0, S), (false, 0, S / 2), (true, 0, S)],
            ),
            (
                "a quiet key refills fully, never beyond its limit",
                2,
                S,
                &[0, 10 * S, 10 * S, 10 * S],
                &[(true, 1, S / 2), (true, 1, S / 2), (true, 0, S), (false, 0, S / 2)],
            ),
            (
                "a refusal does not move the TAT",
                1,
                S,
                &[0, 1, 2, S],
                &[(true, 0, S), (false, 0, S - 1), (false, 0, S - 2), (true, 0, S)],
            ),
            (
                "an interval rounds down to whole microseconds, never to zero",
                3,
                S,
                &[0, 0, 0, 0],
                &[(true, 2, 333_333), (true, 1, 666_666), (true, 0, 999_999), (false, 0, 333_332)],
            ),
        ];
        for (name, limit, window, at, expected) in cases {
            assert_eq!(run(*limit, *window, at), *expected, "{name}");
        }
    }

    /// name, limit, window, stored TAT, now, want → granted, outcome.
    type TakeCase = (&'static str, u32, i64, Option<i64>, i64, u32, (u32, bool, i64, u32, i64));

    #[test]
    fn taking_several_at_once() {
        let cases: &[TakeCase] = &[
            ("a fresh budget gives what is asked", 10, 10 * S, None, 0, 4, (4, true, 4 * S, 6, 4 * S)),
            ("never more than fits", 10, 10 * S, Some(7 * S), 0, 5, (3, true, 10 * S, 0, 10 * S)),
            ("a full budget gives nothing", 10, 10 * S, Some(10 * S), 0, 5, (0, false, 10 * S, 0, S)),
            ("a past TAT counts from now", 10, 10 * S, Some(-50 * S), 0, 2, (2, true, 2 * S, 8, 2 * S)),
            ("asking for none asks for one", 10, 10 * S, None, 0, 0, (1, true, S, 9, S)),
            ("the whole budget, then no more", 3, 3 * S, None, 0, u32::MAX, (3, true, 3 * S, 0, 3 * S)),
        ];
        for (name, limit, window, stored, now, want, expected) in cases {
            let (granted, o) = gcra_take(*stored, *now, *limit, *window, *want);
            assert_eq!((granted, o.allowed, o.tat, o.remaining, o.reset_after_us), *expected, "{name}");
        }
    }

    #[test]
    fn one_take_of_n_is_n_single_requests() {
        for (limit, window, start, want) in
            [(5, 60 * S, None, 3), (7, S, Some(S / 3), 7), (100, S, Some(0), 40)]
        {
            let mut tat = start;
            let mut last = None;
            for _ in 0..want {
                let o = gcra(tat, 0, limit, window);
                if o.allowed {
                    tat = Some(o.tat);
                    last = Some(o);
                }
            }
            let (granted, o) = gcra_take(start, 0, limit, window, want);
            assert!(granted >= 1);
            assert_eq!(Some(o), last, "limit {limit}, want {want}");
        }
    }

    #[test]
    fn a_limit_above_the_window_in_microseconds_still_allows_bursts() {
        assert_eq!(interval_us(u32::MAX, 60 * S), 1);
        assert_eq!(interval_us(0, S), S);
        let o = gcra(None, 0, u32::MAX, 60 * S);
        assert!(o.allowed);
    }
}
