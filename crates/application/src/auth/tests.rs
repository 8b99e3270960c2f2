//! Use-case tests that need a failure injected at a port (mockall). Behaviour on
//! working backends is covered by the HTTP suite over the in-memory adapters.

use super::*;
use crate::AppError;
use crate::links::LinkPurpose;
use crate::ports::*;
use portcullis_domain::audit::RequestContext;
use portcullis_domain::email::Email;
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::session::Session;
use portcullis_domain::user::PasswordHash;
use time::OffsetDateTime;

struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionStore,
    attempts: MockLoginAttempts,
    revocations: MockRevocationList,
    audit: MockAuditLog,
    hasher: MockPasswordHasher,
    access_tokens: MockAccessTokenIssuer,
    token_generator: MockTokenGenerator,
    outbox: MockOutbox,
    one_time_tokens: MockOneTimeTokenStore,
    factors: crate::ports::MockFactorStore,
}

impl Mocks {
    fn new() -> Self {
        let mut token_generator = MockTokenGenerator::new();
        token_generator.expect_refresh_token().returning(|| Secret::new("generated-token"));
        let mut audit = MockAuditLog::new();
        audit.expect_append().returning(|_| Ok(()));
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionStore::new(),
            attempts: MockLoginAttempts::new(),
            revocations: MockRevocationList::new(),
            audit,
            hasher: MockPasswordHasher::new(),
            access_tokens: MockAccessTokenIssuer::new(),
            token_generator,
            outbox: {
                let mut outbox = MockOutbox::new();
                outbox.expect_add().returning(|_, _| Ok(()));
                outbox
            },
            one_time_tokens: {
                let mut tokens = MockOneTimeTokenStore::new();
                tokens.expect_issue().returning(|_, _, _, _, _| Ok(()));
                tokens
            },
            factors: {
                // No second factor unless a test says otherwise.
                let mut factors = crate::ports::MockFactorStore::new();
                factors.expect_summary().returning(|_| Ok(crate::ports::FactorSummary::default()));
                factors
            },
        }
    }

    fn service(mut self) -> Identity {
        self.access_tokens.expect_ttl().returning(|| Duration::minutes(15));
        // The pool has room unless a test said otherwise (set earlier, its
        // expectation is matched first).
        self.hasher.expect_saturated().returning(|| None);
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| OffsetDateTime::UNIX_EPOCH + Duration::days(20_000));
        Identity::new(
            AuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                attempts: Arc::new(self.attempts),
                revocations: Arc::new(self.revocations),
                audit: Arc::new(self.audit),
                hasher: Arc::new(self.hasher),
                access_tokens: Arc::new(self.access_tokens),
                token_generator: Arc::new(self.token_generator),
                clock: Arc::new(clock),
                outbox: Arc::new(self.outbox),
                one_time_tokens: Arc::new(self.one_time_tokens),
                devices: Arc::new(crate::ports::MockDeviceStore::new()),
                factors: Arc::new(self.factors),
                totp: Arc::new(crate::ports::MockTotpAlgorithm::new()),
                cipher: Arc::new(crate::ports::MockCipher::new()),
                ephemeral: Arc::new(crate::ports::MockEphemeralStore::new()),
                limiter: Arc::new(crate::ports::MockRateLimiter::new()),
                credentials: Arc::new(crate::ports::MockCredentialStore::new()),
                ceremonies: Arc::new(crate::ports::MockWebauthnCeremonies::new()),
                providers: Arc::new(crate::ports::MockIdentityProviders::new()),
                linked: Arc::new(crate::ports::MockLinkedAccountStore::new()),
            },
            AuthSettings::default(),
        )
    }
}

fn user() -> User {
    User {
        id: UserId::new(),
        email: Email::parse("ada@example.com").unwrap(),
        display_name: None,
        password_hash: PasswordHash("$argon2id$fake".into()),
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
        email_verified_at: None,
        locked_at: None,
    }
}

/// Logs ada in with some password through the mocks; the error it fails with.
async fn login_error(m: Mocks) -> AppError {
    m.service()
        .sign_in
        .login("ada@example.com", &Secret::new("whatever"), &RequestContext::default())
        .await
        .unwrap_err()
}

fn register_input() -> RegisterInput {
    RegisterInput {
        email: "ada@example.com".into(),
        password: Secret::new("Quartz-Lantern-91!"),
        display_name: None,
    }
}

