use super::{RedisStore, millis, unavailable};
use async_trait::async_trait;
use deadpool_redis::redis;
use portcullis_application::ports::{CacheGeneration, Grants, PermissionCache, StoreError};
use portcullis_domain::ids::UserId;
use time::Duration;

/// Effective permissions in Redis, shared by every instance: one key per
/// user (`generation\nroles\npatterns`, expiring with the TTL) and one
/// generation counter. A lookup reads both in one round trip (MGET); an
/// entry of an older generation is a miss, so an INCR invalidates every
/// entry on every instance at once.
#[derive(Clone)]
pub struct RedisPermissionCache(RedisStore);

impl RedisPermissionCache {
    pub fn new(store: RedisStore) -> Self {
        Self(store)
    }

    fn generation_key(&self) -> String {
        self.0.key("grants-meta", "generation")
    }
}

fn encode(generation: u64, grants: &Grants) -> String {
    let roles: Vec<&str> = grants.roles.iter().map(String::as_str).collect();
    let patterns: Vec<String> = grants.permissions.iter().map(ToString::to_string).collect();
    format!("{generation}\n{}\n{}", roles.join(","), patterns.join(","))
}

/// `None` for anything malformed (treated as a miss and rebuilt).
fn decode(raw: &str) -> Option<(u64, Grants)> {
    let mut lines = raw.splitn(3, '\n');
    let generation = lines.next()?.parse().ok()?;
    let list = |line: &str| line.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let roles = list(lines.next()?).into_iter().collect();
    let permissions = list(lines.next()?).iter().map(|p| p.parse().ok()).collect::<Option<_>>()?;
    Some((generation, Grants { roles, permissions }))
}

#[async_trait]
impl PermissionCache for RedisPermissionCache {
    async fn get(&self, user: UserId) -> Result<(Option<Grants>, CacheGeneration), StoreError> {
        let mut conn = self.0.conn().await?;
        let (current, entry): (Option<u64>, Option<String>) = redis::cmd("MGET")
            .arg(self.generation_key())
            .arg(self.0.key("grants", &user.to_string()))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let current = current.unwrap_or(0);
        let hit = entry.as_deref().and_then(decode).filter(|(g, _)| *g == current).map(|(_, grants)| grants);
        Ok((hit, CacheGeneration(current)))
    }

    async fn put(
        &self,
        user: UserId,
        grants: &Grants,
        seen: CacheGeneration,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.0.key("grants", &user.to_string()))
            .arg(encode(seen.0, grants))
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn invalidate(&self) -> Result<(), StoreError> {
        let mut conn = self.0.conn().await?;
        let _: u64 = redis::cmd("INCR")
            .arg(self.generation_key())
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_a_miss() {
        let grants = Grants {
            roles: ["admin".to_owned(), "user".to_owned()].into(),
            permissions: ["*".parse().unwrap(), "files:read".parse().unwrap()].into(),
        };
        assert_eq!(decode(&encode(3, &grants)), Some((3, grants)));
        assert_eq!(decode(&encode(0, &Grants::default())), Some((0, Grants::default())));
        for garbage in ["", "x\n\n", "1\nuser", "1\nuser\nNOT A PATTERN"] {
            assert_eq!(decode(garbage), None, "{garbage:?}");
        }
    }
}
