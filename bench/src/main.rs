//! `make bench`: Pombo measured against baselines run in the same process, on the same
//! Temporal server and the same provider fake. Prints a table for people and the README;
//! asserts nothing.
//!
//! Pombo runs as it is deployed: the release `pombo-api` and `pombo-worker` binaries in
//! their own processes (so their memory is their own), SQLite by default
//! (`POMBO_BENCH_DB=postgres` for PostgreSQL), SMS to the Twilio fake in this process.
//!
//! 1. notifications/s end to end vs bare one-activity workflows/s;
//! 2. accept latency at a fixed offered load (open loop);
//! 3. priority under backlog: many low, then a few high (and the same burst of bare
//!    workflows, the server's own floor);
//! 4. the same on RabbitMQ with `x-max-priority` and a plain consumer (the source
//!    document's design);
//! 5. bulk: recipients/s of one batch vs single notifications/s;
//! 6. fairness: one tenant's promotion blast, then another tenant's promotions of the
//!    same priority: how many of the blast go out before the second tenant's last one;
//! 7. peak RSS of the API and the worker.

mod analytics;
mod bare;
mod hub;
mod inbound;
mod otlp_sink;
mod preferences;
mod rabbit;
mod render;
mod server;
mod stack;
mod stream_clients;
mod webhooks;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use stack::Stack;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A distinct valid Brazilian mobile number per index.
pub fn phone(i: usize) -> String {
    format!("+55119{:08}", i % 100_000_000)
}

