//! Scenario 12, hub: the chat hub forwarding what one platform posts to the others, each
//! platform played by the fakes' chat app (`/chat/<name>/api/`, every request recorded with
//! its time). Three phases, each on its own platforms:
//!
//! 1. **Paced**: a room of three platforms A, B, C; A posts a message every 50 ms (20/s);
//!    the time from just before each `POST /hub/message` to its arrival at B and at C (the
//!    fakes' receipt time, same clock), p50 / p99 over both.
//! 2. **Burst**: A posts many messages at once (16 in flight); messages per second from the
//!    first post to the last forward's arrival at B and C. The baseline, in the same run,
//!    is what the hub's forwarders do reduced to its HTTP: a bare reqwest loop per target
//!    platform POSTing the bodies that platform received, one at a time in the order it
//!    received them (the hub forwards to one platform in order, platforms side by side), to
//!    the same fake route.
//! 3. **Backlog drain**: a room of A and B, B down while A posts the backlog (one message at
//!    a time, so the order stored is the order of their texts), then B back and saying so
//!    (`POST /hub/ping` with its token, which wakes its forwarder out of its backoff):
//!    messages per second from the ping to the last one's arrival at B, and whether they
//!    arrived in order.
//!
//! How B is down: 503 faults queued for the chat fakes (`Fakes::fail_next`; they apply to
//! every chat platform, and only B's forwarder has anything to send in that phase; the
//! worker's scheduled ping may take a few too). More are queued than can be used, and B
//! comes back when the bench takes the rest off the queue (`Faults::take` until empty),
//! just before the ping: no second server, no change to the outbound rule. Because the
//! fakes record a request before answering it with a fault, B's refused tries are in its
//! record too; they are all of the first message (the forwarder stops at the first failure
//! and tries it again), so a message's arrival is its last record, and the order check
//! drops repeats in a row. The ping comes after B's third refused try (its backoff is then
//! 4 s, so the drain is the ping's doing, not a retry that was due), once the API shows B
//! `down` with the whole backlog waiting.
//!
//! At the end the bench removes its platforms, which ends their forwarders: long-lived
//! workflows that would otherwise outlive the run on a shared Temporal server.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use pombo_contract::hub::forward_workflow_id;
use pombo_fakes::{Fault, Recorded};
use serde_json::{Value, json};

use crate::stack::Stack;

/// Posts in flight during the burst.
const BURST_CONCURRENCY: usize = 16;
/// Time between two paced posts (20 messages/s).
const PACE: Duration = Duration::from_millis(50);
/// 503s queued for the chat fakes while B is down: far more than its forwarder (backing
/// off up to a minute) and the scheduled pings can use, so B stays down until the bench
/// takes the rest away.
const FAULTS_WHILE_DOWN: usize = 20_000;
/// Refused tries of B's forwarder before B comes back: after the third its backoff is 4 s,
/// several times what a wake takes, so the drain starts with the ping, not with a retry
/// that happened to be due.
const REFUSED_TRIES: usize = 3;
/// The longest any phase may take to arrive.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(1800);

pub struct Figures {
    /// Post → arrival at each of the two other platforms, sorted.
    pub paced_latency: Vec<Duration>,
    pub burst_per_second: f64,
    pub bare_per_second: f64,
    pub backlog: usize,
    /// Ping → the backlog's last message at B.
    pub drain_per_second: f64,
    /// Ping → the backlog's first message at B.
    pub ping_to_first: Duration,
    pub drained_in_order: bool,
    /// B's forwarder's tries refused while it was down.
    pub refused_tries: usize,
}

/// A registered platform.
#[derive(Clone)]
struct Platform {
    name: String,
    id: uuid::Uuid,
    token: String,
}

/// The `/hub/` protocol as a platform speaks it: its token in the body, no API key.
#[derive(Clone)]
struct HubClient {
    http: reqwest::Client,
    url: String,
}

impl HubClient {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status == 200, "{path}: {status} {answer}");
        Ok(answer)
    }

    async fn message(&self, from: &Platform, room_id: i64, text: &str) -> anyhow::Result<()> {
        self.post(
            "/hub/message",
            &json!({
                "roomOriginalPlatform": from.name,
                "roomId": room_id,
                "senderId": 1,
                "text": text,
                "token": from.token,
            }),
        )
        .await
        .map(drop)
    }
}

