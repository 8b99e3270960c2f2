//! Sessions and their refresh-token families, and the rotation rule: every
//! refresh token is used once; a second use of a rotated token means it was
//! stolen (or raced), so the family dies — unless it is the direct parent of the
//! current token, presented again within the grace window.

use crate::ids::{SessionId, UserId};
use crate::mfa::SecondFactor;
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
    /// The second factor its sign-in answered, if any.
    pub second_factor: Option<SecondFactor>,
    /// When the user last proved who they are in this session: the sign-in,
    /// or a later step-up (`POST /auth/reauthenticate`).
    pub auth_time: OffsetDateTime,
}

impl Session {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// What the session's sign-in proved, as its access tokens state it.
    pub fn authentication(&self) -> Authentication {
        Authentication { method: self.sign_in_method, second_factor: self.second_factor, at: self.auth_time }
    }
}

/// Whether a user who authenticated at `auth_time` did so within `window`
/// of `now` (step-up: sensitive operations need a recent sign-in).
pub fn recently_authenticated(auth_time: OffsetDateTime, now: OffsetDateTime, window: Duration) -> bool {
    now - auth_time <= window
}

/// What a sign-in proved, and when: carried into every access token of the
/// session as `amr` (RFC 8176 method references) and `auth_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authentication {
    pub method: SignInMethod,
    pub second_factor: Option<SecondFactor>,
    pub at: OffsetDateTime,
}

impl Authentication {
    /// `["pwd"]`, `["pwd", "otp", "mfa"]`, `["email", "otp", "mfa"]`…
    pub fn amr(&self) -> Vec<&'static str> {
        let mut amr = vec![self.method.amr()];
        if let Some(factor) = self.second_factor {
            amr.extend([factor.amr(), "mfa"]);
        }
        amr
    }
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInMethod {
    Password,
    MagicLink,
    /// An accepted invitation (the account was created by it).
    Invitation,
    /// A passkey (WebAuthn, with user verification).
    Passkey,
    /// An OAuth 2.0 / OpenID Connect provider.
    OAuth,
}

impl SignInMethod {
    pub const ALL: [SignInMethod; 5] =
        [Self::Password, Self::MagicLink, Self::Invitation, Self::Passkey, Self::OAuth];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::MagicLink => "magic_link",
            Self::Invitation => "invitation",
            Self::Passkey => "passkey",
            Self::OAuth => "oauth",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The RFC 8176 method reference: `pwd` for a password (an accepted
    /// invitation sets one), `email` for a mailed link (not in RFC 8176's
    /// registry, which has no mailed-link method), `hwk` for a passkey
    /// (proof of a hardware-held key), `fed` for a provider's sign-in
    /// (federated; not in RFC 8176's registry either).
    pub fn amr(self) -> &'static str {
        match self {
            Self::Password | Self::Invitation => "pwd",
            Self::MagicLink => "email",
            Self::Passkey => "hwk",
            Self::OAuth => "fed",
        }
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

    #[test]
    fn amr_names_each_factor_and_step_up_needs_a_recent_sign_in() {
        let auth = |method, second_factor| Authentication { method, second_factor, at: at(0) };
        let table = [
            (SignInMethod::Password, None, vec!["pwd"]),
            (SignInMethod::MagicLink, None, vec!["email"]),
            (SignInMethod::Invitation, None, vec!["pwd"]),
            (SignInMethod::Passkey, None, vec!["hwk"]),
            (SignInMethod::OAuth, Some(SecondFactor::Totp), vec!["fed", "otp", "mfa"]),
            (SignInMethod::Passkey, Some(SecondFactor::Totp), vec!["hwk", "otp", "mfa"]),
            (SignInMethod::Password, Some(SecondFactor::SecurityKey), vec!["pwd", "hwk", "mfa"]),
            (SignInMethod::Password, Some(SecondFactor::Totp), vec!["pwd", "otp", "mfa"]),
            (SignInMethod::MagicLink, Some(SecondFactor::BackupCode), vec!["email", "otp", "mfa"]),
        ];
        for (method, factor, amr) in table {
            assert_eq!(auth(method, factor).amr(), amr, "{method:?} {factor:?}");
        }
        let window = Duration::minutes(5);
        assert!(recently_authenticated(at(0), at(0), window));
        assert!(recently_authenticated(at(0), at(300), window), "the window's last second");
        assert!(!recently_authenticated(at(0), at(301), window));
        assert!(recently_authenticated(at(10), at(0), window), "a clock behind: still recent");
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
            second_factor: None,
            auth_time: at(0),
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
