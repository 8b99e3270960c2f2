//! Invitations: an admin invites an address with roles; the mailed token
//! (kept only as a hash) is good once, for seven days, and until withdrawn.

use crate::email::Email;
use crate::ids::{InvitationId, UserId};
use crate::role::RoleName;
use crate::secret::TokenHash;
use time::{Duration, OffsetDateTime};

/// How long an invitation can be accepted.
pub const INVITATION_TTL: Duration = Duration::days(7);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: Email,
    /// The roles the account gets on acceptance.
    pub roles: Vec<RoleName>,
    pub token_hash: TokenHash,
    pub invited_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
    pub accepted_by: Option<UserId>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

impl Invitation {
    /// Accepted or withdrawn wins over expiry; expiry is `now >= expires_at`.
    pub fn state(&self, now: OffsetDateTime) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }
}

/// Why an invitation to an existing account was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvitationMismatch {
    /// The address has an account: its owner accepts, signed in.
    #[error("an account with this address exists: sign in to it and accept the invitation again")]
    SignInRequired,
    /// The caller is signed in to an account of another address.
    #[error("this invitation is for another account")]
    OtherAccount,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn states_follow_acceptance_withdrawal_and_the_clock() {
        let at = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let base = Invitation {
            id: InvitationId::new(),
            email: Email::parse("new@example.com").unwrap_or_else(|e| panic!("{e:?}")),
            roles: vec![],
            token_hash: TokenHash::of(&Secret::new("t")),
            invited_by: None,
            created_at: at,
            expires_at: at + INVITATION_TTL,
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
        };
        let later = |d: i64| at + Duration::days(d);
        let table = [
            (base.clone(), later(6), InvitationState::Pending),
            (base.clone(), later(7), InvitationState::Expired),
            (Invitation { revoked_at: Some(later(1)), ..base.clone() }, later(2), InvitationState::Revoked),
            (Invitation { accepted_at: Some(later(1)), ..base.clone() }, later(8), InvitationState::Accepted),
            (
                Invitation { accepted_at: Some(later(1)), revoked_at: Some(later(2)), ..base.clone() },
                later(3),
                InvitationState::Accepted,
            ),
        ];
        for (invitation, now, expected) in table {
            assert_eq!(invitation.state(now), expected, "{invitation:?}");
        }
    }
}