/// Registers a platform played by the fakes' chat app under `name`.
async fn register(stack: &Stack, name: &str) -> anyhow::Result<Platform> {
    let (code, body) = stack
        .poster()
        .call(
            "POST",
            "/v1/hub/platforms",
            &json!({
                "name": name,
                "endpoint": format!("http://{}/chat/{name}/api/", stack.fakes.addr),
                "capabilities": [],
            }),
        )
        .await;
    anyhow::ensure!(code == 201, "registering {name}: {code} {body}");
    let field = |f: &str| body[f].as_str().map(str::to_owned);
    Ok(Platform {
        name: name.to_owned(),
        id: field("id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no id in {body}"))?,
        token: field("token").ok_or_else(|| anyhow::anyhow!("no token in {body}"))?,
    })
}

/// A room created by `members[0]` with one user of each member platform; waits until
/// every other member has received it, so what follows measures messages alone.
async fn open_room(
    stack: &Stack,
    hub: &HubClient,
    room_id: i64,
    members: &[&Platform],
) -> anyhow::Result<()> {
    let users: Vec<Value> = members
        .iter()
        .enumerate()
        .map(|(i, p)| json!({ p.name.as_str(): [i + 1] }))
        .collect();
    hub.post(
        "/hub/room",
        &json!({
            "id": room_id,
            "name": format!("bench room {room_id}"),
            "token": members[0].token,
            "type": "public",
            "users": users,
        }),
    )
    .await?;
    let others: Vec<String> = members[1..]
        .iter()
        .map(|p| format!("/{}/api/room", p.name))
        .collect();
    wait_for(stack, "the room", Duration::from_secs(120), |records| {
        others
            .iter()
            .all(|route| records.iter().any(|r| r.path.ends_with(route.as_str())))
    })
    .await
    .map(drop)
}

/// Until `platform`'s forwarder has tried the backlog's first message and been refused
/// [`REFUSED_TRIES`] times (the fakes record a refused request too); then checks
/// that the hub shows it down with all of `backlog` waiting. The status alone would not
/// do: the worker's scheduled ping can mark it down before its forwarder has tried.
async fn wait_until_refused(
    stack: &Stack,
    platform: &Platform,
    backlog: usize,
) -> anyhow::Result<()> {
    wait_for(
        stack,
        "refused tries",
        Duration::from_secs(120),
        |records| messages_at(records, platform, "backlog ").len() >= REFUSED_TRIES,
    )
    .await?;
    let (code, view) = stack
        .poster()
        .call(
            "GET",
            &format!("/v1/hub/platforms/{}", platform.id),
            &Value::Null,
        )
        .await;
    anyhow::ensure!(code == 200, "reading {}: {code} {view}", platform.name);
    anyhow::ensure!(
        view["status"] == "down" && view["backlog"] == backlog,
        "{} should be down with {backlog} waiting: {view}",
        platform.name
    );
    Ok(())
}

