use super::{MemoryOutboxStore, lock};
use async_trait::async_trait;
use portcullis_application::ports::{InvitationStore, OutboxMessage, StoreError};
use portcullis_domain::ids::{InvitationId, UserId};
use portcullis_domain::invitation::{Invitation, InvitationState};
use portcullis_domain::secret::TokenHash;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Invitations under one mutex, and the outbox their mail is promised to.
#[derive(Default)]
pub struct MemoryInvitations(Mutex<HashMap<InvitationId, Invitation>>, Arc<MemoryOutboxStore>);

impl MemoryInvitations {
    pub fn with_outbox(outbox: Arc<MemoryOutboxStore>) -> Self {
        Self(Mutex::default(), outbox)
    }
}

#[async_trait]
impl InvitationStore for MemoryInvitations {
    async fn insert(
        &self,
        invitation: &Invitation,
        promised: &[OutboxMessage],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut all = lock(&self.0);
        if all.contains_key(&invitation.id) {
            return Err(StoreError::Conflict("id"));
        }
        if all.values().any(|i| i.token_hash == invitation.token_hash) {
            return Err(StoreError::Conflict("token"));
        }
        all.insert(invitation.id, invitation.clone());
        for message in promised {
            self.1.push(message, now);
        }
        Ok(())
    }

    async fn list(&self, limit: u32) -> Result<Vec<Invitation>, StoreError> {
        let mut listed: Vec<Invitation> = lock(&self.0).values().cloned().collect();
        listed.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.id)));
        listed.truncate(limit as usize);
        Ok(listed)
    }

    async fn find_by_token(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        Ok(lock(&self.0).values().find(|i| i.token_hash == *token).cloned())
    }

    async fn revoke(&self, id: InvitationId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut all = lock(&self.0);
        match all.get_mut(&id) {
            Some(i) if i.accepted_at.is_none() && i.revoked_at.is_none() => {
                i.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reissue(
        &self,
        id: InvitationId,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut all = lock(&self.0);
        if all.values().any(|i| i.token_hash == *token && i.id != id) {
            return Err(StoreError::Conflict("token"));
        }
        Ok(all.get_mut(&id).filter(|i| i.state(now) == InvitationState::Pending).map(|i| {
            i.token_hash = *token;
            i.clone()
        }))
    }

    async fn redeem(
        &self,
        token: &TokenHash,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Option<Invitation>, StoreError> {
        let mut all = lock(&self.0);
        let found = all.values_mut().find(|i| i.token_hash == *token);
        Ok(found.filter(|i| i.state(now) == InvitationState::Pending).map(|i| {
            i.accepted_at = Some(now);
            i.accepted_by = Some(user);
            i.clone()
        }))
    }
}
