use super::{RedisStore, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::Script;
use portcullis_application::ports::{RateLimitDecision, RateLimitKey, RateLimiter, StoreError};
use portcullis_domain::rate::window_us;
use std::sync::LazyLock;
use time::Duration;

/// GCRA ([`portcullis_domain::rate::gcra`], the same arithmetic) over any
/// number of keys in one script: one round trip per request whatever the
/// number of budgets it is counted against. A key holds one integer, the
/// TAT in µs of Redis server time (so every app instance agrees), and
/// expires when the budget is full again. KEYS: the budgets; ARGV: limit and
/// window (µs) per key. Returns allowed, remaining and reset (µs) per key.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local interval = math.max(1, math.floor(window / math.max(1, limit)))
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local nxt = tat + interval
  if nxt - now <= window then
    redis.call('SET', key, string.format('%d', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
    local remaining = math.min(limit, math.max(0, math.floor((window - (nxt - now)) / interval)))
    out[#out + 1] = 1
    out[#out + 1] = remaining
    out[#out + 1] = math.max(1, nxt - now)
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = math.max(1, nxt - window - now)
  end
end
return out
",
    )
});

#[derive(Clone)]
pub struct RedisRateLimiter(RedisStore);

impl RedisRateLimiter {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
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
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = GCRA.prepare_invoke();
        for k in keys {
            invocation.key(self.0.key("rl", k.key)).arg(k.limit).arg(window_us(k.window));
        }
        let mut conn = self.0.conn().await?;
        let flat: Vec<i64> = invocation.invoke_async(&mut conn).await.map_err(unavailable)?;
        if flat.len() != keys.len() * 3 {
            return Err(StoreError::Unavailable(
                "the rate-limit script answered the wrong number of values".into(),
            ));
        }
        Ok(keys
            .iter()
            .zip(flat.chunks_exact(3))
            .map(|(k, d)| RateLimitDecision {
                allowed: d[0] == 1,
                limit: k.limit,
                remaining: u32::try_from(d[1]).unwrap_or(0),
                reset_after: Duration::microseconds(d[2]),
            })
            .collect())
    }
}
