//! The job queue on Redis. Per queue: a ready list (`pending`), sorted sets
//! `scheduled` (by run time) and `running` (by visibility deadline), a sorted
//! set `dead` (by time of death) and a `completed` counter; each job is a hash.
//! Every step is one Lua script using Redis's clock, so workers on several
//! machines agree and no step is half-done. See docs/adr/0006.

use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis::{Script, ScriptInvocation};
use portcullis_application::Cause;
use portcullis_application::ports::{
    DeadJob, Enqueued, Failed, Job, JobQueue, NewJob, QueueStats, Reserved, StoreError,
};
use portcullis_domain::jobs::JobId;
use std::collections::HashMap;
use std::sync::LazyLock;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const NOW: &str =
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{body}"))
}

/// KEYS: pending, scheduled, job, idempotency, queues.
/// ARGV: id, delay ms, queue, kind, payload, max_retries, use idempotency (0/1).
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if ARGV[7] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {0, existing} end
  redis.call('SET', KEYS[4], ARGV[1], 'EX', 86400)
end
redis.call('HSET', KEYS[3], 'queue', ARGV[3], 'kind', ARGV[4], 'payload', ARGV[5], 'attempt', 0,
  'max_retries', ARGV[6], 'enqueued_at', now, 'last_error', '', 'lease', '', 'died_at', '')
local delay = tonumber(ARGV[2])
if delay > 0 then redis.call('ZADD', KEYS[2], now + delay, ARGV[1]) else redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('SADD', KEYS[5], ARGV[3])
return {1, ARGV[1]}
",
    )
});

/// KEYS: pending, scheduled, running. ARGV: visibility ms, lease, job key prefix.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('RPUSH', KEYS[1], id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('LPUSH', KEYS[1], id)
end
for _ = 1, 100 do
  local id = redis.call('LPOP', KEYS[1])
  if not id then return false end
  local key = ARGV[3] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), id)
    redis.call('HINCRBY', key, 'attempt', 1)
    redis.call('HSET', key, 'lease', ARGV[2])
    return {id, redis.call('HGETALL', key)}
  end
end
return false
",
    )
});

/// Shared head of ack/fail/release: the caller must still hold the lease; the
/// job leaves `running` (or `pending`, if its visibility lapsed meanwhile).
/// KEYS: running, pending, job. ARGV: id, lease.
const TAKE_LEASED: &str = r"
if redis.call('HGET', KEYS[3], 'lease') ~= ARGV[2] then return 0 end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then redis.call('LREM', KEYS[2], 0, ARGV[1]) end
redis.call('HSET', KEYS[3], 'lease', '')
";

/// + KEYS[4]: completed counter.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    script(&format!("{TAKE_LEASED}redis.call('DEL', KEYS[3]) redis.call('INCR', KEYS[4]) return 1"))
});

/// + KEYS[4]: scheduled, KEYS[5]: dead. ARGV[3]: error, ARGV[4]: retry ms or ''.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{TAKE_LEASED}{}",
        r"
redis.call('HSET', KEYS[3], 'last_error', ARGV[3])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[4]), ARGV[1])
  return 1
end
redis.call('HSET', KEYS[3], 'died_at', now)
redis.call('ZADD', KEYS[5], now, ARGV[1])
return 2
"
    ))
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{TAKE_LEASED}redis.call('HINCRBY', KEYS[3], 'attempt', -1) redis.call('LPUSH', KEYS[2], ARGV[1]) return 1"
    ))
});

/// KEYS: dead, pending, job. ARGV: id.
static RETRY_DEAD: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'attempt', 0, 'died_at', '')
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
",
    )
});

#[derive(Clone)]
pub struct RedisJobQueue(RedisStore);

impl RedisJobQueue {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }

    fn q(&self, queue: &str, part: &str) -> String {
        self.0.key("jobs:q", &format!("{queue}:{part}"))
    }

    fn job_prefix(&self) -> String {
        self.0.key("jobs:job", "")
    }

    fn job_key(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix())
    }

    /// The keys and arguments of `TAKE_LEASED`, which every lease-holder
    /// script starts with; callers append their own after them.
    fn leased<'a>(&self, script: &'a Script, r: &Reserved) -> ScriptInvocation<'a> {
        let id = r.job.id.to_string();
        let mut invocation = script.key(self.q(&r.job.queue, "running"));
        invocation.key(self.q(&r.job.queue, "pending")).key(self.job_key(&id)).arg(id).arg(&r.lease);
        invocation
    }
}

fn timestamp(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Unavailable(format!("redis: job {id} has an unreadable {what}").into())
}

fn parse_job(id: &str, fields: &HashMap<String, String>) -> Result<Job, StoreError> {
    let get = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let number = |name: &str| get(name).parse::<i64>().map_err(|_| corrupt(id, name));
    Ok(Job {
        id: JobId(Uuid::parse_str(id).map_err(|_| corrupt(id, "id"))?),
        queue: get("queue").to_owned(),
        kind: get("kind").to_owned(),
        payload: serde_json::from_str(get("payload")).map_err(|_| corrupt(id, "payload"))?,
        attempt: u32::try_from(number("attempt")?.max(0)).unwrap_or(u32::MAX),
        max_retries: u32::try_from(number("max_retries")?.max(0)).unwrap_or(u32::MAX),
        enqueued_at: timestamp(number("enqueued_at")?),
        last_error: Some(get("last_error")).filter(|e| !e.is_empty()).map(str::to_owned),
    })
}

