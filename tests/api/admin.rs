//! The admin queue endpoints and the worker's retry, dead-letter and metrics.

use crate::helpers::*;
use portcullis_application::ports::NewJob;
use serde_json::{Value, json};

#[tokio::test]
async fn only_admins_see_the_queues() {
    let app = spawn_admin_app(&[]).await;
    let user = app.signed_in("ada@example.com").await;
    expect_error(app.get_auth("/api/v1/admin/queues", str_of(&user, "access_token")).await, 403, "FORBIDDEN")
        .await;
    expect_error(app.client.get(app.url("/api/v1/admin/queues")).send().await.unwrap(), 401, "UNAUTHORIZED")
        .await;

    app.mail_to("ada@example.com", 1).await;
    let admin = app.admin_sign_in().await;
    let res = app.get_auth("/api/v1/admin/queues", str_of(&admin, "access_token")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let mail =
        body["queues"].as_array().unwrap().iter().find(|q| q["name"] == "mail").expect("the mail queue");
    assert_eq!(mail["completed"], 1, "ada's verification mail (the bootstrap admin gets none): {body}");
    assert_eq!(mail["dead"], 0);
}

#[tokio::test]
async fn failing_jobs_go_dead_and_admins_can_retry_them() {
    let app = spawn_admin_app(&[("MAX_RETRIES", "2")]).await;
    let admin = app.admin_sign_in().await;
    let token = str_of(&admin, "access_token").to_owned();
    // A recipient the mailer refuses for good: no retry, straight to dead.
    let bad = json!({ "to": "not-an-address", "template": "magic_link", "name": null, "link": "x" });
    let id = app.jobs.enqueue(NewJob::new("mail", "email.send", bad)).await.unwrap().id();

    let mut dead = Value::Null;
    for _ in 0..300 {
        let body: Value = app.get_auth("/api/v1/admin/queues", &token).await.json().await.unwrap();
        let mail = body["queues"].as_array().unwrap().iter().find(|q| q["name"] == "mail").cloned().unwrap();
        if mail["dead"] == 1 {
            dead = mail;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let item = &dead["dead_jobs"][0];
    assert_eq!(item["id"], id.to_string(), "{dead}");
    assert_eq!(item["attempt"], 1, "a permanent failure is not retried");
    assert!(item["last_error"].as_str().unwrap().contains("invalid recipient"));

    let retry = app
        .client
        .post(app.url(&format!("/api/v1/admin/queues/mail/dead/{id}/retry")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 204);
    let trail: Value = app
        .get_auth("/api/v1/admin/audit-logs?action=admin.queue.job_retried", &token)
        .await
        .json()
        .await
        .unwrap();
    let retried = &trail["items"][0];
    assert_eq!(retried["details"]["job_id"], id.to_string(), "{trail}");
    assert_eq!(retried["details"]["before"]["state"], "dead");
    let missing = app
        .client
        .post(app.url(&format!("/api/v1/admin/queues/mail/dead/{}/retry", uuid::Uuid::new_v4())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(missing, 404, "NOT_FOUND").await;

    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"jobs_total{event="enqueued",kind="email.send",queue="mail"}"#), "{text}");
    assert!(text.contains(r#"jobs_total{event="dead",kind="email.send",queue="mail"}"#), "{text}");
    assert!(text.contains("job_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"job_queue_depth{queue="mail",state="pending"}"#), "{text}");
}
