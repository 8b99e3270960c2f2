//! The HTTP API on PostgreSQL and Redis: persistence, limits and revocations
//! shared between instances, and behaviour when Redis is down.

use crate::helpers::*;
use crate::support::redis_url;
use portcullis_infrastructure::contract::unique_prefix;
use portcullis_infrastructure::postgres::test_db::TestDatabase;
use serde_json::Value;

/// A fixed keyring: instances of one test share it, like a fleet.
const TEST_ENCRYPTION_KEYS: &str = "test:dGVzdCBrZXkgZm9yIGludGVncmF0aW9uIHRlc3RzISE=";

fn key_path() -> String {
    format!("{}/../infrastructure/testdata/ed25519.pem", env!("CARGO_MANIFEST_DIR"))
}

/// Settings for an instance on real backends; instances given the same `db`
/// and `prefix` share state, like a fleet behind a load balancer.
fn real_backends(db: &TestDatabase, prefix: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.url().to_owned()),
        ("REDIS_URL".into(), redis_url()),
        ("REDIS_KEY_PREFIX".into(), prefix.to_owned()),
        ("JWT_PRIVATE_KEY_PATH".into(), key_path()),
        ("ENCRYPTION_KEYS".into(), TEST_ENCRYPTION_KEYS.into()),
        ("REFRESH_TOKEN_REUSE_GRACE".into(), "0".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vars
}

async fn instance(db: &TestDatabase, prefix: &str, extra: &[(&str, &str)]) -> TestApp {
    let vars = real_backends(db, prefix, extra);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&borrowed).await
}

