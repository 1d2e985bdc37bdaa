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

/// The header `name` of an email as it was received (its source: maildev's parsed
/// `headers` leave some out), unfolded; `None` when it has none.
pub async fn header(mail: &Value, name: &str) -> Option<String> {
    let id = mail["id"].as_str().expect("maildev gives each email an id");
    let source = reqwest::get(format!("{}/api/email/{id}/source", servers().maildev))
        .await
        .expect("maildev answers")
        .text()
        .await
        .expect("the email's source");
    let head = source.split("\r\n\r\n").next().unwrap_or_default();
    let head = head.split("\n\n").next().unwrap_or_default();
    let mut found: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        match &mut found {
            Some(value) if line.starts_with([' ', '\t']) => value.push_str(line.trim_start()),
            Some(_) => break,
            None => {
                if let Some((key, value)) = line.split_once(':')
                    && key.eq_ignore_ascii_case(name)
                {
                    found = Some(value.trim().to_owned());
                }
            }
        }
    }
    found
}