fn pairs(values: Vec<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut it = values.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        map.insert(k, v);
    }
    map
}

#[async_trait]
impl JobQueue for RedisJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let id = JobId::new().to_string();
        let payload = serde_json::to_string(&job.payload)
            .map_err(|e| StoreError::Unavailable(Cause::context("job payload", e)))?;
        let idempotency = job.idempotency_key.as_deref().unwrap_or("");
        let mut conn = self.0.conn().await?;
        let (created, existing): (i64, String) = ENQUEUE
            .key(self.q(&job.queue, "pending"))
            .key(self.q(&job.queue, "scheduled"))
            .key(self.job_key(&id))
            .key(self.0.key("jobs:idem", &format!("{}:{idempotency}", job.queue)))
            .key(self.0.key("jobs", "queues"))
            .arg(&id)
            .arg(if job.delay > Duration::ZERO { millis(job.delay) } else { 0 })
            .arg(&job.queue)
            .arg(&job.kind)
            .arg(payload)
            .arg(job.max_retries)
            .arg(if job.idempotency_key.is_some() { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let id = JobId(Uuid::parse_str(&existing).map_err(|_| corrupt(&existing, "id"))?);
        Ok(if created == 1 { Enqueued::Created(id) } else { Enqueued::Duplicate(id) })
    }

    async fn reserve(&self, queue: &str, visibility: Duration) -> Result<Option<Reserved>, StoreError> {
        let lease = Uuid::new_v4().to_string();
        let mut conn = self.0.conn().await?;
        let reply: Option<(String, Vec<String>)> = RESERVE
            .key(self.q(queue, "pending"))
            .key(self.q(queue, "scheduled"))
            .key(self.q(queue, "running"))
            .arg(millis(visibility))
            .arg(&lease)
            .arg(self.job_prefix())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match reply {
            None => Ok(None),
            Some((id, fields)) => Ok(Some(Reserved { job: parse_job(&id, &pairs(fields))?, lease })),
        }
    }

    async fn ack(&self, r: &Reserved) -> Result<bool, StoreError> {
        let mut conn = self.0.conn().await?;
        let done: i64 = self
            .leased(&ACK, r)
            .key(self.q(&r.job.queue, "completed"))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn fail(
        &self,
        r: &Reserved,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Failed, StoreError> {
        let mut conn = self.0.conn().await?;
        let outcome: i64 = self
            .leased(&FAIL, r)
            .key(self.q(&r.job.queue, "scheduled"))
            .key(self.q(&r.job.queue, "dead"))
            .arg(error)
            .arg(retry_in.map(|d| millis(d).to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            1 => Failed::RetryScheduled,
            2 => Failed::Dead,
            _ => Failed::LeaseLost,
        })
    }

    async fn release(&self, r: &Reserved) -> Result<bool, StoreError> {
        let mut conn = self.0.conn().await?;
        let done: i64 = self.leased(&RELEASE, r).invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, StoreError> {
        let mut conn = self.0.conn().await?;
        let (pending, scheduled, running, completed, dead): (u64, u64, u64, Option<u64>, u64) =
            deadpool_redis::redis::pipe()
                .cmd("LLEN")
                .arg(self.q(queue, "pending"))
                .cmd("ZCARD")
                .arg(self.q(queue, "scheduled"))
                .cmd("ZCARD")
                .arg(self.q(queue, "running"))
                .cmd("GET")
                .arg(self.q(queue, "completed"))
                .cmd("ZCARD")
                .arg(self.q(queue, "dead"))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        Ok(QueueStats { pending, scheduled, running, completed: completed.unwrap_or(0), dead })
    }

    async fn queues(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.0.conn().await?;
        let mut names: Vec<String> = deadpool_redis::redis::cmd("SMEMBERS")
            .arg(self.0.key("jobs", "queues"))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        names.sort();
        Ok(names)
    }

    async fn dead_jobs(&self, queue: &str, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.0.conn().await?;
        let ids: Vec<(String, i64)> = deadpool_redis::redis::cmd("ZREVRANGE")
            .arg(self.q(queue, "dead"))
            .arg(0)
            .arg(i64::from(limit) - 1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, died) in ids {
            let fields: HashMap<String, String> = deadpool_redis::redis::cmd("HGETALL")
                .arg(self.job_key(&id))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if !fields.is_empty() {
                out.push(DeadJob { job: parse_job(&id, &fields)?, died_at: timestamp(died) });
            }
        }
        Ok(out)
    }

    async fn retry_dead(&self, queue: &str, id: JobId) -> Result<bool, StoreError> {
        let id = id.to_string();
        let mut conn = self.0.conn().await?;
        let done: i64 = RETRY_DEAD
            .key(self.q(queue, "dead"))
            .key(self.q(queue, "pending"))
            .key(self.job_key(&id))
            .arg(&id)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}
