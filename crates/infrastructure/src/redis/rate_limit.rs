//! GCRA rate limits in Redis, optionally with budget leases (issue 13).
//!
//! Exact mode: every request is one script call. Leasing mode
//! ([`RedisRateLimiter::leasing`]): when a key's budget is large, a request
//! that finds no lease here takes a slice of the budget from Redis
//! ([`portcullis_domain::rate::gcra_take`], the same arithmetic), uses one
//! request of it and keeps the rest in this instance's memory for at most
//! [`LeasePolicy::span`]; the next requests of that key are decided here
//! without a round trip. A lease is cut from the shared budget, so the fleet
//! never admits more than the limit; a lease left unused when it lapses is
//! budget lost (at most `limit / share` per instance and key: admission can
//! only err on the strict side). Half-way through its span, one request
//! renews the lease (the others go on using it), so a busy key never has all
//! its requests waiting on Redis at once. Refusals always come from Redis. A budget
//! too small for a slice of two or more is counted in Redis every time:
//! with the default limits (100 a minute, 5 per 15 minutes) nothing is
//! leased, and every decision is the exact one.

use super::{RedisStore, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{RateLimitDecision, RateLimitKey, RateLimiter, StoreError};
use portcullis_domain::rate::window_us;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};
use time::Duration;

/// GCRA ([`portcullis_domain::rate::gcra_take`], the same arithmetic) over
/// any number of keys in one script: one round trip per request whatever the
/// number of budgets it is counted against. A key holds one integer, the
/// TAT in µs of Redis server time (so every app instance agrees), and
/// expires when the budget is full again. KEYS: the budgets; ARGV: limit,
/// window (µs) and requests wanted per key. Returns granted (0: refused),
/// remaining and reset (µs) per key.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local want = math.max(1, tonumber(ARGV[3 * i]))
  local interval = math.max(1, math.floor(window / math.max(1, limit)))
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local granted = math.min(want, math.max(0, math.floor((window - (tat - now)) / interval)))
  if granted >= 1 then
    local nxt = tat + granted * interval
    redis.call('SET', key, string.format('%d', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
    local remaining = math.min(limit, math.max(0, math.floor((window - (nxt - now)) / interval)))
    out[#out + 1] = granted
    out[#out + 1] = remaining
    out[#out + 1] = math.max(1, nxt - now)
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = math.max(1, tat + interval - window - now)
  end
end
return out
",
    )
});

/// How large a lease may be: at most `1 / share` of the limit and at most
/// `span` of the budget's steady rate, and it lapses after `span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    pub span: StdDuration,
    pub share: u32,
}

impl Default for LeasePolicy {
    /// 100 ms, 1/64: a limit under 128 per window is never leased.
    fn default() -> Self {
        Self { span: StdDuration::from_millis(100), share: 64 }
    }
}

impl LeasePolicy {
    /// Requests a lease of this budget holds (1: the budget is not leased).
    pub fn slice(&self, limit: u32, window: Duration) -> u32 {
        let by_share = u128::from(limit / self.share.max(1));
        let by_rate =
            u128::from(limit) * self.span.as_micros() / u128::from(window_us(window).unsigned_abs());
        u32::try_from(by_share.min(by_rate)).unwrap_or(u32::MAX).max(1)
    }
}

/// Budget taken from Redis and not yet used, per key.
struct Lease {
    limit: u32,
    window: Duration,
    left: u32,
    /// What Redis had left when the lease was cut.
    remaining: u32,
    lapses: Instant,
    /// From then on, the next request renews the lease.
    renew_at: Instant,
    renewing: bool,
    /// When the shared budget is full again (as of the cut).
    full_at: Instant,
}

impl Lease {
    /// Still usable for this budget at `now` (not lapsed, same limit and
    /// window: a budget resized in the configuration starts a new lease).
    fn holds(&self, k: &RateLimitKey<'_>, now: Instant) -> bool {
        self.lapses > now && self.limit == k.limit && self.window == k.window
    }
}

/// Sweep lapsed leases once this many keys are held.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
struct Leases(Mutex<HashMap<String, Lease>>);

impl Leases {
    /// One request from this key's lease, if it has one that still holds,
    /// and whether this request is the one to renew it.
    fn take(&self, k: &RateLimitKey<'_>, now: Instant) -> Option<(RateLimitDecision, bool)> {
        let mut leases = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let lease = leases.get_mut(k.key).filter(|l| l.left > 0 && l.holds(k, now))?;
        lease.left -= 1;
        let renew = !lease.renewing && lease.renew_at <= now;
        lease.renewing |= renew;
        let decision = RateLimitDecision {
            allowed: true,
            limit: k.limit,
            remaining: lease.remaining.saturating_add(lease.left).min(k.limit),
            reset_after: Duration::try_from(lease.full_at.saturating_duration_since(now))
                .unwrap_or(Duration::ZERO)
                .max(Duration::MICROSECOND),
        };
        Some((decision, renew))
    }

    /// A renewal failed: the next request past `renew_at` tries again.
    fn renewal_failed(&self, key: &str) {
        let mut leases = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lease) = leases.get_mut(key) {
            lease.renewing = false;
        }
    }

    /// Keeps `extra` requests granted beyond any used now (a renewal keeps
    /// what the lease still held: at most two slices are held at once).
    fn keep(&self, k: &RateLimitKey<'_>, extra: u32, d: &RateLimitDecision, now: Instant, span: StdDuration) {
        let mut leases = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if leases.len() >= SWEEP_AT {
            leases.retain(|_, l| l.lapses > now);
        }
        // Two requests that found no lease may both have cut one: keep both.
        let carried = leases.get(k.key).filter(|l| l.holds(k, now)).map_or(0, |l| l.left);
        let lease = Lease {
            limit: k.limit,
            window: k.window,
            left: carried.saturating_add(extra),
            remaining: d.remaining,
            lapses: now + span,
            renew_at: now + span / 2,
            renewing: false,
            full_at: now + StdDuration::try_from(d.reset_after).unwrap_or_default(),
        };
        leases.insert(k.key.to_owned(), lease);
    }
}

