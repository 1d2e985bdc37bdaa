//! Scenario 10, the live event stream: `clients` WebSocket clients of the bench's tenant,
//! each following `notification.sent`, while notifications go out at a modest rate. What it
//! measures: the API's resident memory per idle connection (before and after connecting
//! them all), the time from an event (its `occurred_at`, stamped just before the change
//! commits) to each client's receipt of it, and how many deliveries a second the fan-out
//! made.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::stack::Stack;

pub struct Figures {
    /// KB of the API's RSS per idle connection.
    pub rss_kb_per_connection: f64,
    /// Event-to-client, every delivery, sorted.
    pub latencies: Vec<Duration>,
    /// Deliveries a second, from the first notification posted to the last delivery.
    pub deliveries_per_second: f64,
}

pub async fn run(stack: &Stack, clients: usize, notifications: usize, first: usize) -> Figures {
    let url = format!(
        "{}/v1/stream?types=notification.sent",
        stack.url.replacen("http", "ws", 1)
    );
    let rss_before = stack.api_rss_kb();
    let connected = Arc::new(Barrier::new(clients + 1));
    // Fifty handshakes at a time, as clients arrive in practice: a thousand at once would
    // weigh the allocator's memory kept from the handshakes' buffers, not the connections.
    // `POMBO_BENCH_STREAM_ARRIVING` changes it (1000: a reconnection storm).
    let at_once = std::env::var("POMBO_BENCH_STREAM_ARRIVING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let arriving = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut request = url.as_str().into_client_request().expect("a WebSocket URL");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", stack.key()).parse().expect("a header"),
        );
        let connected = connected.clone();
        let arriving = arriving.clone();
        tasks.push(tokio::spawn(async move {
            let turn = arriving.acquire_owned().await.expect("open");
            let (mut ws, _) = tokio_tungstenite::connect_async(request)
                .await
                .expect("the stream accepts the connection");
            // Until `ready`: from then on, events come as they happen.
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && text.contains("\"ready\"")
                {
                    break;
                }
            }
            drop(turn);
            connected.wait().await;
            let mut latencies = Vec::with_capacity(notifications);
            while latencies.len() < notifications {
                let Some(Ok(message)) = ws.next().await else {
                    panic!("the stream closed after {} events", latencies.len());
                };
                let Message::Text(text) = message else {
                    continue;
                };
                let received = chrono::Utc::now();
                let event: Value = serde_json::from_str(&text).expect("JSON");
                let occurred: chrono::DateTime<chrono::Utc> = event["occurred_at"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("occurred_at");
                latencies.push((received - occurred).to_std().unwrap_or(Duration::ZERO));
            }
            (latencies, Instant::now())
        }));
    }
    connected.wait().await;
    // Let the connections settle (buffers, the first pings) before weighing them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = stack.api_rss_kb();

    let start = Instant::now();
    let poster = stack.poster();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..notifications {
        tick.tick().await;
        poster
            .post(&crate::sms(first + i, &format!("stream {i}"), "medium"))
            .await;
    }
    let mut latencies = Vec::with_capacity(clients * notifications);
    let mut last = start;
    for task in tasks {
        let (mine, done) = task.await.expect("a client task");
        latencies.extend(mine);
        last = last.max(done);
    }
    latencies.sort();
    Figures {
        rss_kb_per_connection: (rss_after - rss_before) / clients as f64,
        deliveries_per_second: (clients * notifications) as f64
            / last.duration_since(start).as_secs_f64(),
        latencies,
    }
}