pub fn sms(i: usize, text: &str, priority: &str) -> Value {
    json!({"channel": "sms", "to": phone(i), "content": {"text": text}, "priority": priority})
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `p50 / p99` in ms of sorted durations, for the table.
fn p50_p99(sorted: &[Duration]) -> String {
    format!(
        "{:.0} / {:.0}",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99))
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What a priority scenario found, for Pombo and for RabbitMQ alike.
pub struct PriorityFigures {
    pub high_p50: Duration,
    pub high_p99: Duration,
    /// Low-priority sends that reached the provider after the first high one was enqueued
    /// and before the last high one was sent.
    pub low_before_last_high: usize,
    /// Of those, the ones that reached the provider after the first high one did: sends
    /// that began while the worker already had high ones. The others were on their way
    /// before any high one reached a worker.
    pub low_after_first_high: usize,
    /// Low-priority messages not yet sent when the last high one was: the backlog the
    /// high ones overtook.
    pub low_waiting_at_last_high: usize,
}

/// Time from enqueue to the provider's receipt of each high message, and the low sends
/// that slipped in between, from the provider fake's own receipt times.
pub fn priority_figures(
    enqueued: &[(String, DateTime<Utc>)],
    received: &[(String, DateTime<Utc>)],
    low_total: usize,
) -> PriorityFigures {
    overtaking_figures(enqueued, received, "low ", low_total)
}

/// Like [`priority_figures`], for any backlog: the messages whose text starts with
/// `backlog_prefix` (`backlog_total` of them) are the ones the enqueued ones should overtake.
pub fn overtaking_figures(
    enqueued: &[(String, DateTime<Utc>)],
    received: &[(String, DateTime<Utc>)],
    backlog_prefix: &str,
    low_total: usize,
) -> PriorityFigures {
    let first_enqueue = enqueued.iter().map(|(_, at)| *at).min().expect("high sent");
    let mut latencies = Vec::new();
    let mut last_high = first_enqueue;
    let mut first_high = None::<DateTime<Utc>>;
    for (marker, at) in enqueued {
        let got = received
            .iter()
            .find(|(m, _)| m == marker)
            .map(|(_, at)| *at)
            .expect("every high message was received");
        last_high = last_high.max(got);
        first_high = Some(first_high.map_or(got, |first| first.min(got)));
        latencies.push((got - *at).to_std().unwrap_or_default());
    }
    latencies.sort();
    let lows: Vec<_> = received
        .iter()
        .filter(|(m, _)| m.starts_with(backlog_prefix))
        .collect();
    let low_before_last_high = lows
        .iter()
        .filter(|(_, at)| *at > first_enqueue && *at < last_high)
        .count();
    let first_high = first_high.unwrap_or(first_enqueue);
    let low_after_first_high = lows
        .iter()
        .filter(|(_, at)| *at > first_high && *at < last_high)
        .count();
    let low_sent_by_last_high = lows.iter().filter(|(_, at)| *at <= last_high).count();
    PriorityFigures {
        high_p50: percentile(&latencies, 0.5),
        high_p99: percentile(&latencies, 0.99),
        low_before_last_high,
        low_after_first_high,
        low_waiting_at_last_high: low_total.saturating_sub(low_sent_by_last_high),
    }
}

/// CPU ms each process (API, worker, Temporal) spent per item since `before`.
fn cpu_per(stack: &Stack, before: [f64; 3], items: usize) -> [f64; 3] {
    let now = stack.cpu_secs();
    [0, 1, 2].map(|i| (now[i] - before[i]) * 1e3 / items as f64)
}

struct Row(String, String, String);

fn row(measure: &str, value: String, target: &str) -> Row {
    Row(measure.into(), value, target.into())
}

/// Posts `count` high-priority SMS at once (texts `{prefix} {i}`) and waits until the
/// provider has them all: when each was posted, how long each post took, and the stages.
async fn high_burst(
    stack: &Stack,
    prefix: &str,
    first: usize,
    count: usize,
) -> anyhow::Result<Burst> {
    let started = Utc::now();
    let posted: Vec<((String, DateTime<Utc>), Duration)> = stream::iter(0..count)
        .map(|i| async move {
            let marker = format!("{prefix} {i}");
            let at = Utc::now();
            let clock = Instant::now();
            stack.post(&sms(first + i, &marker, "high")).await;
            ((marker, at), clock.elapsed())
        })
        .buffer_unordered(count)
        .collect()
        .await;
    let prefix = format!("{prefix} ");
    stack
        .wait_received(|m| m.starts_with(&prefix), count, Duration::from_secs(600))
        .await?;
    let (enqueued, mut accept): (Vec<_>, Vec<_>) = posted.into_iter().unzip();
    accept.sort();
    let stages = stack.stages("high", started).await?;
    Ok(Burst {
        enqueued,
        accept,
        stages,
    })
}

struct Burst {
    enqueued: Vec<(String, DateTime<Utc>)>,
    /// Each post's response time, sorted.
    accept: Vec<Duration>,
    stages: stack::Stages,
}

impl Burst {
    /// Accept, start, render and send p50 / p99 (ms), for the table.
    fn stages(&self) -> String {
        format!(
            "{} · {} · {} · {}",
            p50_p99(&self.accept),
            p50_p99(&self.stages.started),
            p50_p99(&self.stages.rendered),
            p50_p99(&self.stages.sent)
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_or("POMBO_BENCH_N", 500);
    let rate = env_or("POMBO_BENCH_RATE", 200);
    let rate_secs = env_or("POMBO_BENCH_RATE_SECS", 10);
    let low = env_or("POMBO_BENCH_LOW", 5000);
    let high = env_or("POMBO_BENCH_HIGH", 100);
    let batch = env_or("POMBO_BENCH_BATCH", 10_000);
    let mut rows = Vec::new();

    let stack = Stack::start().await?;
    eprintln!("==> stack up: {} ({})", stack.url, stack.database);

    // 1. Throughput: bare workflows, Pombo, bare workflows again on the same server (the
    // in-memory dev server's own speed drifts between runs; two bare runs show by how much).
    stack.log_peak_rss();
    eprintln!("==> 1. {n} bare one-activity workflows");
    let bare_first = bare::workflows_per_second(&stack.config.temporal, n).await?;
    eprintln!("==> 1. {n} notifications end to end");
    let calls_before = server::settled_calls().await;
    let cpu_before = stack.cpu_secs();
    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let stack = &stack;
            async move {
                stack.post(&sms(i, &format!("e2e {i}"), "medium")).await;
            }
        })
        .await;
    stack.wait_sent(n, Duration::from_secs(1800)).await?;
    let pipeline = n as f64 / start.elapsed().as_secs_f64();
    let per_n = cpu_per(&stack, cpu_before, n);
    let calls_pombo = server::settled_calls().await;
    stack.log_peak_rss();
    eprintln!("==> 1. {n} bare one-activity workflows");
    let temporal_before = stack.cpu_secs()[2];
    let this_before = stack::cpu_secs(Some(std::process::id()));
    let bare_second = bare::workflows_per_second(&stack.config.temporal, n).await?;
    let bare = (bare_first + bare_second) / 2.0;
    let bare_temporal = (stack.cpu_secs()[2] - temporal_before) * 1e3 / n as f64;
    let bare_worker = (stack::cpu_secs(Some(std::process::id())) - this_before) * 1e3 / n as f64;
    let calls_bare = server::settled_calls().await;
    rows.push(row(
        "notifications/s (accept → SMS sent → recorded)",
        format!("{pipeline:.1}"),
        "",
    ));
    rows.push(row(
        "bare one-activity workflows/s, same server (before / after)",
        format!("{bare_first:.1} / {bare_second:.1}"),
        "",
    ));
    rows.push(row(
        "ratio notifications / bare (mean of both)",
        format!("{:.2}", pipeline / bare),
        "≥ 0.8",
    ));
    rows.push(row(
        "CPU ms per notification: API / worker / Temporal",
        format!("{:.1} / {:.1} / {:.1}", per_n[0], per_n[1], per_n[2]),
        "",
    ));
    rows.push(row(
        "CPU ms per bare workflow: worker+client / Temporal",
        format!("{bare_worker:.1} / {bare_temporal:.1}"),
        "",
    ));
    rows.push(row(
        "Temporal persistence calls per notification",
        server::busiest(&calls_before, &calls_pombo, n),
        "",
    ));
    rows.push(row(
        "Temporal persistence calls per bare workflow",
        server::busiest(&calls_pombo, &calls_bare, n),
        "",
    ));

    // POMBO_BENCH_ONLY=throughput,batch (say) runs those scenarios only; the first always runs.
    let only = std::env::var("POMBO_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    let total = rate * rate_secs;
    let base = n + total;

    // Not in the default run: an experiment kept so its finding can be checked again.
    if only.split(',').any(|s| s.trim() == "eager") {
        // Eager workflow start: the starter's own worker gets the first workflow task in the
        // start's response, with no trip through matching. Bare workflows, each mode twice
        // (normal, eager, normal, eager): the in-memory server's speed drifts.
        let bare = bare::BareWorker::start(&stack.config.temporal).await?;
        for local in [false, true] {
            for round in 0..2 {
                for eager in [false, true] {
                    let mode = bare::Mode { eager, local };
                    let before = stack.cpu_secs();
                    let per_second = bare.per_second(n, mode).await;
                    let cpu = cpu_per(&stack, before, n)[2];
                    let took = bare.burst(high, mode).await;
                    rows.push(row(
                        &format!(
                            "{} {} #{round}: wf/s; Temporal CPU ms; {high} at once p50 / p99 (ms)",
                            if local {
                                "local-activity"
                            } else {
                                "one-activity"
                            },
                            if eager { "eager" } else { "normal" },
                        ),
                        format!("{per_second:.1}; {cpu:.1}; {}", p50_p99(&took)),
                        "",
                    ));
                }
            }
        }
    }

    if wanted("latency") {
        // 2. Accept latency at a fixed offered load: requests leave on schedule whether or not
        // earlier ones have answered (open loop), so a slow answer cannot hide later ones.
        stack.log_peak_rss();
        eprintln!("==> 2. {rate} req/s for {rate_secs} s");
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let poster = stack.poster();
        let mut in_flight = Vec::with_capacity(total);
        let sent_before = stack.count_sent().await?;
        for i in 0..total {
            tick.tick().await;
            let body = sms(n + i, &format!("rate {i}"), "medium");
            let poster = poster.clone();
            // A task per request: it runs while this loop waits for the next tick.
            in_flight.push(tokio::spawn(async move {
                let t = Instant::now();
                poster.post(&body).await;
                t.elapsed()
            }));
        }
        let mut latencies = Vec::with_capacity(total);
        for request in in_flight {
            latencies.push(request.await?);
        }
        latencies.sort();
        stack
            .wait_sent(sent_before as usize + total, Duration::from_secs(1800))
            .await?;
        rows.push(row(
            &format!("accept latency p50 at {rate} req/s (ms)"),
            format!("{:.1}", ms(percentile(&latencies, 0.5))),
            "",
        ));
        rows.push(row(
            &format!("accept latency p99 at {rate} req/s (ms)"),
            format!("{:.1}", ms(percentile(&latencies, 0.99))),
            "≤ 15",
        ));
    }

    if wanted("inbound") {
        // 9. Inbound messages: accept latency at the same offered load as scenario 2, then
        // messages stored per second (see `inbound.rs`).
        stack.log_peak_rss();
        eprintln!("==> 9. inbound: {rate} messages/s for {rate_secs} s, then {n} at once");
        let latencies = inbound::latencies(&stack, rate, rate_secs, 0).await;
        rows.push(row(
            &format!("inbound accept latency p50 / p99 at {rate} messages/s (ms)"),
            format!(
                "{:.1} / {:.1}",
                ms(percentile(&latencies, 0.5)),
                ms(percentile(&latencies, 0.99))
            ),
            "p99 ≤ 20",
        ));
        let stored = inbound::stored_per_second(&stack, n, total).await;
        rows.push(row(
            "inbound messages stored/s (32 connections)",
            format!("{stored:.0}"),
            "≥ 1,000 (SQLite)",
        ));
    }

    if wanted("stream") {
        // 10. The live event stream: a thousand WebSocket clients of one tenant.
        let clients = env_or("POMBO_BENCH_STREAM_CLIENTS", 1000);
        let events = env_or("POMBO_BENCH_STREAM_EVENTS", 100);
        stack.log_peak_rss();
        eprintln!("==> 10. stream: {clients} WebSocket clients, {events} notifications at 50/s");
        let figures = stream_clients::run(&stack, clients, events, 90_000_000).await;
        rows.push(row(
            &format!("stream: event to each of {clients} clients p50 / p99 (ms)"),
            p50_p99(&figures.latencies),
            "p99 ≤ 100",
        ));
        rows.push(row(
            "stream: deliveries/s fanned out",
            format!("{:.0}", figures.deliveries_per_second),
            "",
        ));
        rows.push(row(
            "stream: API RSS per idle connection (KB)",
            format!("{:.1}", figures.rss_kb_per_connection),
            "≤ 20",
        ));
    }

    if wanted("webhooks") {
        // 11. Webhook deliveries to ten endpoints, against a bare reqwest loop.
        let paced = env_or("POMBO_BENCH_WEBHOOK_PACED", 100);
        let burst = env_or("POMBO_BENCH_WEBHOOK_EVENTS", 300);
        stack.log_peak_rss();
        eprintln!(
            "==> 11. webhooks: {paced} events at 20/s, then {burst} at once, to 10 endpoints"
        );
        let figures = webhooks::run(&stack, paced, burst).await?;
        if !stack.config.webhooks.first_attempt_in_worker {
            rows.push(row(
                "webhooks: every delivery a workflow from its first attempt",
                "yes".into(),
                "",
            ));
        }
        rows.push(row(
            "webhooks: event to first delivery p50 / p99 (ms)",
            p50_p99(&figures.first_delivery),
            "p99 ≤ 200",
        ));
        rows.push(row(
            "webhooks: deliveries/s, 10 endpoints · bare reqwest loop, same bodies",
            format!(
                "{:.0} · {:.0} (ratio {:.2})",
                figures.deliveries_per_second,
                figures.bare_per_second,
                figures.deliveries_per_second / figures.bare_per_second
            ),
            "ratio ≥ 0.5",
        ));
    }

    // Not in the default run (writing a million rows takes minutes): only when named.
    if only.split(',').any(|s| s.trim() == "analytics") {
        // 14. Analytics over a million notifications.
        let rows_n = env_or("POMBO_BENCH_ANALYTICS_ROWS", 1_000_000);
        let asks = env_or("POMBO_BENCH_ANALYTICS_ASKS", 20);
        eprintln!(
            "==> 14. analytics: {rows_n} notifications over 30 days, the daily breakdown asked {asks} times"
        );
        let figures = analytics::run(&stack, rows_n, asks).await?;
        rows.push(row(
            &format!("analytics: {} rows written in (s)", figures.rows),
            format!("{:.1}", figures.write.as_secs_f64()),
            "",
        ));
        rows.push(row(
            "analytics: the first ask, rolling 30 days up: ungrouped · by channel (ms)",
            format!(
                "{:.0} · {:.0}",
                ms(figures.first_ungrouped),
                ms(figures.first_by_channel)
            ),
            "once per tenant and grouping",
        ));
        for (what, took) in [
            ("ungrouped", &figures.ungrouped),
            ("by channel", &figures.by_channel),
        ] {
            let p99 = ms(percentile(took, 0.99));
            rows.push(row(
                &format!(
                    "analytics: 30 days by the day, {what}, 20 reports since the last ask: p50 / p99 (ms)"
                ),
                format!(
                    "{:.0} / {:.0} ({})",
                    ms(percentile(took, 0.5)),
                    p99,
                    if p99 <= 200.0 { "met" } else { "NOT met" }
                ),
                "p99 ≤ 200",
            ));
        }
    }

    if wanted("preferences") {
        // 13. Recipients' preferences: what evaluating them adds to a send.
        let each = env_or("POMBO_BENCH_PREFERENCES", n.min(300));
        stack.log_peak_rss();
        eprintln!(
            "==> 13. preferences: {each} SMS to bare numbers and {each} to profiles with preferences, paced"
        );
        let figures = preferences::run(&stack, each).await?;
        rows.push(row(
            "preferences: accept → sent p50 / p99 (ms) without · with",
            format!(
                "{} · {}",
                p50_p99(&figures.plain),
                p50_p99(&figures.preferred)
            ),
            "",
        ));
        let fine = |sorted: &[Duration]| {
            format!(
                "{:.2} / {:.2}",
                ms(percentile(sorted, 0.5)),
                ms(percentile(sorted, 0.99))
            )
        };
        let p99 = ms(percentile(&figures.decide_preferred, 0.99));
        rows.push(row(
            "preferences: evaluation p50 / p99 (ms), bare number · profile with preferences",
            format!(
                "{} · {} ({})",
                fine(&figures.decide_plain),
                fine(&figures.decide_preferred),
                if p99 <= 1.0 { "met" } else { "NOT met" }
            ),
            "p99 ≤ 1",
        ));
    }

    if wanted("hub") {
        // 12. The chat hub: a room of three platforms, then a backlog for one that was down.
        let paced = env_or("POMBO_BENCH_HUB_PACED", n.min(100));
        let burst = env_or("POMBO_BENCH_HUB_BURST", n);
        let backlog = env_or("POMBO_BENCH_HUB_BACKLOG", 1000);
        stack.log_peak_rss();
        eprintln!(
            "==> 12. hub: {paced} messages at 20/s, then {burst} at once, to a room of 3 platforms; \
             a {backlog}-message backlog drained"
        );
        let figures = hub::run(&stack, paced, burst, backlog).await?;
        rows.push(row(
            "hub: post → arrival at each of 2 other platforms p50 / p99 (ms)",
            p50_p99(&figures.paced_latency),
            "p99 ≤ 500",
        ));
        rows.push(row(
            "hub: messages/s to 2 platforms · bare reqwest loop per platform",
            format!(
                "{:.0} · {:.0} (ratio {:.2})",
                figures.burst_per_second,
                figures.bare_per_second,
                figures.burst_per_second / figures.bare_per_second
            ),
            "",
        ));
        rows.push(row(
            &format!(
                "hub: {} backlog drained/s after the ping; ping → first (ms)",
                figures.backlog
            ),
            format!(
                "{:.0}; {:.0}; {}",
                figures.drain_per_second,
                ms(figures.ping_to_first),
                if figures.drained_in_order {
                    "in order"
                } else {
                    "OUT OF ORDER"
                }
            ),
            "in order",
        ));
        eprintln!(
            "    hub: {} tries refused while the platform was down",
            figures.refused_tries
        );
    }

    if wanted("priority") {
        // 3. Priority under backlog.
        stack.log_peak_rss();
        eprintln!("==> 3. priority: {low} low, then {high} high");
        stack.fakes.state.inbox.clear();
        let sent_before = stack.count_sent().await? as usize;
        // What the server alone takes for such a burst: as many bare one-activity workflows,
        // started at once (from start to completion).
        let bare_burst = bare::BareWorker::start(&stack.config.temporal)
            .await?
            .burst(high, bare::Mode::default())
            .await;
        // The same burst of high ones on an idle system first: the time a burst takes anyway.
        let cpu_before = stack.cpu_secs();
        let idle_burst = high_burst(&stack, "idle-high", base + low, high).await?;
        let idle_cpu = cpu_per(&stack, cpu_before, high);
        let idle = overtaking_figures(&idle_burst.enqueued, &stack.received(), "none ", 0);
        stream::iter(0..low)
            .for_each_concurrent(64, |i| {
                let stack = &stack;
                async move {
                    stack.post(&sms(base + i, &format!("low {i}"), "low")).await;
                }
            })
            .await;
        // Every low one is in Temporal's queue (its workflow started) before the high ones come.
        stack.wait_dispatched(Duration::from_secs(600)).await?;
        // CPU per high one, all the processes spent while the burst went through: under the
        // backlog, what the low ones cost meanwhile is in it too.
        let cpu_before = stack.cpu_secs();
        let backlog_burst = high_burst(&stack, "high", base + low + high, high).await?;
        let backlog_cpu = cpu_per(&stack, cpu_before, high);
        let pombo = priority_figures(&backlog_burst.enqueued, &stack.received(), low);
        stack.log_peak_rss();
        eprintln!("==> 3. draining the low ones");
        stack
            .wait_sent(sent_before + low + 2 * high, Duration::from_secs(3600))
            .await?;

        // 4. The same on RabbitMQ.
        stack.log_peak_rss();
        eprintln!("==> 4. RabbitMQ priority queue: {low} low, then {high} high");
        let rabbit = rabbit::priority_scenario(&stack.fakes, low, high).await;

        let fmt_priority = |f: &PriorityFigures| {
            (
                format!("{:.0} / {:.0}", ms(f.high_p50), ms(f.high_p99)),
                format!(
                    "{} ({} after the first high; {} waiting)",
                    f.low_before_last_high, f.low_after_first_high, f.low_waiting_at_last_high
                ),
            )
        };
        let (p, l) = fmt_priority(&pombo);
        rows.push(row(
            &format!("Pombo: high time-to-send p50 / p99 (ms), {low} low queued"),
            p,
            "p99 ≤ 1000",
        ));
        rows.push(row(
            &format!("Pombo: the same {high} high on an idle system p50 / p99 (ms)"),
            format!("{:.0} / {:.0}", ms(idle.high_p50), ms(idle.high_p99)),
            "",
        ));
        rows.push(row(
            &format!("bare: {high} one-activity workflows at once p50 / p99 (ms)"),
            p50_p99(&bare_burst),
            "",
        ));
        rows.push(row(
            "CPU ms per high: API / worker / Temporal, idle (backlog)",
            format!(
                "{:.1} / {:.1} / {:.1} ({:.1} / {:.1} / {:.1})",
                idle_cpu[0],
                idle_cpu[1],
                idle_cpu[2],
                backlog_cpu[0],
                backlog_cpu[1],
                backlog_cpu[2]
            ),
            "",
        ));
        rows.push(row(
            "high stages p50/p99 (ms): accept · stored→started · stored→rendered · rendered→sent, idle (backlog)",
            format!("{} ({})", idle_burst.stages(), backlog_burst.stages()),
            "",
        ));
        rows.push(row("Pombo: low sent before the last high", l, "0"));
        match &rabbit {
            Ok(r) => {
                let (p, l) = fmt_priority(&r.figures);
                rows.push(row("RabbitMQ: high time-to-send p50 / p99 (ms)", p, ""));
                rows.push(row("RabbitMQ: low sent before the last high", l, ""));
                rows.push(row(
                    "RabbitMQ: messages/s (publish → consumer → provider)",
                    format!("{:.1}", r.per_second),
                    "",
                ));
            }
            Err(e) => rows.push(row("RabbitMQ", format!("skipped: {e:#}"), "")),
        }
    }

    if wanted("batch") {
        // 5. Bulk.
        stack.log_peak_rss();
        eprintln!("==> 5. one batch of {batch} recipients");
        let cpu_before = stack.cpu_secs();
        let batched = stack.batch(batch, base + low + high).await;
        let per_recipient = cpu_per(&stack, cpu_before, batch);
        match batched {
            Ok(Some(per_second)) => {
                rows.push(row(
                    "CPU ms per batch recipient: API / worker / Temporal",
                    format!(
                        "{:.2} / {:.2} / {:.2}",
                        per_recipient[0], per_recipient[1], per_recipient[2]
                    ),
                    "",
                ));
                rows.push(row(
                    &format!("batch recipients/s ({batch} recipients)"),
                    format!("{per_second:.1}"),
                    "",
                ));
                rows.push(row(
                    "ratio batch recipients / single notifications",
                    format!("{:.1}", per_second / pipeline),
                    "≥ 20",
                ));
            }
            Ok(None) => rows.push(row("batch", "not available".into(), "")),
            Err(e) => rows.push(row("batch", format!("failed: {e:#}"), "")),
        }
    }

    if wanted("fairness") {
        // 6. Fairness between tenants, within one priority.
        let fair_a = env_or("POMBO_BENCH_FAIR", 2000);
        let fair_b = env_or("POMBO_BENCH_FAIR_OTHER", 50);
        stack.log_peak_rss();
        eprintln!("==> 6. fairness: tenant A {fair_a} low, then tenant B {fair_b} low");
        stack.fakes.state.inbox.clear();
        let base = base + low + 2 * high + batch;
        stream::iter(0..fair_a)
            .for_each_concurrent(64, |i| {
                let stack = &stack;
                async move {
                    stack
                        .post(&sms(base + i, &format!("tenant-a {i}"), "low"))
                        .await;
                }
            })
            .await;
        stack.wait_dispatched(Duration::from_secs(600)).await?;
        let other = stack.second_tenant().await?;
        let enqueued: Vec<(String, DateTime<Utc>)> = stream::iter(0..fair_b)
            .map(|i| {
                let other = other.clone();
                async move {
                    let marker = format!("tenant-b {i}");
                    let at = Utc::now();
                    other.post(&sms(base + fair_a + i, &marker, "low")).await;
                    (marker, at)
                }
            })
            .buffer_unordered(fair_b)
            .collect()
            .await;
        stack
            .wait_received(
                |m| m.starts_with("tenant-b "),
                fair_b,
                Duration::from_secs(1800),
            )
            .await?;
        let fair = overtaking_figures(&enqueued, &stack.received(), "tenant-a ", fair_a);
        rows.push(row(
            &format!("tenant B time-to-send p50 / p99 (ms), A's {fair_a} queued"),
            format!("{:.0} / {:.0}", ms(fair.high_p50), ms(fair.high_p99)),
            "",
        ));
        rows.push(row(
            "tenant A sent before B's last (first in, first out: all)",
            format!(
                "{} (of {} waiting)",
                fair.low_before_last_high,
                fair.low_before_last_high + fair.low_waiting_at_last_high
            ),
            "few",
        ));
    }

    if wanted("render") {
        // 7. Rendering in children (memory-limited) against in process, same message.
        let renders = env_or("POMBO_BENCH_RENDERS", 5000);
        eprintln!("==> 7. {renders} renders in process, then in render children");
        match render::measure(renders).await {
            Ok(f) => {
                rows.push(row(
                    "render µs, one at a time: in process / children",
                    format!("{:.0} / {:.0}", f.sequential_us.0, f.sequential_us.1),
                    "",
                ));
                rows.push(row(
                    "renders/s, 32 at once: in process / children",
                    format!("{:.0} / {:.0}", f.concurrent_per_s.0, f.concurrent_per_s.1),
                    "",
                ));
                rows.push(row(
                    "ratio children / in process, 32 at once",
                    format!("{:.2}", f.concurrent_per_s.1 / f.concurrent_per_s.0),
                    "",
                ));
                rows.push(row(
                    "render children: count, peak RSS together (MB)",
                    format!("{} · {:.1}", f.children_rss_mb.1, f.children_rss_mb.0),
                    "",
                ));
            }
            Err(e) => rows.push(row("render", format!("failed: {e:#}"), "")),
        }
    }

    // 8. Memory.
    let (api_rss, worker_rss) = stack.peak_rss_mb();
    rows.push(row("API peak RSS (MB)", format!("{api_rss:.1}"), "≤ 80"));
    rows.push(row(
        "worker peak RSS (MB)",
        format!("{worker_rss:.1}"),
        "≤ 150",
    ));
    if let Some(sink) = &stack.traces {
        // Give the batches in flight their last flush (OTEL_BSP_SCHEDULE_DELAY, 5 s).
        tokio::time::sleep(Duration::from_secs(6)).await;
        let (exports, bytes) = sink.received();
        rows.push(row(
            "traces on: OTLP exports received (KB)",
            format!("{exports} ({})", bytes / 1024),
            "",
        ));
    }

    print_table(&stack, &rows, n, low, high, batch);
    stack.close().await
}

fn print_table(stack: &Stack, rows: &[Row], n: usize, low: usize, high: usize, batch: usize) {
    println!(
        "\nPombo benchmark — database {}, N = {n}, {low} low + {high} high, batch {batch}",
        stack.database
    );
    println!("{:<62} {:>22} {:>12}", "measure", "value", "target");
    for Row(m, v, t) in rows {
        println!("{m:<62} {v:>22} {t:>12}");
    }
}
