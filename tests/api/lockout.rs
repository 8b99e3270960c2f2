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
