//! Sessions and their refresh-token families, and the rotation rule: every
//! refresh token is used once; a second use of a rotated token means it was
//! stolen (or raced), so the family dies — unless it is the direct parent of the
//! current token, presented again within the grace window.

use crate::ids::{SessionId, UserId};
use crate::secret::TokenHash;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    /// The last sign-in or refresh of the session.
    pub last_used_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the session was opened.
    pub sign_in_method: SignInMethod,
    /// 0–100, from [`crate::trust::trust_score`] at sign-in.
    pub trust_score: u8,
    /// The device it was opened from, when the request said.
    pub device_id: Option<crate::ids::DeviceId>,
}

impl Session {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInMethod {
    Password,
    MagicLink,
    /// An accepted invitation (the account was created by it).
    Invitation,
}

impl SignInMethod {
    pub const ALL: [SignInMethod; 3] = [Self::Password, Self::MagicLink, Self::Invitation];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::MagicLink => "magic_link",
            Self::Invitation => "invitation",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// How long a session lives: `idle` after its last use, `absolute` after it
/// began (`SESSION_IDLE_TIMEOUT`, `SESSION_ABSOLUTE_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

impl SessionLimits {
    /// When the session ends unless it is used again: the earlier of the
    /// idle and the absolute deadline.
    pub fn expires_at(&self, session: &Session) -> OffsetDateTime {
        (session.last_used_at + self.idle).min(session.created_at + self.absolute)
    }

    /// Until when a token issued at `now` for this session may work: never
    /// past the session's idle deadline counted from `now` (issuing is a
    /// use), nor its absolute deadline.
    pub fn token_deadline(&self, session: &Session, now: OffsetDateTime) -> OffsetDateTime {
        (now + self.idle).min(session.created_at + self.absolute)
    }
}

/// What [`decide_refresh`] is told besides the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationRules {
    /// How long the parent of the current token still gets the current one back.
    pub grace: Duration,
    pub limits: SessionLimits,
}

/// One refresh token as stored: only its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: TokenHash,
    pub session_id: SessionId,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// When this token was exchanged for its child.
    pub rotated_at: Option<OffsetDateTime>,
    /// Hash of the child minted from this token.
    pub child_hash: Option<TokenHash>,
    /// The child token sealed with a key derived from THIS token, so that only a
    /// client presenting this token can recover the child during the grace window
    /// (storage alone cannot: it holds neither token).
    pub sealed_child: Option<Vec<u8>>,
}

/// A freshly minted refresh token, as storage receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub hash: TokenHash,
    pub expires_at: OffsetDateTime,
    /// The new token sealed for its parent (see [`RefreshTokenRecord::sealed_child`]).
    pub sealed_for_parent: Vec<u8>,
}

/// What presenting a refresh token leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Current token: mint its one child.
    Rotate,
    /// Direct parent of the current token, within the grace window: hand back
    /// the current token (sealed in the parent's record).
    Grace { sealed_child: Vec<u8> },
    /// Already rotated and not eligible for grace: revoke the whole family.
    Reuse,
    /// Past its expiry.
    Expired,
    /// Its session was revoked (logout, password change, earlier reuse).
    Revoked,
}

