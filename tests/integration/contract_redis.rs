//! Contract suites against Redis, one key prefix per test.

use crate::support::redis_store;
use portcullis_application::ports::{JobQueue, LoginAttempts, RateLimiter, RevocationList, UserRepository};
use portcullis_infrastructure::redis::{
    LeasePolicy, RedisCachedUsers, RedisJobQueue, RedisLoginAttempts, RedisRateLimiter, RedisRevocationList,
    RedisStore,
};
use std::sync::Arc;

mod rate_limit {
    use super::*;
    portcullis_infrastructure::rate_limiter_contract!(async {
        (Arc::new(RedisRateLimiter::new(redis_store().await)) as Arc<dyn RateLimiter>, ())
    });
}

/// The same contract with leases on: budgets this small are never leased,
/// so every decision is the exact one.
mod rate_limit_leasing {
    use super::*;
    portcullis_infrastructure::rate_limiter_contract!(async {
        let store = redis_store().await;
        (Arc::new(RedisRateLimiter::leasing(store, LeasePolicy::default())) as Arc<dyn RateLimiter>, ())
    });
}

/// Two instances leasing one large budget: together they never admit more
/// than the limit (a lease is cut from the shared budget), and what lapses
/// unused is at most one slice per instance.
#[tokio::test]
async fn leased_budgets_never_admit_more_than_the_limit_across_instances() {
    let store = redis_store().await;
    let policy = LeasePolicy { span: std::time::Duration::from_secs(3600), share: 64 };
    let a = RedisRateLimiter::leasing(store.clone(), policy);
    let b = RedisRateLimiter::leasing(store, policy);
    let (limit, window) = (6_400, time::Duration::hours(1));
    assert_eq!(policy.slice(limit, window), 100);
    let mut admitted = 0;
    let mut refused = [false, false];
    while refused != [true, true] {
        for (i, limiter) in [&a, &b].into_iter().enumerate() {
            for _ in 0..7 {
                if limiter.hit("shared", limit, window).await.unwrap().allowed {
                    admitted += 1;
                } else {
                    refused[i] = true;
                }
            }
        }
        assert!(admitted <= limit, "admitted {admitted} of {limit}");
    }
    // Refill over the run (1.8 a second) may add a few.
    assert!(admitted >= limit - 2 * 100, "admitted {admitted}: more than two slices lost");
    assert!(admitted <= limit + 20, "admitted {admitted}");
}

/// The user contract through the cache, on PostgreSQL.
mod users_cached {
    use super::*;
    use portcullis_infrastructure::postgres::{self, PgUserRepository, test_db::TestDatabase};
    portcullis_infrastructure::user_repository_contract!(async {
        let db = TestDatabase::new();
        let inner = Arc::new(PgUserRepository::new(postgres::pool(db.url(), 8).unwrap()));
        let cached = RedisCachedUsers::new(inner, redis_store().await, &crate::support::redis_url());
        (Arc::new(cached) as Arc<dyn UserRepository>, db)
    });
}

