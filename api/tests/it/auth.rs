//! API keys and tenant isolation.

use serde_json::Value;

use crate::support::{AppOptions, email_request, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_valid_key_are_refused_and_tenants_are_isolated() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let body = email_request("ana@example.com");

    let no_key = app
        .http
        .post(app.url("/v1/notifications"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    assert_eq!(no_key.json::<Value>().await.unwrap()["status"], 401);
    let (code, _) = app.list_as("pombo_not_a_key", "").await;
    assert_eq!(code, 401);

    let id = app.send(&body).await;
    let other = app.other_tenant_key().await;
    let peek = app
        .http
        .get(app.url(&format!("/v1/notifications/{id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        peek.status(),
        404,
        "another tenant's notification does not exist for you"
    );
    let (_, their_list) = app.list_as(&other, "").await;
    assert_eq!(their_list["data"].as_array().unwrap().len(), 0);

    let (code, mine) = app.get_notification(&id).await;
    assert_eq!(code, 200);
    assert_eq!(mine["id"], id.as_str());
    let (code, _) = app.get_notification("not-a-uuid").await;
    assert_eq!(code, 404);
}
