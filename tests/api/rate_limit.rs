//! Per-IP, per-email and per-user limits with their headers.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn auth_routes_have_their_own_strict_budget() {
    let app =
        spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "3"), ("RATE_LIMIT_AUTH_WINDOW_MS", "900000")])
            .await;
    for remaining in ["2", "1", "0"] {
        let res = app.login("nobody@example.com", "Wrong-Password-1").await;
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["x-ratelimit-limit"], "3");
        assert_eq!(res.headers()["x-ratelimit-remaining"], remaining);
    }
    let res = app.login("nobody@example.com", "Wrong-Password-1").await;
    let retry: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
    expect_error(res, 429, "RATE_LIMITED").await;

    // Other routes use the general budget.
    let res = app.refresh("whatever").await;
    assert_eq!(res.headers()["x-ratelimit-limit"], "1000");
}

#[tokio::test]
async fn per_email_limit_spans_addresses_spelled_differently() {
    let app = spawn_app_with(&[("RATE_LIMIT_AUTH_MAX_REQUESTS", "2")]).await;
    // Per-IP and per-email share the budget size; the email key is what a
    // distributed guesser cannot dodge. Both addresses normalise to one key.
    assert_eq!(app.login("Ada@Example.com", "Wrong-Password-1").await.status(), 401);
    assert_eq!(app.login(" ada@example.com", "Wrong-Password-1").await.status(), 401);
    expect_error(app.login("ada@example.com", "Wrong-Password-1").await, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn authenticated_routes_are_limited_per_user() {
    // Behind a trusted proxy each request comes from another address, so only
    // the per-user budget can stop them.
    let app = spawn_app_with(&[("RATE_LIMIT_MAX_REQUESTS", "4"), ("TRUST_PROXY_HEADERS", "true")]).await;
    let login = app.signed_in("ada@example.com").await;
    let token = str_of(&login, "access_token");
    let mut statuses = Vec::new();
    for i in 0..6 {
        let res = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);

    app.clock.advance(time::Duration::minutes(2));
    let activity: Value = app.get_auth("/api/v1/users/me/activity", token).await.json().await.unwrap();
    let limited: Vec<&Value> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == "security.rate_limit.exceeded")
        .collect();
    assert_eq!(limited.len(), 1, "a burst of rejections is audited once: {activity}");
    assert_eq!(limited[0]["details"]["key_kind"], "user");
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"rate_limit_rejections_total{class="general",key="user"} 2"#), "{text}");
}