/// The promise of the in-process revocation mirror (ADR 0015): a token
/// revoked on one instance is refused by every other within one second.
/// Polls `app` until the token is refused; fails if it is still accepted a
/// second after the revocation was acknowledged. (A bound on propagation,
/// not a speed measurement: pub/sub delivers in well under a millisecond.)
async fn refused_within_a_second(app: &TestApp, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let res = app.get_auth("/api/v1/auth/me", token).await;
        if res.status() == 401 {
            expect_error(res, 401, "INVALID_TOKEN").await;
            return;
        }
        assert_eq!(res.status(), 200, "unexpected answer");
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token was still accepted after one second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_session_revocation_reach_every_instance_within_a_second() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let a = instance(&db, &prefix, &[]).await;
    let b = instance(&db, &prefix, &[]).await;
    let laptop: Value = a.signed_in("ada@example.com").await;
    let laptop = str_of(&laptop, "access_token").to_owned();
    let phone: Value = a.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let phone = str_of(&phone, "access_token").to_owned();
    // Both instances accept both tokens (and have their mirrors warm).
    for app in [&a, &b] {
        assert_eq!(app.get_auth("/api/v1/auth/me", &laptop).await.status(), 200);
        assert_eq!(app.get_auth("/api/v1/auth/me", &phone).await.status(), 200);
    }

    // Logout on A: B refuses the token.
    let res = a.client.post(a.url("/api/v1/auth/logout")).bearer_auth(&phone).send().await.unwrap();
    assert_eq!(res.status(), 204);
    refused_within_a_second(&b, &phone).await;

    // A session ended from another one, on B: A refuses its token.
    let sessions: Value = b.get_auth("/api/v1/sessions", &laptop).await.json().await.unwrap();
    let laptop_session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .expect("the current session is listed");
    let other: Value = b.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let other = str_of(&other, "access_token").to_owned();
    let res = b.delete_auth(&format!("/api/v1/sessions/{laptop_session}"), &other).await;
    assert_eq!(res.status(), 204);
    refused_within_a_second(&a, &laptop).await;
    // The token that did the revoking still works everywhere.
    assert_eq!(a.get_auth("/api/v1/auth/me", &other).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_flow_persists_across_instances() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let a = instance(&db, &prefix, &[]).await;
    let b = instance(&db, &prefix, &[]).await;

    let ready: Value = a.client.get(a.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");

    let login = a.signed_in("ada@example.com").await;
    let access = str_of(&login, "access_token");
    // Same database and key: B knows the user and accepts A's tokens.
    assert_eq!(b.get_auth("/api/v1/auth/me", access).await.status(), 200);
    expect_error(b.register("ADA@example.com").await, 409, "EMAIL_TAKEN").await;

    let first = str_of(&login, "refresh_token");
    let rotated: Value = b.refresh(first).await.json().await.unwrap();
    expect_error(a.refresh(first).await, 401, "REFRESH_TOKEN_REUSED").await;
    expect_error(b.refresh(str_of(&rotated, "refresh_token")).await, 401, "INVALID_TOKEN").await;
    expect_error(a.get_auth("/api/v1/auth/me", str_of(&rotated, "access_token")).await, 401, "INVALID_TOKEN")
        .await;

    // Logout on A is honoured by B (revocations travel over Redis pub/sub).
    let login: Value = b.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let access = str_of(&login, "access_token");
    let res = a.client.post(a.url("/api/v1/auth/logout")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 204);
    refused_within_a_second(&b, access).await;

    // The audit trail is in PostgreSQL, newest first. Each instance writes it
    // in batches (ADR 0016): what A recorded reaches B's reads within
    // moments, not necessarily at once.
    let login: Value = a.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let activity = loop {
        let activity: Value = b
            .get_auth("/api/v1/users/me/activity?limit=100", str_of(&login, "access_token"))
            .await
            .json()
            .await
            .unwrap();
        if activity["items"][0]["action"] == "auth.login.succeeded" || std::time::Instant::now() > deadline {
            break activity;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let actions: Vec<&str> =
        activity["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
    assert_eq!(actions.first(), Some(&"auth.login.succeeded"));
    assert_eq!(actions.last(), Some(&"user.registered"));
    assert!(actions.contains(&"auth.token.reuse_detected"));
    assert!(actions.contains(&"auth.logout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_rate_limits_and_lockouts() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let limits = [("RATE_LIMIT_AUTH_MAX_REQUESTS", "3"), ("LOGIN_LOCKOUT_THRESHOLD", "2")];
    let a = instance(&db, &prefix, &limits).await;
    let b = instance(&db, &prefix, &limits).await;

    assert_eq!(a.login("x@example.com", "Wrong-Password-1").await.status(), 401);
    assert_eq!(b.login("y@example.com", "Wrong-Password-1").await.status(), 401);
    let res = a.login("z@example.com", "Wrong-Password-1").await;
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    expect_error(b.login("w@example.com", "Wrong-Password-1").await, 429, "RATE_LIMITED").await;

    // Lockout counted across instances: two failures, one on each.
    let db2 = TestDatabase::new();
    let prefix2 = unique_prefix();
    let lock = [("LOGIN_LOCKOUT_THRESHOLD", "2")];
    let (a, b) = (instance(&db2, &prefix2, &lock).await, instance(&db2, &prefix2, &lock).await);
    a.register("ada@example.com").await;
    expect_error(a.login("ada@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS").await;
    expect_error(b.login("ada@example.com", "Wrong-Password-2").await, 401, "INVALID_CREDENTIALS").await;
    expect_error(a.login("ada@example.com", PASSWORD).await, 423, "ACCOUNT_LOCKED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_to_the_in_process_limiter() {
    // Nothing listens on port 1: every Redis call fails fast.
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1"), ("RATE_LIMIT_MAX_REQUESTS", "2")]).await;
    for _ in 0..2 {
        expect_error(app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap(), 401, "UNAUTHORIZED")
            .await;
    }
    expect_error(app.client.get(app.url("/api/v1/auth/me")).send().await.unwrap(), 429, "RATE_LIMITED").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("rate_limit_fallback_total 3"), "{metrics}");

    let body =
        expect_error(app.client.get(app.url("/health/ready")).send().await.unwrap(), 503, "NOT_READY").await;
    assert_eq!(body["error"]["details"]["checks"]["redis"], "unavailable");

    // Sign-in degrades, it does not go down (ADR 0007): the lockout is counted
    // in-process, revocations are checked in the database.
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1"), ("LOGIN_LOCKOUT_THRESHOLD", "2")]).await;
    let login = app.signed_in("ada@example.com").await;
    let access = str_of(&login, "access_token");
    assert_eq!(app.get_auth("/api/v1/auth/me", access).await.status(), 200);
    let res = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 204);
    expect_error(app.get_auth("/api/v1/auth/me", access).await, 401, "INVALID_TOKEN").await;
    for _ in 0..2 {
        expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS")
            .await;
    }
    expect_error(app.login("ada@example.com", PASSWORD).await, 423, "ACCOUNT_LOCKED").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lockout_fallback_total"), "{metrics}");
}

/// Hardening #6: the database is the source of truth for revoked sessions. A
/// Redis restart without persistence does not bring a logged-out token back,
/// and a logout during a Redis outage holds on every instance afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_survive_redis_restarts_and_outages() {
    let db = TestDatabase::new();
    let mut redis = crate::support::PrivateRedis::start();
    let url = redis.url();
    let prefix = unique_prefix();
    let extra = [("REDIS_URL", url.as_str())];
    let a = instance(&db, &prefix, &extra).await;
    let b = instance(&db, &prefix, &extra).await;

    let first: Value = a.signed_in("ada@example.com").await;
    let first = str_of(&first, "access_token").to_owned();
    let res = a.client.post(a.url("/api/v1/auth/logout")).bearer_auth(&first).send().await.unwrap();
    assert_eq!(res.status(), 204);
    refused_within_a_second(&b, &first).await;

    // Redis restarts empty: the logged-out token stays refused.
    redis.restart();
    expect_error(b.get_auth("/api/v1/auth/me", &first).await, 401, "INVALID_TOKEN").await;
    expect_error(a.get_auth("/api/v1/auth/me", &first).await, 401, "INVALID_TOKEN").await;

    // Redis down: sign-in and authenticated requests still work; logout holds.
    let second: Value = a.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let second = str_of(&second, "access_token").to_owned();
    redis.stop();
    let third: Value = b.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let third = str_of(&third, "access_token").to_owned();
    assert_eq!(a.get_auth("/api/v1/auth/me", &third).await.status(), 200);
    let res = a.client.post(a.url("/api/v1/auth/logout")).bearer_auth(&second).send().await.unwrap();
    assert_eq!(res.status(), 204);
    refused_within_a_second(&b, &second).await;

    // Redis back (empty): the revocation made during the outage holds everywhere.
    redis.restart();
    for app in [&a, &b] {
        expect_error(app.get_auth("/api/v1/auth/me", &second).await, 401, "INVALID_TOKEN").await;
        assert_eq!(app.get_auth("/api/v1/auth/me", &third).await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_fails_when_migrations_cannot_run() {
    use portcullis::config::Config;
    use portcullis::wiring::{Overrides, build};
    // A missing database whose name cannot be created for the user (not a
    // plain identifier): start-up stops and says how to create it.
    let url = portcullis_infrastructure::postgres::test_db::with_database(
        &portcullis_infrastructure::postgres::test_db::database_url(),
        "portcullis-does-not-exist",
    );
    let key = key_path();
    let config = Config::from_lookup(&move |name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "JWT_PRIVATE_KEY_PATH" => Some(key.clone()),
        "ENCRYPTION_KEYS" => Some(TEST_ENCRYPTION_KEYS.to_owned()),
        _ => None,
    })
    .unwrap();
    let err = build(&config, Overrides::default()).await.err().expect("start-up must fail");
    let chain = portcullis_application::error::chain(&err);
    assert!(chain.contains("PostgreSQL") && chain.contains("createdb"), "{chain}");
}

#[derive(diesel::QueryableByName)]
struct StoredHash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    password_hash: String,
}

async fn stored_hash(db: &TestDatabase) -> String {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(db.url()).await.unwrap();
    diesel::sql_query("SELECT password_hash FROM users")
        .get_result::<StoredHash>(&mut conn)
        .await
        .unwrap()
        .password_hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_upgrades_hashes_made_with_outdated_parameters() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let old = instance(&db, &prefix, &[]).await;
    old.register("ada@example.com").await;
    assert!(stored_hash(&db).await.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));

    let upgraded = instance(&db, &prefix, &[("ARGON2_MEMORY_KIB", "128"), ("ARGON2_ITERATIONS", "2")]).await;
    assert_eq!(upgraded.login("ada@example.com", PASSWORD).await.status(), 200);
    assert!(stored_hash(&db).await.starts_with("$argon2id$v=19$m=128,t=2,p=1$"));
    // Verification reads the parameters from the hash, so every instance still accepts it.
    assert_eq!(old.login("ada@example.com", PASSWORD).await.status(), 200);
}

/// ASVS review #7: a pepper outside the database; rotating it upgrades the
/// stored hash at the next sign-in, and a hash is useless without its pepper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peppers_rotate_through_sign_ins() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let first = [("PASSWORD_PEPPER", "first-pepper-0123456789"), ("PASSWORD_PEPPER_ID", "p1")];
    let old = instance(&db, &prefix, &first).await;
    assert_eq!(old.register("ada@example.com").await.status(), 201);
    // keyid is the base64 of the pepper id ("p1" -> "cDE").
    assert!(stored_hash(&db).await.contains("keyid=cDE"), "{}", stored_hash(&db).await);

    let none = instance(&db, &prefix, &[]).await;
    expect_error(none.login("ada@example.com", PASSWORD).await, 500, "INTERNAL_ERROR").await;

    let rotated = instance(
        &db,
        &prefix,
        &[
            ("PASSWORD_PEPPER", "second-pepper-0123456789"),
            ("PASSWORD_PEPPER_ID", "p2"),
            ("PASSWORD_PREVIOUS_PEPPERS", "p1:first-pepper-0123456789"),
        ],
    )
    .await;
    assert_eq!(rotated.login("ada@example.com", PASSWORD).await.status(), 200);
    assert!(stored_hash(&db).await.contains("keyid=cDI"), "{}", stored_hash(&db).await);
    assert_eq!(rotated.login("ada@example.com", PASSWORD).await.status(), 200);
}

/// Password reset on the real stack: PostgreSQL, the Redis queue, a worker,
/// and mail delivered over SMTP to a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_mail_travels_through_redis_and_smtp() {
    let smtp = crate::smtp::SmtpServer::start();
    let port = smtp.port.to_string();
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let app = instance(
        &db,
        &prefix,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &port),
            ("SMTP_TLS", "none"),
            ("EMAIL_FROM", "Portcullis <no-reply@portcullis.test>"),
            ("RUN_WORKERS_IN_PROCESS", "true"),
            ("APP_BASE_URL", "https://app.example"),
        ],
    )
    .await;
    app.register("ada@example.com").await;
    let res =
        app.post("/api/v1/auth/password/forgot", &serde_json::json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);

    let (reset, token) = smtp.link_token("Reset", "https://app.example/reset-password?token=").await;
    assert!(reset.to.contains("ada@example.com"));

    let new_password = "Velvet-Harbor-37#";
    assert_eq!(app.reset_password(&token, new_password).await.status(), 204);
    assert_eq!(app.login("ada@example.com", new_password).await.status(), 200);
    let stats = app.jobs.stats("mail").await.unwrap();
    assert!(stats.completed >= 2, "verification and reset mails sent through the queue: {stats:?}");
}

/// Hardening #10: what the API promised (201 with a verification mail, 202
/// "mail sent") is recorded in the database outbox and sent once Redis (the
/// job queue) is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promised_mail_survives_a_redis_outage() {
    let db = TestDatabase::new();
    let mut redis = crate::support::PrivateRedis::start();
    let url = redis.url();
    let prefix = unique_prefix();
    let app =
        instance(&db, &prefix, &[("REDIS_URL", url.as_str()), ("RUN_WORKERS_IN_PROCESS", "true")]).await;
    redis.stop();
    assert_eq!(app.register("ada@example.com").await.status(), 201);
    let res =
        app.post("/api/v1/auth/password/forgot", &serde_json::json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.outbox.as_ref().unwrap().to("ada@example.com").is_empty(), "nothing can be sent yet");
    redis.restart();
    let mails = app.mail_to("ada@example.com", 2).await;
    let mut subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert!(subjects[0].starts_with("Reset your"), "{subjects:?}");
    assert!(subjects[1].starts_with("Welcome"), "{subjects:?}");
    // The link in the mail works.
    let reset = mails.iter().find(|m| m.subject.starts_with("Reset")).unwrap();
    assert_eq!(app.reset_password(&link_token(reset), "Velvet-Harbor-37#").await.status(), 204);
}

/// Hardening #17: signing-key rotation without logging anyone out. The new
/// key signs; the previous public key (JWT_PREVIOUS_PUBLIC_KEYS) still
/// verifies the tokens it signed; the JWKS publishes both by `kid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_keeps_sessions() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let testdata = format!("{}/../infrastructure/testdata", env!("CARGO_MANIFEST_DIR"));
    let old = instance(&db, &prefix, &[]).await;
    let login = old.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");

    let next_key = format!("{testdata}/ed25519-next.pem");
    let previous = format!("{testdata}/ed25519.pub.pem");
    let rotated = instance(
        &db,
        &prefix,
        &[("JWT_PRIVATE_KEY_PATH", next_key.as_str()), ("JWT_PREVIOUS_PUBLIC_KEYS", previous.as_str())],
    )
    .await;
    assert_eq!(rotated.get_auth("/api/v1/auth/me", token).await.status(), 200);
    let jwks: Value =
        rotated.client.get(rotated.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    let fresh: Value = rotated.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    assert_eq!(rotated.get_auth("/api/v1/auth/me", str_of(&fresh, "access_token")).await.status(), 200);

    // Retired: without the previous key, its tokens are refused.
    let retired = instance(&db, &prefix, &[("JWT_PRIVATE_KEY_PATH", next_key.as_str())]).await;
    expect_error(retired.get_auth("/api/v1/auth/me", token).await, 401, "INVALID_TOKEN").await;
    assert_eq!(retired.get_auth("/api/v1/auth/me", str_of(&fresh, "access_token")).await.status(), 200);
}

/// First hour: `serve`/`migrate` create the database named in DATABASE_URL
/// when it does not exist (and the role may).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_is_created() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use portcullis_infrastructure::postgres::{run_migrations, test_db::with_database};
    let base = portcullis_infrastructure::postgres::test_db::database_url();
    let name = format!("portcullis_auto_{}", uuid::Uuid::new_v4().simple());
    let applied = run_migrations(&with_database(&base, &name)).expect("created and migrated");
    assert!(!applied.is_empty());
    // Migrated: the users table is there. Then clean up.
    let mut conn = AsyncPgConnection::establish(&with_database(&base, &name)).await.unwrap();
    diesel::sql_query("SELECT 1 FROM users LIMIT 1").execute(&mut conn).await.unwrap();
    drop(conn);
    let mut admin = AsyncPgConnection::establish(&base).await.unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
}

