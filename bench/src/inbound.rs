//! Scenario 9, inbound: what people send in, as WhatsApp Cloud webhooks signed like Meta's,
//! on the callback route of a server-wide account whose messages go to the bench's tenant
//! (`inbound_tenant`). First the accept latency at a fixed offered load (open loop, as in
//! scenario 2), then how many are stored per second when posted as fast as 32 connections
//! go (closed loop). A `200` means stored: the API answers once the message's row is
//! committed. 200 contacts write in turn, so conversations grow as they would.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use pombo_fakes::{accounts, whatsapp_cloud};
use serde_json::json;

use crate::stack::Stack;

/// The server-wide account the webhooks come through (`Stack::start` configures it).
pub const ACCOUNT: &str = "whatsapp-cloud";
const CONTACTS: usize = 200;

#[derive(Clone)]
struct Sender {
    http: reqwest::Client,
    url: String,
}

impl Sender {
    fn new(stack: &Stack) -> Sender {
        Sender {
            http: reqwest::Client::new(),
            url: format!("{}/v1/callbacks/whatsapp_cloud/{ACCOUNT}", stack.url),
        }
    }

    /// Posts the `i`-th person's message and insists on 200 (stored).
    async fn post(&self, i: usize) {
        let contact = format!("55119{:08}", i % CONTACTS);
        let callback = whatsapp_cloud::inbound_webhook(
            Some(accounts::WHATSAPP_APP_SECRET),
            accounts::WHATSAPP_PHONE_NUMBER_ID,
            (&contact, "Bench"),
            &format!("wamid.bench{i}"),
            chrono::Utc::now().timestamp(),
            ("text", json!({ "body": format!("mensagem {i}") })),
        );
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", &callback.content_type)
            .body(callback.body);
        for (name, value) in &callback.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        assert_eq!(
            status.as_u16(),
            200,
            "inbound {i}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// Accept latency of `rate` messages a second for `secs` seconds, sorted; messages
/// numbered from `first`.
pub async fn latencies(stack: &Stack, rate: usize, secs: usize, first: usize) -> Vec<Duration> {
    let sender = Sender::new(stack);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = Vec::with_capacity(rate * secs);
    for i in 0..rate * secs {
        tick.tick().await;
        let sender = sender.clone();
        in_flight.push(tokio::spawn(async move {
            let t = Instant::now();
            sender.post(first + i).await;
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(in_flight.len());
    for request in in_flight {
        latencies.push(request.await.expect("the request task ends"));
    }
    latencies.sort();
    latencies
}

/// Messages stored per second, `n` of them posted over 32 connections; numbered from
/// `first`.
pub async fn stored_per_second(stack: &Stack, n: usize, first: usize) -> f64 {
    let sender = Sender::new(stack);
    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let sender = &sender;
            async move { sender.post(first + i).await }
        })
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}
