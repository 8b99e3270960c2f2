use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{FactorStore, StoreError, TotpFactor};
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::TokenHash;
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    totp: HashMap<UserId, TotpFactor>,
    /// Per user: (code hash, used).
    codes: HashMap<UserId, Vec<(TokenHash, bool)>>,
}

/// Second factors under one mutex: every operation is atomic, as each is
/// one statement or one transaction in PostgreSQL.
#[derive(Default)]
pub struct MemoryFactorStore(Mutex<State>);

fn fresh(codes: &[TokenHash]) -> Vec<(TokenHash, bool)> {
    let mut out: Vec<(TokenHash, bool)> = Vec::with_capacity(codes.len());
    for code in codes {
        if !out.iter().any(|(known, _)| known == code) {
            out.push((*code, false));
        }
    }
    out
}

#[async_trait]
impl FactorStore for MemoryFactorStore {
    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError> {
        Ok(lock(&self.0).totp.get(&user).cloned())
    }

    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        if state.totp.get(&user).is_some_and(|f| f.confirmed_at.is_some()) {
            return Ok(false);
        }
        state.totp.insert(
            user,
            TotpFactor {
                user_id: user,
                sealed_secret: sealed_secret.to_vec(),
                created_at: now,
                confirmed_at: None,
                last_used_step: None,
            },
        );
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        let Some(factor) = state.totp.get_mut(&user).filter(|f| f.confirmed_at.is_none()) else {
            return Ok(false);
        };
        factor.confirmed_at = Some(now);
        factor.last_used_step = Some(step);
        state.codes.insert(user, fresh(codes));
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        match state.totp.get_mut(&user) {
            Some(factor)
                if factor.confirmed_at.is_some() && factor.last_used_step.is_none_or(|used| used < step) =>
            {
                factor.last_used_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_backup_code(
        &self,
        user: UserId,
        code: &TokenHash,
        _now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        let entry = state
            .codes
            .get_mut(&user)
            .and_then(|codes| codes.iter_mut().find(|(h, used)| h == code && !used));
        match entry {
            Some(entry) => {
                entry.1 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[TokenHash],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        lock(&self.0).codes.insert(user, fresh(codes));
        Ok(())
    }

    async fn backup_codes_left(&self, user: UserId) -> Result<usize, StoreError> {
        Ok(lock(&self.0).codes.get(&user).map_or(0, |codes| codes.iter().filter(|(_, used)| !used).count()))
    }

    async fn remove_totp(&self, user: UserId) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        state.codes.remove(&user);
        Ok(state.totp.remove(&user).is_some_and(|f| f.confirmed_at.is_some()))
    }
}