/// Two instances on one PostgreSQL and Redis: the upload lands on A (whose
/// workers alone run the pipeline), the socket is held by B — B's client
/// sees every step, carried by Redis pub/sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_on_one_instance_follows_an_upload_on_another() {
    use portcullis_infrastructure::memory::MemoryVirusScanner;
    use std::sync::Arc;
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let scanner = Arc::new(MemoryVirusScanner::default());
    scanner.set_available(false);
    let vars = real_backends(&db, &prefix, &[("MAX_RETRIES", "100")]);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = spawn_app_scanning_with(scanner.clone(), &borrowed).await;
    let b = instance(&db, &prefix, &[("RUN_WORKERS_IN_PROCESS", "false")]).await;
    let token = str_of(&a.signed_in("fleet-live@example.com").await, "access_token").to_owned();
    let file: Value = a.upload(&token, "fleet.csv", b"a,b\n1,2\n".to_vec()).await.json().await.unwrap();
    let id = str_of(&file, "id").to_owned();
    a.file_until(&token, &id, &["scan_failed"]).await;
    let mut socket = connect_socket(&b, &token).await;
    send_json(&mut socket, serde_json::json!({"type": "subscribe", "file_ids": [id]})).await;
    // Read from the database by B; A keeps retrying the scan meanwhile.
    let first = next_json(&mut socket).await;
    assert!(["scan_failed", "scanning"].contains(&str_of(&first, "status")), "{first}");
    scanner.set_available(true);
    a.clock.advance(time::Duration::minutes(1));
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("ready") {
        let message = next_json(&mut socket).await;
        assert_eq!(message["file_id"], id.as_str());
        seen.push(str_of(&message, "status").to_owned());
    }
    seen.dedup();
    // B runs no workers: every one of these crossed from A through Redis.
    assert!(seen.ends_with(&["scanning".into(), "processing".into(), "ready".into()]), "{seen:?}");
}