#[tokio::test]
async fn register_race_on_insert_is_email_taken() {
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.hasher.expect_hash().returning(|_, _| Ok(PasswordHash("$argon2id$h".into())));
    m.users.expect_insert_promising().returning(|_, _, _| Err(StoreError::Conflict("email")));
    let err = m.service().accounts.register(register_input(), &RequestContext::default()).await.unwrap_err();
    assert!(matches!(err, AppError::EmailTaken), "{err:?}");
}

#[tokio::test]
async fn register_succeeds_when_the_audit_store_fails() {
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.hasher.expect_hash().returning(|_, _| Ok(PasswordHash("$argon2id$h".into())));
    m.users.expect_insert_promising().times(1).returning(|_, _, _| Ok(()));
    m.audit = MockAuditLog::new();
    // Registration is audited (the verification request is audited by its job); the write fails.
    m.audit.expect_append().times(1).returning(|_| Err(StoreError::Unavailable("db down".into())));
    let user = m.service().accounts.register(register_input(), &RequestContext::default()).await.unwrap();
    assert_eq!(user.email.as_str(), "ada@example.com");
}

#[tokio::test]
async fn login_overload_is_reported_and_not_counted_as_failure() {
    let mut m = Mocks::new();
    m.attempts.expect_begin().returning(|_, _| Ok(AttemptGate::Allowed { attempt: 1 }));
    m.users.expect_find_by_email().returning(|_| Ok(Some(user())));
    m.hasher
        .expect_verify()
        .returning(|_, _| Err(HashError::Overloaded { retry_after: Duration::seconds(1) }));
    m.attempts.expect_lock().never();
    // The attempt reached no verdict: it is given back (source and account counts).
    m.attempts.expect_release().times(2).returning(|_| Ok(()));
    let err = login_error(m).await;
    assert!(matches!(err, AppError::Overloaded { .. }), "{err:?}");
}

