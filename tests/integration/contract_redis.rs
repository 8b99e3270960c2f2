//! Contract suites against Redis, one key prefix per test.

use crate::support::redis_store;
use portcullis_application::ports::{JobQueue, LoginAttempts, RateLimiter, RevocationList};
use portcullis_infrastructure::redis::{
    RedisJobQueue, RedisLoginAttempts, RedisRateLimiter, RedisRevocationList,
};
use std::sync::Arc;

mod rate_limit {
    use super::*;
    portcullis_infrastructure::rate_limiter_contract!(async {
        (Arc::new(RedisRateLimiter::new(redis_store().await)) as Arc<dyn RateLimiter>, ())
    });
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
        (Arc::new(RedisRevocationList::new(redis_store().await)) as Arc<dyn RevocationList>, ())
    });
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
