//! Account lockout after repeated failures, atomic under concurrency.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn threshold_failures_lock_even_the_right_password() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3"), ("LOGIN_LOCKOUT_DURATION", "15m")]).await;
    app.register("ada@example.com").await;
    for _ in 0..3 {
        expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 401, "INVALID_CREDENTIALS")
            .await;
    }
    let res = app.login("ada@example.com", PASSWORD).await;
    let retry: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body = expect_error(res, 423, "ACCOUNT_LOCKED").await;
    assert!(body["error"]["details"]["retry_after_seconds"].as_i64().unwrap() > 0);

    // The lock lifts after LOGIN_LOCKOUT_DURATION.
    app.clock.advance(time::Duration::minutes(16));
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn success_resets_the_failure_count() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    app.register("ada@example.com").await;
    for _ in 0..2 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    for _ in 0..2 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn parallel_guesses_never_exceed_the_threshold() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "5")]).await;
    app.register("ada@example.com").await;
    let calls = (0..20).map(|i| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({ "email": "ada@example.com", "password": format!("Wrong-Password-{i}") }))
                .send()
                .await
                .unwrap()
        })
    })
    .collect::<Vec<_>>();
    let mut checked = 0;
    for call in calls {
        let res = call.await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        match status {
            401 => checked += 1,
            423 => assert_eq!(body["error"]["code"], "ACCOUNT_LOCKED"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(checked, 5, "exactly the threshold of password checks got through");
    let activity_user = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(activity_user.status(), 423);
}

/// Hardening #1: 503 OVERLOADED (hashing pool full because of other people's
/// logins) is no verdict on the password, so retries with the right password
/// never lock the owner out.
#[tokio::test]
async fn overloaded_retries_never_lock_the_owner() {
    let app = spawn_app_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("MAX_HASH_CONCURRENCY", "1"),
        ("HASH_QUEUE_SIZE", "0"),
        ("ARGON2_MEMORY_KIB", "8192"),
        ("ARGON2_ITERATIONS", "2"),
        ("RATE_LIMIT_AUTH_MAX_REQUESTS", "1000000"),
    ])
    .await;
    app.register("ada@example.com").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..4)
        .map(|n| {
            let (client, url, stop) = (app.client.clone(), app.url("/api/v1/auth/login"), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let body =
                        serde_json::json!({ "email": format!("flood-{n}-{i}@example.com"), "password": "x" });
                    let _ = client.post(&url).json(&body).send().await;
                }
            })
        })
        .collect();
    let mut overloaded = 0;
    for _ in 0..400 {
        let res = app.login("ada@example.com", PASSWORD).await;
        match res.status().as_u16() {
            503 => overloaded += 1,
            200 => {}
            other => panic!("the owner got {other}: {}", res.text().await.unwrap()),
        }
        if overloaded >= 8 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    assert!(overloaded >= 8, "the flood should have filled the hashing pool ({overloaded} refusals)");
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

/// Hardening #3: a password reset lifts a lockout (the README says so).
#[tokio::test]
async fn a_password_reset_lifts_the_lockout() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "2")]).await;
    app.register("ada@example.com").await;
    for _ in 0..2 {
        app.login("ada@example.com", "Wrong-Password-1").await;
    }
    expect_error(app.login("ada@example.com", PASSWORD).await, 423, "ACCOUNT_LOCKED").await;
    let res =
        app.post("/api/v1/auth/password/forgot", &serde_json::json!({ "email": "ada@example.com" })).await;
    assert_eq!(res.status(), 202);
    let mail = app.mail_to("ada@example.com", 2).await;
    let token = link_token(mail.iter().find(|m| m.subject.contains("Reset")).unwrap());
    let new_password = "Velvet-Harbor-37#";
    assert_eq!(app.reset_password(&token, new_password).await.status(), 204);
    assert_eq!(app.login("ada@example.com", new_password).await.status(), 200);
}

/// Hardening #7: the current-password check of a password change is counted
/// like a login, so it cannot be used as an unthrottled password oracle.
#[tokio::test]
async fn wrong_current_passwords_lock_like_logins() {
    let app = spawn_app_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let change = |current: &str| serde_json::json!({ "current_password": current, "new_password": "Velvet-Harbor-37#" });
    for _ in 0..3 {
        let res = app.post_auth("/api/v1/users/me/password", token, &change("Wrong-Password-1")).await;
        expect_error(res, 400, "VALIDATION_ERROR").await;
    }
    // The fourth try, with the right password, is refused: the account is locked.
    let res = app.post_auth("/api/v1/users/me/password", token, &change(PASSWORD)).await;
    expect_error(res, 423, "ACCOUNT_LOCKED").await;
    expect_error(app.login("ada@example.com", PASSWORD).await, 423, "ACCOUNT_LOCKED").await;
}
