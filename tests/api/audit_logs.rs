//! `GET /api/v1/admin/audit-logs`: filters, paging, refusals.

use crate::helpers::*;
use serde_json::Value;

async fn query(app: &TestApp, token: &str, params: &str) -> Value {
    let res = app.get_auth(&format!("/api/v1/admin/audit-logs?{params}"), token).await;
    assert_eq!(res.status(), 200, "{params}");
    res.json().await.unwrap()
}

fn actions(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn admins_filter_and_page_through_the_trail() {
    let app = spawn_admin_app(&[]).await;
    let ada = app.signed_in("ada@example.com").await;
    let ada_token = str_of(&ada, "access_token");
    app.login("ada@example.com", "Wrong-Password-1").await;
    app.login("ada@example.com", "Wrong-Password-2").await;
    let me: Value = app.get_auth("/api/v1/auth/me", ada_token).await.json().await.unwrap();
    let ada_id = str_of(&me, "id");
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token");
    // The worker audits the verification mail it sends: let it finish, so
    // the trail stands still while it is paged through.
    app.mail_to("ada@example.com", 1).await;
    app.startup_cleanups_done().await;
    for _ in 0..500 {
        let sent = query(&app, token, "action=user.email.verification_requested").await;
        if !sent["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let failed = query(&app, token, "action=auth.login.failed").await;
    assert_eq!(actions(&failed), ["auth.login.failed", "auth.login.failed"]);
    let item = &failed["items"][0];
    assert_eq!(item["user_id"], ada_id);
    assert_eq!(item["ip"], "127.0.0.1");
    assert_eq!(item["severity"], "warning");

    let hers = query(&app, token, &format!("user_id={ada_id}")).await;
    let hers = actions(&hers);
    assert_eq!(hers.last().map(String::as_str), Some("user.registered"), "newest first: {hers:?}");
    assert!(hers.iter().all(|a| a != "admin.user.roles_changed"), "only her events");
    assert!(query(&app, token, "severity=critical").await["items"].as_array().unwrap().is_empty());
    let none = query(&app, token, "ip=198.51.100.1").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let future = query(&app, token, "from=2999-01-01T00:00:00Z").await;
    assert!(future["items"].as_array().unwrap().is_empty());

    // Page by two through everything: no gaps, no repeats, then no cursor.
    let all = actions(&query(&app, token, "limit=200").await);
    let mut paged = Vec::new();
    let mut params = "limit=2".to_owned();
    loop {
        let page = query(&app, token, &params).await;
        paged.extend(actions(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => params = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, all);

    let res = app
        .get_auth("/api/v1/admin/audit-logs?action=nope&severity=loud&from=yesterday&cursor=x", token)
        .await;
    let body = expect_error(res, 400, "VALIDATION_ERROR").await;
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["action", "severity", "from", "cursor"]);
    expect_error(app.get_auth("/api/v1/admin/audit-logs?limit=0", token).await, 400, "VALIDATION_ERROR")
        .await;
    expect_error(app.get_auth("/api/v1/admin/audit-logs", ada_token).await, 403, "FORBIDDEN").await;
}
