//! The same idempotency key never makes a second notification or a second email.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    email_request,
    maildev::{mails_to, wait_for_mails},
    spawn_app, unique_email,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_request_returns_the_first_notification_and_sends_once() {
    let app = spawn_app().await;
    let to = unique_email("idem");
    let mut body = email_request(&to);
    body["idempotency_key"] = "order-42-confirmation".into();

    let first = app.post_notification(&body).await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // The same key in the header instead of the body is the same request.
    let mut via_header = body.clone();
    via_header
        .as_object_mut()
        .unwrap()
        .remove("idempotency_key");
    let second = app
        .http
        .post(app.url("/v1/notifications"))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "order-42-confirmation")
        .json(&via_header)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 202);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);

    // The key reused for a different message is refused.
    let mut other = body.clone();
    other["content"]["subject"] = "Something else".into();
    let conflict = app.post_notification(&other).await;
    assert_eq!(conflict.status(), 422);
    let problem: Value = conflict.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "idempotency_key");

    let id = first["id"].as_str().unwrap();
    app.wait_for_status(id, "sent", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mails_to(&to).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_duplicates_make_one_notification_and_one_email() {
    let app = spawn_app().await;
    let to = unique_email("race");
    let mut body = email_request(&to);
    body["idempotency_key"] = "race-key".into();

    let responses = futures::future::join_all((0..12).map(|_| app.post_notification(&body))).await;
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 202);
        let json: Value = response.json().await.unwrap();
        ids.push(json["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one notification for one key: {ids:?}");

    app.wait_for_status(&ids[0], "sent", Duration::from_secs(30))
        .await;
    wait_for_mails(&to, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mails_to(&to).await.len(), 1);

    let (_, list) = app.list_as(&app.api_key, "").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