/// Roles live in PostgreSQL and effective permissions in Redis: a change made
/// through one instance is seen by another on the very next request. The
/// bootstrap admin is created once; a second start changes nothing, and an
/// address someone registered first is never promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_changes_reach_every_instance_and_the_bootstrap_is_idempotent() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let bootstrap = [("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL), ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)];
    let a = instance(&db, &prefix, &bootstrap).await;
    let hash_after_first_start = stored_hash(&db).await;
    let b = instance(&db, &prefix, &bootstrap).await;
    assert_eq!(stored_hash(&db).await, hash_after_first_start, "a second start changes nothing");

    let admin = a.admin_sign_in().await;
    let admin_token = str_of(&admin, "access_token");
    let ada = b.signed_in("ada@example.com").await;
    let ada_token = str_of(&ada, "access_token");
    let me: Value = b.get_auth("/api/v1/auth/me", ada_token).await.json().await.unwrap();
    // B caches ada's grants (user only)...
    expect_error(b.get_auth("/api/v1/admin/queues", ada_token).await, 403, "FORBIDDEN").await;
    // ...A makes her a moderator with queue access...
    let res = a
        .post_auth(
            "/api/v1/admin/roles",
            admin_token,
            &serde_json::json!({ "name": "operator", "permissions": ["queues:read"] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = a
        .client
        .put(a.url(&format!("/api/v1/admin/users/{}/roles", str_of(&me, "id"))))
        .bearer_auth(admin_token)
        .json(&serde_json::json!({ "roles": ["user", "operator"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // ...and B knows at once.
    assert_eq!(b.get_auth("/api/v1/admin/queues", ada_token).await.status(), 200);
    // The admin list's role filter, on PostgreSQL.
    let holders: Value =
        a.get_auth("/api/v1/admin/users?role=operator", admin_token).await.json().await.unwrap();
    assert_eq!(holders["users"][0]["email"], "ada@example.com", "{holders}");
    assert_eq!(holders["users"].as_array().unwrap().len(), 1);

    // A squatter's account is not promoted by a later bootstrap naming it.
    let squatter = a.signed_in("early@example.com").await;
    let c = instance(
        &db,
        &prefix,
        &[("BOOTSTRAP_ADMIN_EMAIL", "early@example.com"), ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)],
    )
    .await;
    expect_error(
        c.get_auth("/api/v1/admin/roles", str_of(&squatter, "access_token")).await,
        403,
        "FORBIDDEN",
    )
    .await;
}

/// A session ended through one instance stops on another: its access token
/// is refused there within a second, and its socket held there closes (both
/// travel over Redis pub/sub; the ping interval here is an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_stops_on_every_instance() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let a = instance(&db, &prefix, &[]).await;
    let b = instance(&db, &prefix, &[("WS_PING_INTERVAL", "1h")]).await;
    let phone = a.signed_in("fleet-sessions@example.com").await;
    let laptop: Value = a.login("fleet-sessions@example.com", PASSWORD).await.json().await.unwrap();
    let phone_token = str_of(&phone, "access_token");
    let mut socket = connect_socket(&b, phone_token).await;
    assert_eq!(b.get_auth("/api/v1/auth/me", phone_token).await.status(), 200);

    let laptop_token = str_of(&laptop, "access_token");
    let listed: Value = a.get_auth("/api/v1/sessions", laptop_token).await.json().await.unwrap();
    let phone_session =
        listed["sessions"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap();
    let path = format!("/api/v1/sessions/{}", str_of(phone_session, "id"));
    let res = a.client.delete(a.url(&path)).bearer_auth(laptop_token).send().await.unwrap();
    assert_eq!(res.status(), 204);

    refused_within_a_second(&b, phone_token).await;
    let close = loop {
        let frame =
            tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await.expect("closed");
        match frame {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close reason").code), 4001);
}

/// An invitation on PostgreSQL and Redis: promised with the invitation
/// (outbox), minted and mailed by the worker over SMTP, accepted through
/// another instance, which grants the roles at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_travels_from_one_instance_to_a_new_account_on_another() {
    let smtp = crate::smtp::SmtpServer::start();
    let port = smtp.port.to_string();
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let settings = [
        ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &port),
        ("SMTP_TLS", "none"),
        ("EMAIL_FROM", "Portcullis <no-reply@portcullis.test>"),
        ("RUN_WORKERS_IN_PROCESS", "true"),
        ("APP_BASE_URL", "https://app.example"),
    ];
    let a = instance(&db, &prefix, &settings).await;
    let b = instance(&db, &prefix, &settings).await;
    let admin = a.admin_sign_in().await;
    let body = serde_json::json!({ "email": "grace@example.com", "roles": ["moderator"] });
    let res = a.post_auth("/api/v1/admin/invitations", str_of(&admin, "access_token"), &body).await;
    assert_eq!(res.status(), 201);

    let (mail, token) = smtp.link_token("invited", "https://app.example/accept-invitation?token=").await;
    assert!(mail.to.contains("grace@example.com"));

    let res = b
        .post(
            "/api/v1/auth/invitations/accept",
            &serde_json::json!({ "token": token, "password": "Copper-Meadow-Lantern-4" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let grace: Value = res.json().await.unwrap();
    let grace_token = str_of(&grace, "access_token");
    assert_eq!(a.get_auth("/api/v1/admin/users", grace_token).await.status(), 200, "moderator on A too");
    let again = a
        .post(
            "/api/v1/auth/invitations/accept",
            &serde_json::json!({ "token": token, "password": "Copper-Meadow-Lantern-4" }),
        )
        .await;
    expect_error(again, 401, "INVALID_TOKEN").await;
}

/// Issue 12 on PostgreSQL + Redis: the factor enrolled on A (its secret sealed
/// with ENCRYPTION_KEYS, stored in PostgreSQL), the challenge opened by a
/// login on A (in Redis) and answered on B, once; the code's step is spent
/// for every instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_opened_on_one_instance_is_answered_on_another() {
    use portcullis_application::ports::Clock;
    use serde_json::json;
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let a = instance(&db, &prefix, &[]).await;
    let b = instance(&db, &prefix, &[]).await;
    let code_on = |app: &TestApp, uri: &str| {
        totp_rs::TOTP::from_url_unchecked(uri).unwrap().generate(app.clock.now().unix_timestamp() as u64)
    };
    let login = a.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let setup: Value =
        a.post_auth("/api/v1/auth/mfa/totp/setup", token, &json!({})).await.json().await.unwrap();
    let uri = str_of(&setup, "otpauth_uri").to_owned();
    let res = b.post_auth("/api/v1/auth/mfa/totp/verify", token, &json!({ "code": code_on(&b, &uri) })).await;
    assert_eq!(res.status(), 200, "B opens the secret A sealed (same keyring)");
    for app in [&a, &b] {
        app.clock.advance(time::Duration::seconds(30));
    }

    let res = a.login("ada@example.com", PASSWORD).await;
    let challenge: Value = res.json().await.unwrap();
    assert_eq!(challenge["mfa_required"], true);
    let code = code_on(&a, &uri);
    let body = json!({ "challenge_id": challenge["challenge_id"], "method": "totp", "code": code });
    let res = b.post("/api/v1/auth/mfa/challenge", &body).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(a.get_auth("/api/v1/auth/me", str_of(&signed_in, "access_token")).await.status(), 200);
    expect_error(a.post("/api/v1/auth/mfa/challenge", &body).await, 401, "MFA_CHALLENGE_INVALID").await;
    // A second login cannot reuse the code on the other instance either.
    let again: Value = a.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let body = json!({ "challenge_id": again["challenge_id"], "method": "totp", "code": code });
    expect_error(a.post("/api/v1/auth/mfa/challenge", &body).await, 401, "INVALID_CODE").await;
}

/// A passkey ceremony's state waits in Redis and the credential lives in
/// PostgreSQL: either instance may begin or finish it, and each is finished
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_ceremonies_span_instances() {
    use serde_json::json;
    use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, WebauthnAuthenticator};
    const ORIGIN: &str = "https://app.example.com";
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let rp = [("WEBAUTHN_RP_ID", "example.com"), ("WEBAUTHN_RP_ORIGIN", ORIGIN)];
    let a = instance(&db, &prefix, &rp).await;
    let b = instance(&db, &prefix, &rp).await;
    let origin = url::Url::parse(ORIGIN).unwrap();
    let login = a.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let mut passkey = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);

    // Registration: begun on A, finished on B.
    let start: Value = a
        .post_auth("/api/v1/auth/webauthn/register/start", token, &json!({ "kind": "passkey" }))
        .await
        .json()
        .await
        .unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let credential = passkey.do_registration(origin, options).unwrap();
    let raw_id = credential.raw_id.to_vec();
    let body = json!({ "ceremony_id": start["ceremony_id"], "kind": "passkey", "credential": credential });
    let res = b.post_auth("/api/v1/auth/webauthn/register/finish", token, &body).await;
    assert_eq!(res.status(), 201);
    expect_error(
        a.post_auth("/api/v1/auth/webauthn/register/finish", token, &body).await,
        401,
        "WEBAUTHN_CEREMONY_INVALID",
    )
    .await;

    // Sign-in: begun on B, finished on A (the test plays the platform: it
    // offers the credential and returns the user handle).
    let start: Value = b.post("/api/v1/auth/passkeys/sign-in/start", &json!({})).await.json().await.unwrap();
    let user = login["user"]["id"].as_str().unwrap();
    let answer = discoverable_answer(&mut passkey, &start["options"], &raw_id, user, ORIGIN);
    let body = json!({ "ceremony_id": start["ceremony_id"], "credential": answer });
    let res = a.post("/api/v1/auth/passkeys/sign-in/finish", &body).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(b.get_auth("/api/v1/auth/me", str_of(&signed_in, "access_token")).await.status(), 200);
    expect_error(
        b.post("/api/v1/auth/passkeys/sign-in/finish", &body).await,
        401,
        "WEBAUTHN_CEREMONY_INVALID",
    )
    .await;
}

/// A texted code is minted by whichever worker takes the job, kept in
/// Redis, and answers on any instance, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_texted_code_answers_on_any_instance() {
    use serde_json::json;
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let a = instance(&db, &prefix, &[]).await;
    let b = instance(&db, &prefix, &[]).await;
    let phone = "+447911123456";
    let login = a.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    assert_eq!(
        a.post_auth("/api/v1/auth/mfa/sms/setup", token, &json!({ "phone": phone })).await.status(),
        202
    );
    // The job ran on one of the two workers: read the text where it landed.
    let mut text = None;
    for _ in 0..500 {
        text = [&a, &b].iter().flat_map(|app| app.texts.as_ref().unwrap().to(phone)).next();
        if text.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let code = code_in(&text.expect("a text was sent"));
    let res = b.post_auth("/api/v1/auth/mfa/sms/verify", token, &json!({ "code": code })).await;
    assert_eq!(res.status(), 200);
    let res = a.post_auth("/api/v1/auth/mfa/sms/verify", token, &json!({ "code": code })).await;
    expect_error(res, 409, "MFA_ALREADY_ENABLED").await;
    let status: Value = a.get_auth("/api/v1/auth/mfa", token).await.json().await.unwrap();
    assert_eq!(status["sms_enabled"], true);
}

/// A provider sign-in begun on one instance completes on another: the
/// state waits in Redis (taken once), the link lives in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_sign_in_spans_instances() {
    let db = TestDatabase::new();
    let prefix = unique_prefix();
    let provider = crate::stand_ins::OAuthStandIn::start();
    let settings = [
        ("OAUTH_PROVIDERS", "corp".to_owned()),
        ("OAUTH_CORP_CLIENT_ID", provider.client_id.clone()),
        ("OAUTH_CORP_CLIENT_SECRET", provider.client_secret.clone()),
        ("OAUTH_CORP_ISSUER", provider.issuer.clone()),
        ("OAUTH_REDIRECT_BASE_URL", "http://app.invalid".to_owned()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = instance(&db, &prefix, &settings).await;
    let b = instance(&db, &prefix, &settings).await;
    let through = |start_on: &TestApp, finish_on: &TestApp| {
        let (start, finish) = (start_on.address.clone(), finish_on.address.clone());
        let client = a.client.clone();
        async move {
            let res = client.get(format!("{start}/api/v1/oauth/corp/authorize")).send().await.unwrap();
            let res = client.get(res.headers()["location"].to_str().unwrap()).send().await.unwrap();
            let back = res.headers()["location"].to_str().unwrap().replace("http://app.invalid", &finish);
            (client.get(&back).send().await.unwrap(), back)
        }
    };
    let (res, back) = through(&a, &b).await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    let user = signed_in["user"]["id"].clone();
    assert_eq!(a.get_auth("/api/v1/auth/me", str_of(&signed_in, "access_token")).await.status(), 200);
    // The state was taken on B: replaying the callback on A finds nothing.
    let replay = back.replace(&b.address, &a.address);
    expect_error(a.client.get(&replay).send().await.unwrap(), 401, "OAUTH_STATE_INVALID").await;
    // The link made on B signs the same user in on A.
    let (res, _) = through(&b, &a).await;
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["user"]["id"], user);
}