/// Two instances' caches over one database: a write through one reaches
/// the other's cached reads within a second; a row the cache holds is
/// served from memory (a write that bypasses the cache is not seen), while
/// `find_by_id` always reads the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_write_reaches_the_other_instance_s_cache() {
    use portcullis_domain::user::{DisplayName, ProfileChanges};
    use portcullis_infrastructure::postgres::{self, PgUserRepository, test_db::TestDatabase};
    let db = TestDatabase::new();
    let pool = postgres::pool(db.url(), 8).unwrap();
    let store = redis_store().await;
    let url = crate::support::redis_url();
    let uncached = PgUserRepository::new(pool.clone());
    let a = RedisCachedUsers::new(Arc::new(PgUserRepository::new(pool.clone())), store.clone(), &url);
    let b = RedisCachedUsers::new(Arc::new(PgUserRepository::new(pool)), store, &url);
    let u = portcullis_infrastructure::contract::users::user("ada@example.com");
    a.insert(&u).await.unwrap();
    assert_eq!(b.find_by_id_cached(u.id).await.unwrap(), Some(u.clone()));

    let name = |n: &str| ProfileChanges { display_name: Some(Some(DisplayName::parse(n).unwrap())) };
    let behind = uncached.update_profile(u.id, &name("Behind the back"), u.updated_at).await.unwrap();
    assert_eq!(b.find_by_id_cached(u.id).await.unwrap(), Some(u.clone()), "served from memory");
    assert_eq!(b.find_by_id(u.id).await.unwrap(), Some(behind), "the database read is fresh");

    let changed = a.update_profile(u.id, &name("Countess"), u.updated_at).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while b.find_by_id_cached(u.id).await.unwrap() != Some(changed.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still serves the old row after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Without its subscription the cache cannot hear invalidations, so it
/// answers from the database; once resubscribed it caches again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_cache_reads_the_database_while_its_subscription_is_down() {
    use portcullis_domain::user::{DisplayName, ProfileChanges};
    use portcullis_infrastructure::postgres::{self, PgUserRepository, test_db::TestDatabase};
    let db = TestDatabase::new();
    let pool = postgres::pool(db.url(), 8).unwrap();
    let mut redis = crate::support::PrivateRedis::start();
    let store = RedisStore::new(&redis.url(), "cache-outage:", 4).unwrap();
    let uncached = PgUserRepository::new(pool.clone());
    let cache = RedisCachedUsers::new(Arc::new(PgUserRepository::new(pool)), store, &redis.url());
    let u = portcullis_infrastructure::contract::users::user("ada@example.com");
    uncached.insert(&u).await.unwrap();
    let name = |n: &str| ProfileChanges { display_name: Some(Some(DisplayName::parse(n).unwrap())) };
    let wait_until = |what: &'static str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        move || assert!(std::time::Instant::now() < deadline, "{what}")
    };

    assert_eq!(cache.find_by_id_cached(u.id).await.unwrap(), Some(u.clone()));
    let first = uncached.update_profile(u.id, &name("First"), u.updated_at).await.unwrap();
    assert_eq!(cache.find_by_id_cached(u.id).await.unwrap(), Some(u.clone()), "cached while subscribed");

    redis.stop();
    let check = wait_until("the cache still answered from memory 5 s after Redis stopped");
    while cache.find_by_id_cached(u.id).await.unwrap() != Some(first.clone()) {
        check();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let second = uncached.update_profile(u.id, &name("Second"), u.updated_at).await.unwrap();
    assert_eq!(cache.find_by_id_cached(u.id).await.unwrap(), Some(second.clone()), "not cached while down");

    redis.restart();
    let check = wait_until("the cache did not cache again within 5 s of Redis' return");
    loop {
        // Cached again: a write that bypasses the cache is not seen.
        assert_eq!(
            cache.find_by_id_cached(u.id).await.unwrap().map(|u| u.display_name),
            Some(second.display_name.clone())
        );
        let third = uncached.update_profile(u.id, &name("Third"), u.updated_at).await.unwrap();
        if cache.find_by_id_cached(u.id).await.unwrap() != Some(third) {
            break;
        }
        uncached.update_profile(u.id, &name("Second"), u.updated_at).await.unwrap();
        check();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

mod login_attempts {
    use super::*;
    portcullis_infrastructure::login_attempts_contract!(async {
        (Arc::new(RedisLoginAttempts::new(redis_store().await)) as Arc<dyn LoginAttempts>, ())
    });
}

mod permission_cache {
    use super::*;
    portcullis_infrastructure::permission_cache_contract!(async {
        (
            Arc::new(portcullis_infrastructure::redis::RedisPermissionCache::new(redis_store().await))
                as Arc<dyn portcullis_application::ports::PermissionCache>,
            (),
        )
    });
}

mod ephemeral {
    use super::*;
    portcullis_infrastructure::ephemeral_store_contract!(async {
        (
            Arc::new(portcullis_infrastructure::redis::RedisEphemeralStore::new(redis_store().await))
                as Arc<dyn portcullis_application::ports::EphemeralStore>,
            (),
        )
    });
}

mod revocation {
    use super::*;
    portcullis_infrastructure::revocation_list_contract!(async {
        let list = RedisRevocationList::new(redis_store().await, &crate::support::redis_url());
        (Arc::new(list) as Arc<dyn RevocationList>, ())
    });

    /// Two instances' mirrors on one Redis and prefix: what one revokes, the
    /// other hears (polled for at most a second: pub/sub is asynchronous).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_reaches_the_other_instance() {
        use portcullis_application::ports::CacheAnswer;
        use time::Duration;
        let store = redis_store().await;
        let url = crate::support::redis_url();
        let (a, b) = (RedisRevocationList::new(store.clone(), &url), RedisRevocationList::new(store, &url));
        for list in [&a, &b] {
            assert_eq!(list.check(&["sid".to_owned()]).await.unwrap(), CacheAnswer::Cold);
            list.warm(&[]).await.unwrap();
        }
        a.revoke("sid", Duration::minutes(5)).await.unwrap();
        assert_eq!(
            a.check(&["sid".to_owned()]).await.unwrap(),
            CacheAnswer::Revoked,
            "at once where revoked"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while b.check(&["sid".to_owned()]).await.unwrap() != CacheAnswer::Revoked {
            assert!(std::time::Instant::now() < deadline, "not heard within a second");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(b.check(&["other".to_owned()]).await.unwrap(), CacheAnswer::NotRevoked);
    }
}

mod jobs {
    use super::*;
    portcullis_infrastructure::job_queue_contract!(async {
        (Arc::new(RedisJobQueue::new(redis_store().await)) as Arc<dyn JobQueue>, ())
    });
}

mod events {
    use super::*;
    use crate::support::redis_url;
    use portcullis_infrastructure::redis::RedisEventBus;
    // Two buses on one Redis and one prefix: two instances of the app.
    portcullis_infrastructure::event_bus_contract!(async {
        let store = redis_store().await;
        let ports: portcullis_infrastructure::contract::events::Ports = (
            Arc::new(RedisEventBus::new(store.clone(), &redis_url())),
            Arc::new(RedisEventBus::new(store, &redis_url())),
        );
        (ports, ())
    });
}