/// The rotation rule, shared by every session-store adapter so they cannot drift.
/// `child` is the record of `token.child_hash`, if any.
pub fn decide_refresh(
    token: &RefreshTokenRecord,
    child: Option<&RefreshTokenRecord>,
    session: &Session,
    now: OffsetDateTime,
    rules: &RotationRules,
) -> RefreshDecision {
    if !session.is_active() {
        return RefreshDecision::Revoked;
    }
    // Idle or too old: the session is over, whatever the token.
    if now >= rules.limits.expires_at(session) {
        return RefreshDecision::Expired;
    }
    let grace = rules.grace;
    let Some(rotated_at) = token.rotated_at else {
        return if now >= token.expires_at { RefreshDecision::Expired } else { RefreshDecision::Rotate };
    };
    let child_is_current = child.is_some_and(|c| c.rotated_at.is_none() && now < c.expires_at);
    let within_grace = grace > Duration::ZERO && now - rotated_at <= grace;
    match (&token.sealed_child, child_is_current && within_grace) {
        (Some(sealed), true) => RefreshDecision::Grace { sealed_child: sealed.clone() },
        _ => RefreshDecision::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{Secret, TokenHash};

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + secs)
    }

    fn session(revoked: bool) -> Session {
        Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            created_at: at(0),
            last_used_at: at(0),
            revoked_at: revoked.then(|| at(1)),
            ip: None,
            user_agent: None,
            sign_in_method: SignInMethod::Password,
            trust_score: 20,
            device_id: None,
        }
    }

    fn record(name: &str, session: &Session) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: TokenHash::of(&Secret::new(name)),
            session_id: session.id,
            issued_at: at(0),
            expires_at: at(1000),
            rotated_at: None,
            child_hash: None,
            sealed_child: None,
        }
    }

    fn rotated(mut parent: RefreshTokenRecord, child: &RefreshTokenRecord, when: i64) -> RefreshTokenRecord {
        parent.rotated_at = Some(at(when));
        parent.child_hash = Some(child.hash);
        parent.sealed_child = Some(vec![1, 2, 3]);
        parent
    }

    const GRACE: Duration = Duration::seconds(10);

    /// Limits that never end a session in these tests.
    fn rules(grace: Duration) -> RotationRules {
        RotationRules {
            grace,
            limits: SessionLimits { idle: Duration::days(1), absolute: Duration::days(30) },
        }
    }

    #[test]
    fn current_token_rotates_until_expiry() {
        let s = session(false);
        let t = record("a", &s);
        assert_eq!(decide_refresh(&t, None, &s, at(10), &rules(GRACE)), RefreshDecision::Rotate);
        assert_eq!(decide_refresh(&t, None, &s, at(1000), &rules(GRACE)), RefreshDecision::Expired);
    }

    #[test]
    fn parent_within_grace_gets_current_child() {
        let s = session(false);
        let child = record("b", &s);
        let parent = rotated(record("a", &s), &child, 100);
        assert_eq!(
            decide_refresh(&parent, Some(&child), &s, at(110), &rules(GRACE)),
            RefreshDecision::Grace { sealed_child: vec![1, 2, 3] }
        );
    }

    #[test]
    fn parent_after_grace_is_reuse() {
        let s = session(false);
        let child = record("b", &s);
        let parent = rotated(record("a", &s), &child, 100);
        assert_eq!(decide_refresh(&parent, Some(&child), &s, at(111), &rules(GRACE)), RefreshDecision::Reuse);
    }

    #[test]
    fn grandparent_is_reuse_even_within_grace() {
        let s = session(false);
        let grandchild = record("c", &s);
        let child = rotated(record("b", &s), &grandchild, 101);
        let parent = rotated(record("a", &s), &child, 100);
        assert_eq!(decide_refresh(&parent, Some(&child), &s, at(102), &rules(GRACE)), RefreshDecision::Reuse);
    }

    #[test]
    fn zero_grace_disables_grace() {
        let s = session(false);
        let child = record("b", &s);
        let parent = rotated(record("a", &s), &child, 100);
        assert_eq!(
            decide_refresh(&parent, Some(&child), &s, at(100), &rules(Duration::ZERO)),
            RefreshDecision::Reuse
        );
    }

    /// Idle and absolute timeouts end the session on the clock, whatever
    /// the token's own expiry.
    #[test]
    fn idle_and_absolute_timeouts_end_sessions() {
        let limits = SessionLimits { idle: Duration::seconds(100), absolute: Duration::seconds(250) };
        let rules = RotationRules { grace: GRACE, limits };
        let mut s = session(false);
        let t = record("a", &s);
        // (last used, now, expected)
        let table = [
            (0, 99, RefreshDecision::Rotate),
            (0, 100, RefreshDecision::Expired),
            (180, 240, RefreshDecision::Rotate),
            (180, 250, RefreshDecision::Expired),
            (240, 260, RefreshDecision::Expired),
        ];
        for (last_used, now, expected) in table {
            s.last_used_at = at(last_used);
            let mut t = t.clone();
            t.expires_at = at(10_000);
            assert_eq!(
                decide_refresh(&t, None, &s, at(now), &rules),
                expected,
                "used {last_used}, now {now}"
            );
        }
        s.last_used_at = at(200);
        assert_eq!(limits.expires_at(&s), at(250), "the absolute deadline comes first");
        assert_eq!(limits.token_deadline(&s, at(120)), at(220));
        assert_eq!(limits.token_deadline(&s, at(200)), at(250));
    }

    #[test]
    fn revoked_session_wins() {
        let s = session(true);
        let t = record("a", &s);
        assert_eq!(decide_refresh(&t, None, &s, at(10), &rules(GRACE)), RefreshDecision::Revoked);
    }
}
