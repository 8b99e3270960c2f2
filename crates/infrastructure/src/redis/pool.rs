//! The Redis connection pool. deadpool-redis' manager sends `UNWATCH` and
//! `PING` every time a connection is handed out: one network round trip per
//! checkout, three per bearer request (issue 13). This manager instead
//! watches what the connection answers: a connection that failed at the
//! transport level (I/O error, timeout, dropped socket) is marked broken and
//! replaced at its next checkout; one that sat idle for longer than
//! [`IDLE_PING`] is pinged once before reuse (a server-side idle timeout or a
//! restart may have closed it). Nothing here uses `WATCH`, so no `UNWATCH` is
//! needed.

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult, Timeouts};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{Client, Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::time::Duration;

/// Connections idle for longer than this are pinged before reuse.
const IDLE_PING: Duration = Duration::from_secs(30);

pub(crate) struct Manager {
    client: Client,
}

/// A multiplexed connection that remembers a transport failure.
pub(crate) struct Tracked {
    inner: MultiplexedConnection,
    broken: bool,
}

impl Tracked {
    fn note<T>(&mut self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Err(e) = &result
            && (e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error())
        {
            self.broken = true;
        }
        result
    }
}

impl ConnectionLike for Tracked {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.inner.req_packed_command(cmd).await;
            self.note(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.inner.req_packed_commands(pipeline, offset, count).await;
            self.note(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl managed::Manager for Manager {
    type Type = Tracked;
    type Error = RedisError;

    async fn create(&self) -> Result<Tracked, RedisError> {
        let inner = self.client.get_multiplexed_async_connection().await?;
        Ok(Tracked { inner, broken: false })
    }

    async fn recycle(&self, conn: &mut Tracked, metrics: &Metrics) -> RecycleResult<RedisError> {
        if conn.broken {
            return Err(RecycleError::message("the connection failed"));
        }
        if metrics.last_used() > IDLE_PING {
            let _: String = deadpool_redis::redis::cmd("PING").query_async(conn).await?;
        }
        Ok(())
    }
}

pub(crate) type Pool = managed::Pool<Manager>;

/// A pooled connection, usable wherever redis takes a connection.
pub(crate) struct Connection(Object<Manager>);

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

impl From<Object<Manager>> for Connection {
    fn from(object: Object<Manager>) -> Self {
        Self(object)
    }
}

pub(crate) fn build(url: &str, max_size: usize, timeouts: Timeouts) -> Result<Pool, String> {
    let client = Client::open(url).map_err(|e| e.to_string())?;
    Pool::builder(Manager { client })
        .max_size(max_size)
        .timeouts(timeouts)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}