#[derive(Clone)]
pub struct RedisRateLimiter {
    store: RedisStore,
    leasing: Option<(LeasePolicy, Arc<Leases>)>,
}

impl RedisRateLimiter {
    /// Every request counted in Redis.
    pub fn new(store: RedisStore) -> Self {
        Self { store, leasing: None }
    }

    /// Large budgets leased to this instance in slices (see the module).
    pub fn leasing(store: RedisStore, policy: LeasePolicy) -> Self {
        Self { store, leasing: Some((policy, Arc::default())) }
    }

    /// One script call: (key, wanted) → (granted, decision).
    async fn take_all(
        &self,
        keys: &[(RateLimitKey<'_>, u32)],
    ) -> Result<Vec<(u32, RateLimitDecision)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = GCRA.prepare_invoke();
        for (k, want) in keys {
            invocation.key(self.store.key("rl", k.key)).arg(k.limit).arg(window_us(k.window)).arg(*want);
        }
        let mut conn = self.store.conn().await?;
        let flat: Vec<i64> = invocation.invoke_async(&mut conn).await.map_err(unavailable)?;
        if flat.len() != keys.len() * 3 {
            return Err(StoreError::Unavailable(
                "the rate-limit script answered the wrong number of values".into(),
            ));
        }
        Ok(keys
            .iter()
            .zip(flat.chunks_exact(3))
            .map(|((k, _), d)| {
                let granted = u32::try_from(d[0]).unwrap_or(0);
                let decision = RateLimitDecision {
                    allowed: granted >= 1,
                    limit: k.limit,
                    remaining: u32::try_from(d[1]).unwrap_or(0),
                    reset_after: Duration::microseconds(d[2]),
                };
                (granted, decision)
            })
            .collect())
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateLimitDecision, StoreError> {
        let mut decisions = self.hit_all(&[RateLimitKey { key, limit, window }]).await?;
        decisions
            .pop()
            .ok_or_else(|| StoreError::Unavailable("the rate-limit script answered nothing".into()))
    }

    async fn hit_all<'a>(&self, keys: &[RateLimitKey<'a>]) -> Result<Vec<RateLimitDecision>, StoreError> {
        let Some((policy, leases)) = &self.leasing else {
            let wanted: Vec<_> = keys.iter().map(|k| (*k, 1)).collect();
            return Ok(self.take_all(&wanted).await?.into_iter().map(|(_, d)| d).collect());
        };
        let now = Instant::now();
        let mut decided = Vec::with_capacity(keys.len());
        // (key, requests wanted, whether this request's decision waits on it)
        let mut wanted = Vec::new();
        for k in keys {
            let slice = policy.slice(k.limit, k.window);
            match leases.take(k, now) {
                Some((decision, renew)) => {
                    decided.push(Some(decision));
                    if renew {
                        wanted.push((*k, slice, false));
                    }
                }
                None => {
                    decided.push(None);
                    wanted.push((*k, slice, true));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(decided.into_iter().flatten().collect());
        }
        let asked: Vec<_> = wanted.iter().map(|(k, want, _)| (*k, *want)).collect();
        let taken = match self.take_all(&asked).await {
            Ok(taken) => taken,
            Err(error) => {
                for (k, _, _) in wanted.iter().filter(|(_, _, waits)| !waits) {
                    leases.renewal_failed(k.key);
                }
                if wanted.iter().any(|(_, _, waits)| *waits) {
                    return Err(error);
                }
                tracing::debug!(%error, "rate-limit lease renewal failed");
                return Ok(decided.into_iter().flatten().collect());
            }
        };
        let now = Instant::now();
        let mut pending = decided.iter_mut().filter(|d| d.is_none());
        for ((k, _, waits), (granted, decision)) in wanted.iter().zip(taken) {
            if *waits {
                if granted > 1 {
                    leases.keep(k, granted - 1, &decision, now, policy.span);
                }
                if let Some(slot) = pending.next() {
                    *slot = Some(decision);
                }
            } else if granted >= 1 {
                leases.keep(k, granted, &decision, now, policy.span);
            } else {
                leases.renewal_failed(k.key);
            }
        }
        Ok(decided.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_follow_the_share_and_the_rate() {
        let policy = LeasePolicy::default();
        let minute = Duration::minutes(1);
        // (limit, window, slice)
        let cases = [
            (100, minute, 1),
            (5, Duration::minutes(15), 1),
            (127, Duration::milliseconds(100), 1),
            (128, Duration::milliseconds(100), 2),
            (60_000, minute, 100),
            (1_000_000_000, minute, 1_666_666),
            (u32::MAX, Duration::milliseconds(1), u32::MAX / 64),
            (u32::MAX, Duration::ZERO, u32::MAX / 64),
        ];
        for (limit, window, slice) in cases {
            assert_eq!(policy.slice(limit, window), slice, "{limit} per {window}");
        }
    }

    fn decision(remaining: u32, reset_ms: i64) -> RateLimitDecision {
        RateLimitDecision {
            allowed: true,
            limit: 1000,
            remaining,
            reset_after: Duration::milliseconds(reset_ms),
        }
    }

    #[test]
    fn a_lease_serves_what_it_holds_then_lapses() {
        let leases = Leases::default();
        let k = RateLimitKey { key: "k", limit: 1000, window: Duration::minutes(1) };
        let span = StdDuration::from_millis(100);
        let t0 = Instant::now();
        assert_eq!(leases.take(&k, t0), None, "nothing leased yet");
        leases.keep(&k, 2, &decision(900, 5_000), t0, span);
        let (first, renew) = leases.take(&k, t0).expect("leased");
        assert_eq!((first.remaining, first.reset_after, renew), (901, Duration::milliseconds(5_000), false));
        assert_eq!(leases.take(&k, t0 + StdDuration::from_millis(1)).map(|(d, _)| d.remaining), Some(900));
        assert_eq!(leases.take(&k, t0), None, "spent");
        leases.keep(&k, 5, &decision(800, 5_000), t0, span);
        assert_eq!(leases.take(&k, t0 + span), None, "lapsed");
        let other_limit = RateLimitKey { limit: 2000, ..k };
        leases.keep(&k, 5, &decision(800, 5_000), t0, span);
        assert_eq!(leases.take(&other_limit, t0), None, "another budget under the same name");
    }

    #[test]
    fn half_way_through_its_span_one_request_renews_the_lease() {
        let leases = Leases::default();
        let k = RateLimitKey { key: "k", limit: 1000, window: Duration::minutes(1) };
        let span = StdDuration::from_millis(100);
        let t0 = Instant::now();
        leases.keep(&k, 10, &decision(900, 5_000), t0, span);
        let half = t0 + span / 2;
        let renewers: Vec<bool> = (0..4).map(|_| leases.take(&k, half).expect("leased").1).collect();
        assert_eq!(renewers, [true, false, false, false], "one renewal at a time");
        leases.renewal_failed("k");
        assert_eq!(leases.take(&k, half).map(|(_, renew)| renew), Some(true), "tried again after a failure");
        leases.keep(&k, 10, &decision(800, 5_000), half, span);
        let (d, renew) = leases.take(&k, half).expect("renewed");
        assert_eq!((d.remaining, renew), (800 + 14, false), "what was left is kept beside the new slice");
        assert!(leases.take(&k, half + span / 2 - StdDuration::from_millis(1)).is_some_and(|(_, r)| !r));
    }

    #[test]
    fn two_cuts_for_one_key_are_both_kept() {
        let leases = Leases::default();
        let k = RateLimitKey { key: "k", limit: 1000, window: Duration::minutes(1) };
        let t0 = Instant::now();
        let span = StdDuration::from_millis(100);
        leases.keep(&k, 1, &decision(10, 1), t0, span);
        leases.keep(&k, 1, &decision(9, 1), t0, span);
        assert!(leases.take(&k, t0).is_some());
        assert!(leases.take(&k, t0).is_some());
        assert!(leases.take(&k, t0).is_none());
    }
}