/// A login flood: with the hashing pool full, a login is refused before it
/// reads the account or touches the lockout counters (the same for every
/// email), and nothing is counted.
#[tokio::test]
async fn a_full_hashing_pool_refuses_before_any_round_trip() {
    let mut m = Mocks::new();
    m.hasher.expect_saturated().returning(|| Some(Duration::seconds(1)));
    m.users.expect_find_by_email().never();
    m.attempts.expect_begin().never();
    m.hasher.expect_verify().never();
    m.hasher.expect_verify_dummy().never();
    let err = login_error(m).await;
    assert!(
        matches!(err, AppError::Overloaded { retry_after } if retry_after == Duration::seconds(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_failing_hasher_gives_the_attempt_back_even_at_the_threshold() {
    let mut m = Mocks::new();
    m.attempts.expect_begin().returning(|_, _| Ok(AttemptGate::Allowed { attempt: 5 }));
    m.users.expect_find_by_email().returning(|_| Ok(Some(user())));
    m.hasher.expect_verify().returning(|_, _| Err(HashError::Internal("worker gone".into())));
    m.attempts.expect_lock().never();
    m.attempts.expect_release().times(2).returning(|_| Ok(()));
    let err = login_error(m).await;
    assert!(matches!(err, AppError::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_user_store_counts_no_attempt() {
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Err(StoreError::Unavailable("db down".into())));
    m.attempts.expect_begin().never();
    let err = login_error(m).await;
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_wrong_current_password_counts_like_a_failed_login() {
    let mut m = Mocks::new();
    let u = user();
    let id = u.id;
    m.users.expect_find_by_id().returning(move |_| Ok(Some(u.clone())));
    // Counted under the account from this source and the account as a whole.
    m.attempts
        .expect_begin()
        .withf(|key, _| key == "ada@example.com|unknown")
        .returning(|_, _| Ok(AttemptGate::Allowed { attempt: 5 }));
    m.attempts
        .expect_begin()
        .withf(|key, _| key == "ada@example.com")
        .returning(|_, _| Ok(AttemptGate::Allowed { attempt: 5 }));
    m.hasher.expect_verify().returning(|_, _| Ok(Verification::Mismatch));
    // The fifth failure from this source locks the source, not the account (threshold 50).
    m.attempts
        .expect_lock()
        .withf(|key, _| key == "ada@example.com|unknown")
        .times(1)
        .returning(|_, _| Ok(()));
    let claims = AccessClaims {
        user_id: id,
        session_id: SessionId::new(),
        token_id: "jti".into(),
        issued_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: OffsetDateTime::UNIX_EPOCH + Duration::days(30_000),
        trust_score: 0,
        amr: vec!["pwd".into()],
        auth_time: OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
    };
    let err = m
        .service()
        .accounts
        .change_password(
            &claims,
            &Secret::new("wrong"),
            &Secret::new("Velvet-Harbor-37#"),
            &RequestContext::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Validation(_)), "{err:?}");
}

#[tokio::test]
async fn login_unknown_email_burns_a_dummy_verification() {
    let mut m = Mocks::new();
    m.attempts.expect_begin().returning(|_, _| Ok(AttemptGate::Allowed { attempt: 1 }));
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.hasher.expect_verify_dummy().times(1).returning(|_| Ok(()));
    // The first failure is below the threshold: no lock.
    m.attempts.expect_lock().never();
    let err = m
        .service()
        .sign_in
        .login("nobody@example.com", &Secret::new("whatever"), &RequestContext::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn login_backend_down_is_unavailable_not_invalid_credentials() {
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(Some(user())));
    m.attempts.expect_begin().returning(|_, _| Err(StoreError::Unavailable("redis down".into())));
    let err = login_error(m).await;
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn reuse_revokes_the_sessions_access_tokens() {
    let mut m = Mocks::new();
    let session = Session {
        id: SessionId::new(),
        user_id: UserId::new(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        last_used_at: OffsetDateTime::UNIX_EPOCH,
        revoked_at: Some(OffsetDateTime::UNIX_EPOCH),
        ip: None,
        user_agent: None,
        sign_in_method: portcullis_domain::session::SignInMethod::Password,
        trust_score: 20,
        device_id: None,
        second_factor: None,
        auth_time: OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
    };
    let sid = session.id.to_string();
    m.sessions
        .expect_rotate()
        .returning(move |_, _, _, _| Ok(RotateOutcome::Reused { session: session.clone() }));
    m.revocations
        .expect_revoke()
        .withf(move |id, ttl| id == sid && *ttl == Duration::minutes(15))
        .times(1)
        .returning(|_, _| Ok(()));
    let err = m.service().sign_in.refresh(&Secret::new("old"), &RequestContext::default()).await.unwrap_err();
    assert!(matches!(err, AppError::RefreshTokenReused), "{err:?}");
}

/// Hardening #10: the account and its verification mail are written together;
/// the promise is one message holding no secret.
#[tokio::test]
async fn registration_writes_its_verification_request_with_the_account() {
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.hasher.expect_hash().returning(|_, _| Ok(PasswordHash("$argon2id$h".into())));
    m.outbox = MockOutbox::new();
    m.outbox.expect_add().never();
    m.users
        .expect_insert_promising()
        .withf(|user, promised, _| {
            promised.len() == 1
                && promised[0].kind == "account.send_link"
                && promised[0].payload["email"] == user.email.as_str()
                && promised[0].payload["purpose"] == "verification"
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    m.service().accounts.register(register_input(), &RequestContext::default()).await.unwrap();

    // Both or neither: if they cannot be stored, the registration fails.
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(None));
    m.hasher.expect_hash().returning(|_, _| Ok(PasswordHash("$argon2id$h".into())));
    m.users.expect_insert_promising().returning(|_, _, _| Err(StoreError::Unavailable("db down".into())));
    let err = m.service().accounts.register(register_input(), &RequestContext::default()).await.unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

/// Hardening #4 and #12: the mailed-link requests do the same work whether or
/// not the address has an account (no user lookup, no token: one outbox entry),
/// and what they record holds no token or link.
#[tokio::test]
async fn link_requests_do_the_same_work_for_every_address() {
    let ctx = RequestContext { ip: Some("203.0.113.5".into()), ..RequestContext::default() };
    for request in 0..3 {
        let mut m = Mocks::new();
        m.users.expect_find_by_email().never();
        m.one_time_tokens = MockOneTimeTokenStore::new();
        m.one_time_tokens.expect_issue().never();
        let recorded = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = recorded.clone();
        m.outbox = MockOutbox::new();
        m.outbox.expect_add().times(1).returning(move |message, _| {
            sink.lock().unwrap().push(message.clone());
            Ok(())
        });
        let service = m.service();
        match request {
            0 => service
                .links
                .request_mailed_link(LinkPurpose::PasswordReset, "ada@example.com", &ctx)
                .await
                .unwrap(),
            1 => service
                .links
                .request_mailed_link(LinkPurpose::MagicLink, "ada@example.com", &ctx)
                .await
                .unwrap(),
            _ => service
                .links
                .request_mailed_link(LinkPurpose::Verification, "ada@example.com", &ctx)
                .await
                .unwrap(),
        }
        let message = recorded.lock().unwrap()[0].clone();
        assert_eq!(message.kind, "account.send_link");
        let text = message.payload.to_string();
        assert!(!text.contains("token") && !text.contains("http"), "{text}");
        assert_eq!(message.payload["email"], "ada@example.com");
    }
}

/// Hardening #10: a link request answers 202 only once it is recorded
/// durably; if the outbox cannot take it, the caller is told (503), not lied to.
#[tokio::test]
async fn a_link_request_the_outbox_cannot_take_is_an_error() {
    let mut m = Mocks::new();
    m.outbox = MockOutbox::new();
    m.outbox.expect_add().returning(|_, _| Err(StoreError::Unavailable("db down".into())));
    let err = m
        .service()
        .links
        .request_mailed_link(LinkPurpose::PasswordReset, "ada@example.com", &RequestContext::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn an_overloaded_reset_keeps_the_link_usable() {
    let mut m = Mocks::new();
    m.hasher.expect_hash().returning(|_, _| Err(HashError::Overloaded { retry_after: Duration::seconds(1) }));
    let owner = user();
    let id = owner.id;
    m.one_time_tokens.expect_peek().returning(move |_, _, _| Ok(Consumed::Valid(id)));
    m.users.expect_find_by_id().returning(move |_| Ok(Some(owner.clone())));
    m.one_time_tokens.expect_consume().never();
    let err = m
        .service()
        .links
        .reset_password(
            &Secret::new("link-token"),
            &Secret::new("Velvet-Harbor-37#"),
            &RequestContext::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Overloaded { .. }), "{err:?}");
}

fn claims() -> AccessClaims {
    AccessClaims {
        user_id: UserId::new(),
        session_id: SessionId::new(),
        token_id: "jti".into(),
        issued_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: OffsetDateTime::UNIX_EPOCH + Duration::days(30_000),
        trust_score: 0,
        amr: vec!["pwd".into()],
        auth_time: OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
    }
}

fn session(revoked: bool) -> Session {
    Session {
        id: SessionId::new(),
        user_id: UserId::new(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        last_used_at: OffsetDateTime::UNIX_EPOCH,
        revoked_at: revoked.then_some(OffsetDateTime::UNIX_EPOCH),
        ip: None,
        user_agent: None,
        sign_in_method: portcullis_domain::session::SignInMethod::Password,
        trust_score: 20,
        device_id: None,
        second_factor: None,
        auth_time: OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
    }
}

/// Hardening #6: with the cache down, the database answers (a revoked
/// session stays revoked, a live one works) instead of 503 for everyone.
#[tokio::test]
async fn revocation_checks_fall_back_to_the_database() {
    for revoked in [true, false] {
        let mut m = Mocks::new();
        m.access_tokens.expect_verify().returning(|_, _| Ok(claims()));
        m.revocations.expect_check().returning(|_| Err(StoreError::Unavailable("redis down".into())));
        m.sessions.expect_get().times(1).returning(move |_| Ok(Some(session(revoked))));
        let result = m.service().sign_in.authenticate("a.b.c", &RequestContext::default()).await;
        match revoked {
            true => assert!(matches!(result, Err(AppError::InvalidToken)), "{result:?}"),
            false => assert!(result.is_ok(), "{result:?}"),
        }
    }
}

#[tokio::test]
async fn a_logout_survives_a_cache_outage() {
    let mut m = Mocks::new();
    m.sessions.expect_revoke().times(1).returning(|_, _| Ok(true));
    m.revocations.expect_revoke().returning(|_, _| Err(StoreError::Unavailable("redis down".into())));
    m.service().sign_in.logout(&claims(), &RequestContext::default()).await.unwrap();
}

/// ASVS review #5: a hash made before normalisation (of the form as typed)
/// still signs in, once, and is replaced by a hash of the normalised form.
#[tokio::test]
async fn a_hash_of_the_unnormalised_form_signs_in_and_is_upgraded() {
    let typed = "cafe\u{301} lantern quartz";
    let mut m = Mocks::new();
    m.users.expect_find_by_email().returning(|_| Ok(Some(user())));
    m.attempts.expect_begin().returning(|_, _| Ok(AttemptGate::Allowed { attempt: 1 }));
    m.attempts.expect_succeed().returning(|_| Ok(()));
    m.hasher.expect_verify().returning(move |p, _| {
        Ok(if p.expose() == typed {
            Verification::Match { needs_rehash: false }
        } else {
            Verification::Mismatch
        })
    });
    m.hasher
        .expect_hash()
        .withf(|p, _| p.expose() == "caf\u{e9} lantern quartz")
        .times(1)
        .returning(|_, _| Ok(PasswordHash("$argon2id$normalised".into())));
    m.users.expect_set_password_hash().times(1).returning(|_, _, _| Ok(()));
    m.audit.expect_seen_from().returning(|_, _, _, _| Ok(true));
    m.sessions.expect_create().returning(|_, _| Ok(()));
    m.sessions.expect_seen_ip().returning(|_, _| Ok(true));
    m.audit.expect_count_recent().returning(|_, _, _, _| Ok(0));
    m.access_tokens.expect_issue().returning(|grant, now| {
        Ok(IssuedAccessToken {
            token: Secret::new("jwt"),
            claims: AccessClaims {
                user_id: grant.user_id,
                session_id: grant.session_id,
                token_id: "jti".into(),
                issued_at: now,
                expires_at: now + Duration::minutes(15),
                trust_score: grant.trust_score,
                amr: grant.authentication.amr().into_iter().map(str::to_owned).collect(),
                auth_time: grant.authentication.at,
            },
            expires_in: Duration::minutes(15),
        })
    });
    let ok =
        m.service().sign_in.login("ada@example.com", &Secret::new(typed), &RequestContext::default()).await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// Collects the audit events a service writes.
fn capture_audit(m: &mut Mocks) -> Arc<std::sync::Mutex<Vec<portcullis_domain::audit::AuditEvent>>> {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    m.audit = MockAuditLog::new();
    m.audit.expect_append().returning(move |e| {
        sink.lock().unwrap().push(e.clone());
        Ok(())
    });
    events
}

fn from(ip: &str) -> RequestContext {
    RequestContext {
        ip: Some(ip.into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("r-1".into()),
        route: None,
        device: None,
    }
}

/// ASVS review #8: refused refreshes, rejected access tokens and failed link
/// redemptions are audited with the source, at most once a minute per source
/// and reason, so a flood cannot fill the table.
#[tokio::test]
async fn authentication_refusals_are_audited_once_per_source() {
    let mut m = Mocks::new();
    let events = capture_audit(&mut m);
    m.sessions.expect_rotate().returning(|_, _, _, _| Ok(RotateOutcome::Unknown));
    m.access_tokens.expect_verify().returning(|_, _| Err(TokenError::Invalid));
    m.one_time_tokens.expect_consume().returning(|_, _, _| Ok(Consumed::Invalid));
    let service = m.service();
    for _ in 0..5 {
        let _ = service.sign_in.refresh(&Secret::new("nope"), &from("203.0.113.5")).await;
        let _ = service.sign_in.authenticate("a.b.c", &from("203.0.113.5")).await;
        let _ = service.links.verify_email(&Secret::new("nope"), &from("203.0.113.5")).await;
    }
    let _ = service.sign_in.authenticate("a.b.c", &from("198.51.100.7")).await;
    let events = events.lock().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "auth.refresh.refused",
            "auth.access_token.rejected",
            "auth.link.redemption_failed",
            "auth.access_token.rejected"
        ]
    );
    assert_eq!(events[0].ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(events[0].user_agent.as_deref(), Some("curl/8"));
    assert_eq!(events[0].details["reason"], "unknown");
    assert_eq!(events[2].details["purpose"], "email_verification");
    assert_eq!(events[3].ip.as_deref(), Some("198.51.100.7"));
}
