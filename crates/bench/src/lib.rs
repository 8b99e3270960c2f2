//! Benchmarks live in `benches/` and the measuring tools in `src/bin/`; this
//! library holds what the tools share.

// A measuring tool: a failure stops it loudly.
#![allow(clippy::expect_used)]

/// A number from the environment, or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seconds of CPU Redis has used (user + system), from `INFO cpu`.
pub async fn redis_cpu(url: &str) -> f64 {
    let client = deadpool_redis::redis::Client::open(url).expect("REDIS_URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("Redis reachable");
    let info: String =
        deadpool_redis::redis::cmd("INFO").arg("cpu").query_async(&mut conn).await.expect("INFO");
    info.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}
