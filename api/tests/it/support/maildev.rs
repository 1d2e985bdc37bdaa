//! Reading what reached the SMTP capture server, through maildev's HTTP API.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::servers::servers;

/// Emails received for `to`.
pub async fn mails_to(to: &str) -> Vec<Value> {
    let all: Vec<Value> = reqwest::get(format!("{}/api/email", servers().maildev))
        .await
        .expect("maildev answers")
        .json()
        .await
        .expect("maildev returns JSON");
    all.into_iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|list| list.iter().any(|r| r["address"] == to))
        })
        .collect()
}

/// Waits until at least `count` emails reached `to`, and returns them.
pub async fn wait_for_mails(to: &str, count: usize, limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let mails = mails_to(to).await;
        if mails.len() >= count {
            return mails;
        }
        assert!(
            start.elapsed() < limit,
            "{to}: {} of {count} emails after {limit:?}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
