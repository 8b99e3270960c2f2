use super::MemoryCredentialStore;
use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{FactorStore, FactorSummary, SmsFactor, StoreError, TotpFactor};
use portcullis_domain::ids::UserId;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::webauthn::CredentialKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    totp: HashMap<UserId, TotpFactor>,
    sms: HashMap<UserId, SmsFactor>,
    /// Per user: (code hash, used).
    codes: HashMap<UserId, Vec<(TokenHash, bool)>>,
}

/// Second factors under one mutex: every operation is atomic, as each is
/// one statement or one transaction in PostgreSQL. Security keys live in
/// the credential store, which this one reads and clears as PostgreSQL's
/// queries do across the two tables.
#[derive(Default)]
pub struct MemoryFactorStore(Mutex<State>, Arc<MemoryCredentialStore>);

impl MemoryFactorStore {
    pub fn with_credentials(credentials: Arc<MemoryCredentialStore>) -> Self {
        Self(Mutex::default(), credentials)
    }
}

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
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError> {
        let state = lock(&self.0);
        let totp = state.totp.get(&user).map(|f| f.confirmed_at.is_some());
        let sms = state.sms.get(&user).map(|f| f.confirmed_at.is_some());
        Ok(FactorSummary {
            totp_confirmed: totp == Some(true),
            totp_pending: totp == Some(false),
            sms_confirmed: sms == Some(true),
            sms_pending: sms == Some(false),
            backup_codes_left: state
                .codes
                .get(&user)
                .map_or(0, |c| c.iter().filter(|(_, used)| !used).count()),
            security_keys: self.1.count(user, CredentialKind::SecurityKey),
        })
    }

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
        if !codes.is_empty() {
            state.codes.insert(user, fresh(codes));
        }
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

    async fn sms(&self, user: UserId) -> Result<Option<SmsFactor>, StoreError> {
        Ok(lock(&self.0).sms.get(&user).cloned())
    }

    async fn begin_sms(&self, user: UserId, phone: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        if state.sms.get(&user).is_some_and(|f| f.confirmed_at.is_some()) {
            return Ok(false);
        }
        let factor =
            SmsFactor { user_id: user, phone: phone.to_owned(), created_at: now, confirmed_at: None };
        state.sms.insert(user, factor);
        Ok(true)
    }

    async fn confirm_sms(
        &self,
        user: UserId,
        codes: &[TokenHash],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        let Some(factor) = state.sms.get_mut(&user).filter(|f| f.confirmed_at.is_none()) else {
            return Ok(false);
        };
        factor.confirmed_at = Some(now);
        if !codes.is_empty() {
            state.codes.insert(user, fresh(codes));
        }
        Ok(true)
    }

    async fn remove_all(&self, user: UserId) -> Result<bool, StoreError> {
        let mut state = lock(&self.0);
        state.codes.remove(&user);
        let totp = state.totp.remove(&user).is_some_and(|f| f.confirmed_at.is_some());
        let sms = state.sms.remove(&user).is_some_and(|f| f.confirmed_at.is_some());
        let keys = self.1.remove_kind(user, CredentialKind::SecurityKey);
        Ok(totp || sms || keys > 0)
    }
}
