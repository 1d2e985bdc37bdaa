//! `GET /v1/notifications`: filters and pagination.

use std::collections::HashSet;

use crate::support::{AppOptions, email_request, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_through_newest_first_and_filter_by_status() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await;
    let mut sent_ids = Vec::new();
    for i in 0..5 {
        sent_ids.push(
            app.send(&email_request(&format!("page{i}@example.com")))
                .await,
        );
    }
    let app = &app;
    let get = |query: String| async move { app.list_as(&app.api_key, &query).await };
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (code, page) = get(format!("?limit=2{cursor}")).await;
        assert_eq!(code, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<_> = sent_ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every notification once, newest first");

    // No worker runs here, so all are still pending.
    let (_, pending) = get("?status=pending".into()).await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 5);
    let (_, sent) = get("?status=sent&channel=email".into()).await;
    assert_eq!(sent["data"].as_array().unwrap().len(), 0);

    let (code, bad) = get("?status=lost&limit=0&cursor=zzz".into()).await;
    assert_eq!(code, 422);
    let fields: HashSet<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["status".into(), "limit".into(), "cursor".into()])
    );
}
