//! Scenario 11, webhooks: events delivered to ten unordered endpoints of one tenant, all
//! pointing at the fakes' Standard Webhooks receiver (which checks every signature), against
//! a bare reqwest loop posting the same signed bodies to the same receiver in the same run:
//! what this machine can carry at all.
//!
//! The events are written into the log directly (as the triggers would write them), so the
//! figure is the webhook pipeline's alone: fan-out, one workflow per delivery, the signed
//! POST and its records. First a paced phase (event → first delivery, p50/p99), then a
//! burst (deliveries per second from the first event to the last delivery).

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{StreamExt, stream};
use pombo_fakes::webhook::{TEST_SECRET, sign};
use pombo_store::entities::{event_log, webhook_endpoint};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;

use crate::stack::Stack;

const ENDPOINTS: usize = 10;
const BARE_CONCURRENCY: usize = 64;
/// The type the endpoints subscribe to: nothing else the bench does makes one.
const EVENT_TYPE: &str = "conversation.opened";

pub struct Figures {
    pub deliveries_per_second: f64,
    pub bare_per_second: f64,
    /// Event → its first delivery, sorted.
    pub first_delivery: Vec<Duration>,
}

fn received(stack: &Stack) -> Vec<pombo_fakes::inbox::Recorded> {
    stack.fakes.state.inbox.of("webhook")
}

async fn write_events(stack: &Stack, tenant_id: uuid::Uuid, n: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let rows = (0..n).map(|_| event_log::ActiveModel {
        tenant_id: Set(tenant_id),
        event_type: Set(EVENT_TYPE.into()),
        subject_id: Set(uuid::Uuid::now_v7()),
        related_id: Set(Some(uuid::Uuid::now_v7())),
        status: Set(Some("open".into())),
        occurred_at: Set(now),
        ..Default::default()
    });
    for chunk in rows.collect::<Vec<_>>().chunks(500) {
        event_log::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(stack.db())
            .await?;
    }
    Ok(())
}

async fn wait_for(stack: &Stack, count: usize, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while stack.fakes.state.inbox.count_of("webhook") < count {
        anyhow::ensure!(
            start.elapsed() < limit,
            "webhooks: {} of {count} deliveries after {limit:?}",
            stack.fakes.state.inbox.count_of("webhook")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub async fn run(stack: &Stack, paced: usize, burst: usize) -> anyhow::Result<Figures> {
    let url = format!("http://{}/webhook/receive", stack.fakes.addr);
    let poster = stack.poster();
    for i in 0..ENDPOINTS {
        let (code, body) = poster
            .call(
                "POST",
                "/v1/webhook-endpoints",
                &json!({
                    "url": url,
                    "description": format!("bench {i}"),
                    "event_types": [EVENT_TYPE],
                    "secret": TEST_SECRET,
                }),
            )
            .await;
        anyhow::ensure!(code == 201, "creating an endpoint: {code} {body}");
    }
    let tenant_id = webhook_endpoint::Entity::find()
        .one(stack.db())
        .await?
        .map(|e| e.tenant_id)
        .ok_or_else(|| anyhow::anyhow!("no endpoint stored"))?;
    stack.fakes.state.inbox.clear();

    // Paced: one event every 50 ms; the first delivery of each, from the event's time.
    for _ in 0..paced {
        write_events(stack, tenant_id, 1).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(stack, paced * ENDPOINTS, Duration::from_secs(300)).await?;
    let mut first: std::collections::HashMap<String, chrono::DateTime<Utc>> = Default::default();
    let mut occurred: std::collections::HashMap<String, chrono::DateTime<Utc>> = Default::default();
    for r in received(stack) {
        let id = r.header("webhook-id").unwrap_or_default().to_owned();
        let body = r.json();
        if let Some(at) = body["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            occurred.insert(id.clone(), at.with_timezone(&Utc));
        }
        first
            .entry(id)
            .and_modify(|t| *t = (*t).min(r.at))
            .or_insert(r.at);
    }
    let mut first_delivery: Vec<Duration> = first
        .iter()
        .filter_map(|(id, at)| (*at - *occurred.get(id)?).to_std().ok())
        .collect();
    first_delivery.sort();

    // Burst: every event at once; deliveries/s until the last one arrived.
    stack.fakes.state.inbox.clear();
    let start = Instant::now();
    write_events(stack, tenant_id, burst).await?;
    wait_for(stack, burst * ENDPOINTS, Duration::from_secs(1800)).await?;
    let deliveries_per_second = (burst * ENDPOINTS) as f64 / start.elapsed().as_secs_f64();
    let bodies: Vec<(String, String)> = received(stack)
        .into_iter()
        .map(|r| (r.header("webhook-id").unwrap_or("x").to_owned(), r.body))
        .collect();

    // The same bodies, signed the same way, posted by a bare loop to the same receiver.
    stack.fakes.state.inbox.clear();
    let http = reqwest::Client::new();
    let start = Instant::now();
    stream::iter(bodies)
        .for_each_concurrent(BARE_CONCURRENCY, |(id, body)| {
            let (http, url) = (&http, &url);
            async move {
                let timestamp = Utc::now().timestamp();
                let signature = sign(TEST_SECRET, &id, timestamp, body.as_bytes()).unwrap();
                let response = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .expect("the receiver answers");
                assert!(response.status().is_success(), "{}", response.status());
            }
        })
        .await;
    let bare_per_second = (burst * ENDPOINTS) as f64 / start.elapsed().as_secs_f64();
    Ok(Figures {
        deliveries_per_second,
        bare_per_second,
        first_delivery,
    })
}