/// Removes the bench's platforms, which ends their forwarders (long-lived workflows that
/// would otherwise outlive the bench on a shared Temporal server), and waits for them to
/// end while the worker is still up. Best effort: a failure here is reported, not fatal.
async fn remove_platforms(stack: &Stack, platforms: &[&Platform]) {
    use temporalio_client::{UntypedWorkflow, WorkflowGetResultOptions};
    let client = match pombo_worker::connect_temporal(&stack.config.temporal).await {
        Ok(client) => client,
        Err(e) => {
            eprintln!("    hub: forwarders left running (no Temporal client: {e:#})");
            return;
        }
    };
    for platform in platforms {
        let (code, body) = stack
            .poster()
            .call(
                "DELETE",
                &format!("/v1/hub/platforms/{}", platform.id),
                &Value::Null,
            )
            .await;
        if code != 204 {
            eprintln!("    hub: removing {}: {code} {body}", platform.name);
        }
    }
    // A platform that never had a forwarder gets one from its removal's wake, which ends
    // at once: until it exists, asking for its result fails, so ask again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for platform in platforms {
        let handle =
            client.get_workflow_handle::<UntypedWorkflow>(forward_workflow_id(platform.id));
        let ended = loop {
            let result = tokio::time::timeout_at(
                deadline,
                handle.get_result(WorkflowGetResultOptions::default()),
            )
            .await;
            match result {
                Ok(Ok(_)) => break true,
                Ok(Err(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                _ => break false,
            }
        };
        if !ended {
            eprintln!("    hub: the forwarder of {} may still run", platform.name);
        }
    }
}

fn chat_records(stack: &Stack) -> Vec<Recorded> {
    stack.fakes.state.inbox.of("chat")
}

/// Polls the chat fakes' record until `done` holds; the record then.
async fn wait_for(
    stack: &Stack,
    what: &str,
    limit: Duration,
    done: impl Fn(&[Recorded]) -> bool,
) -> anyhow::Result<Vec<Recorded>> {
    let start = Instant::now();
    loop {
        let records = chat_records(stack);
        if done(&records) {
            return Ok(records);
        }
        anyhow::ensure!(
            start.elapsed() < limit,
            "hub: {what} had not arrived after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The messages `platform` received whose text starts with `prefix`, in the order received:
/// (text, when, the request).
fn messages_at<'a>(
    records: &'a [Recorded],
    platform: &Platform,
    prefix: &str,
) -> Vec<(String, DateTime<Utc>, &'a Recorded)> {
    let route = format!("/{}/api/message", platform.name);
    records
        .iter()
        .filter(|r| r.path.ends_with(&route))
        .filter_map(|r| {
            let text = r.json()["text"].as_str()?.to_owned();
            text.starts_with(prefix).then_some((text, r.at, r))
        })
        .collect()
}

/// When each text last arrived at `platform`: its delivery, after any refused tries.
fn arrivals(
    records: &[Recorded],
    platform: &Platform,
    prefix: &str,
) -> HashMap<String, DateTime<Utc>> {
    messages_at(records, platform, prefix)
        .into_iter()
        .map(|(text, at, _)| (text, at))
        .collect()
}

/// Whether each of `texts` has arrived at every one of `targets`.
fn all_arrived(records: &[Recorded], targets: &[&Platform], prefix: &str, texts: usize) -> bool {
    targets
        .iter()
        .all(|p| arrivals(records, p, prefix).len() >= texts)
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.to_std().unwrap_or_default().as_secs_f64()
}

pub async fn run(
    stack: &Stack,
    paced: usize,
    burst: usize,
    backlog: usize,
) -> anyhow::Result<Figures> {
    let hub = HubClient {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()?,
        url: stack.url.clone(),
    };
    // Only the chat fakes' record is read from here on; a short one is cheaper to poll.
    stack.fakes.state.inbox.clear();

    // 1. Paced, all three up.
    let (a, b, c) = (
        register(stack, "bench-a").await?,
        register(stack, "bench-b").await?,
        register(stack, "bench-c").await?,
    );
    open_room(stack, &hub, 1, &[&a, &b, &c]).await?;
    let mut tick = tokio::time::interval(PACE);
    let mut posts = Vec::with_capacity(paced);
    for i in 0..paced {
        tick.tick().await;
        let (hub, a) = (hub.clone(), a.clone());
        // A task per post, so a slow answer does not delay the next one (open loop).
        posts.push(tokio::spawn(async move {
            let text = format!("paced {i}");
            let at = Utc::now();
            hub.message(&a, 1, &text).await.map(|()| (text, at))
        }));
    }
    let mut posted = Vec::with_capacity(paced);
    for post in posts {
        posted.push(post.await??);
    }
    let records = wait_for(stack, "the paced messages", ARRIVAL_LIMIT, |r| {
        all_arrived(r, &[&b, &c], "paced ", paced)
    })
    .await?;
    let mut paced_latency = Vec::with_capacity(2 * paced);
    for target in [&b, &c] {
        let arrived = arrivals(&records, target, "paced ");
        for (text, at) in &posted {
            paced_latency.push((arrived[text] - *at).to_std().unwrap_or_default());
        }
    }
    paced_latency.sort();

    // 2. Burst, to the same room: messages/s until the last forward arrived at B and C.
    stack.fakes.state.inbox.clear();
    let first_post = Utc::now();
    let results: Vec<anyhow::Result<()>> = stream::iter(0..burst)
        .map(|i| {
            let (hub, a) = (&hub, &a);
            async move { hub.message(a, 1, &format!("burst {i}")).await }
        })
        .buffer_unordered(BURST_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    eprintln!(
        "    hub: {burst} messages accepted in {:.2} s",
        seconds(Utc::now() - first_post)
    );
    let records = wait_for(stack, "the burst", ARRIVAL_LIMIT, |r| {
        all_arrived(r, &[&b, &c], "burst ", burst)
    })
    .await?;
    let last_arrival = [&b, &c]
        .iter()
        .flat_map(|p| arrivals(&records, p, "burst ").into_values())
        .max()
        .expect("the burst arrived");
    let burst_per_second = burst as f64 / seconds(last_arrival - first_post);

    // The baseline: each platform's bodies, as received, POSTed again one at a time in
    // order, both platforms side by side.
    let per_platform: Vec<(String, Vec<(String, String)>)> = [&b, &c]
        .iter()
        .map(|p| {
            let url = format!("http://{}/chat/{}/api/message", stack.fakes.addr, p.name);
            let bodies = messages_at(&records, p, "burst ")
                .into_iter()
                .map(|(_, _, r)| {
                    let key = r.header("idempotency-key").unwrap_or("x").to_owned();
                    (key, r.body.clone())
                })
                .collect();
            (url, bodies)
        })
        .collect();
    stack.fakes.state.inbox.clear();
    let bare = reqwest::Client::new();
    let start = Instant::now();
    let loops = per_platform.iter().map(|(url, bodies)| {
        let bare = &bare;
        async move {
            for (key, body) in bodies {
                let response = bare
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", key)
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{}", response.status());
            }
            anyhow::Ok(())
        }
    });
    for result in futures::future::join_all(loops).await {
        result?;
    }
    let bare_per_second = burst as f64 / start.elapsed().as_secs_f64();

    // 3. Backlog drain: B down while A posts, then back.
    stack.fakes.state.inbox.clear();
    let (drain_a, drain_b) = (
        register(stack, "drain-a").await?,
        register(stack, "drain-b").await?,
    );
    open_room(stack, &hub, 2, &[&drain_a, &drain_b]).await?;
    stack
        .fakes
        .fail_next("chat", FAULTS_WHILE_DOWN, Fault::status(503));
    let posting = Instant::now();
    for i in 0..backlog {
        hub.message(&drain_a, 2, &format!("backlog {i}")).await?;
    }
    eprintln!(
        "    hub: {backlog} messages posted one at a time in {:.1} s while {} was down",
        posting.elapsed().as_secs_f64(),
        drain_b.name
    );
    wait_until_refused(stack, &drain_b, backlog).await?;
    let mut faults_left = 0;
    while stack.fakes.state.faults.take("chat").is_some() {
        faults_left += 1;
    }
    anyhow::ensure!(faults_left > 0, "the faults ran out before B's ping");
    let ping = Utc::now();
    hub.post("/hub/ping", &json!({"token": drain_b.token}))
        .await?;
    let records = wait_for(stack, "the backlog", ARRIVAL_LIMIT, |r| {
        all_arrived(r, &[&drain_b], "backlog ", backlog)
    })
    .await?;
    let received = messages_at(&records, &drain_b, "backlog ");
    let refused_tries = received.len().saturating_sub(backlog);
    let arrived = arrivals(&records, &drain_b, "backlog ");
    let last = arrived
        .values()
        .max()
        .copied()
        .expect("the backlog arrived");
    let first = arrived["backlog 0"];
    let mut order: Vec<&str> = received.iter().map(|(t, _, _)| t.as_str()).collect();
    order.dedup();
    let drained_in_order = order
        .iter()
        .enumerate()
        .all(|(i, t)| *t == format!("backlog {i}"))
        && order.len() == backlog;
    remove_platforms(stack, &[&a, &b, &c, &drain_a, &drain_b]).await;
    Ok(Figures {
        paced_latency,
        burst_per_second,
        bare_per_second,
        backlog,
        drain_per_second: backlog as f64 / seconds(last - ping),
        ping_to_first: (first - ping).to_std().unwrap_or_default(),
        drained_in_order,
        refused_tries,
    })
}
