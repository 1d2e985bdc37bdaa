//! Scenario 13: what a recipient's preferences cost a send. The same paced SMS, half to
//! bare numbers and half to profiles with preferences (a channel choice, quiet hours that
//! are not now, a daily cap) under tenant defaults and a 2,000-entry suppression list;
//! accept → sent for each half, and the evaluation itself (`decide`, the reads the
//! `prepare` activity adds) timed on the same rows in this process once the sends are
//! done, so that it is the evaluation's cost and not the rest of the machine's work.

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::stack::Stack;

pub struct Figures {
    /// Accept → sent, without and with preferences.
    pub plain: Vec<Duration>,
    pub preferred: Vec<Duration>,
    /// The evaluation alone, for a bare number and for a profile with preferences.
    pub decide_plain: Vec<Duration>,
    pub decide_preferred: Vec<Duration>,
}

/// A quiet window that does not hold now: from 6 to 7 hours ahead, in UTC.
fn quiet_later() -> Value {
    let at = |h: i64| {
        let t = Utc::now() + chrono::Duration::hours(h);
        format!("{:02}:{:02}", t.hour(), t.minute())
    };
    json!({"start": at(6), "end": at(7)})
}

pub async fn run(stack: &Stack, n: usize) -> anyhow::Result<Figures> {
    pombo_store::sealed::install(pombo_store::sealed::Keyring::from_config(
        &stack.config.encryption,
    )?);
    let poster = stack.poster();
    let (code, _) = poster
        .call(
            "PUT",
            "/v1/preferences",
            &json!({"categories": {"promo": {"quiet_hours": quiet_later()}}}),
        )
        .await;
    anyhow::ensure!(code == 200, "tenant defaults: {code}");
    stream::iter(0..2000)
        .for_each_concurrent(16, |i| {
            let poster = poster.clone();
            async move {
                let body = json!({"channel": "sms", "address": crate::phone(900_000 + i)});
                poster.call("POST", "/v1/suppressions", &body).await;
            }
        })
        .await;
    let profiles: Vec<String> = stream::iter(0..n)
        .map(|i| {
            let poster = poster.clone();
            async move {
                let (_, created) = poster
                    .call(
                        "POST",
                        "/v1/recipients",
                        &json!({"phone": crate::phone(800_000 + i), "time_zone": "America/Sao_Paulo"}),
                    )
                    .await;
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                poster
                    .call(
                        "PUT",
                        &format!("/v1/recipients/{id}/preferences"),
                        &json!({"channels": {"sms": {"enabled": true}},
                                "categories": {"promo": {"max_per_day": 100_000,
                                                         "quiet_hours": quiet_later()}}}),
                    )
                    .await;
                id
            }
        })
        .buffered(16)
        .collect()
        .await;

    // Paced, one of each in turn, so both halves meet the same load.
    let mut ids: Vec<(bool, Uuid)> = Vec::with_capacity(2 * n);
    let tick = Duration::from_millis(20);
    let start = Instant::now();
    for (i, profile) in profiles.iter().enumerate() {
        for preferred in [false, true] {
            let body = if preferred {
                json!({"channel": "sms", "recipient": {"id": profile}, "type": "promo",
                       "content": {"text": format!("pref {i}")}})
            } else {
                json!({"channel": "sms", "to": crate::phone(700_000 + i), "type": "promo",
                       "content": {"text": format!("plain {i}")}})
            };
            let accepted = poster.post_to("/v1/notifications", &body).await;
            if let Some(id) = accepted["id"].as_str().and_then(|s| s.parse().ok()) {
                ids.push((preferred, id));
            }
            let due = tick * ids.len() as u32;
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    let db = stack.db();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut figures = Figures {
        plain: Vec::new(),
        preferred: Vec::new(),
        decide_plain: Vec::new(),
        decide_preferred: Vec::new(),
    };
    let mut sent = Vec::with_capacity(ids.len());
    for (preferred, id) in &ids {
        let n = loop {
            let n = pombo_store::notifications::get(db, *id).await?;
            if n.sent_at.is_some() {
                break n;
            }
            anyhow::ensure!(Instant::now() < deadline, "{id} not sent: {}", *n.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let took = (n.sent_at.unwrap() - n.created_at)
            .to_std()
            .unwrap_or_default();
        if *preferred {
            figures.preferred.push(took);
        } else {
            figures.plain.push(took);
        }
        sent.push((*preferred, n));
    }
    // Once every send is done: the evaluation's own cost, not the machine's other work.
    for (preferred, n) in &sent {
        let timed = Instant::now();
        let decision = pombo_activities::preferences::decide(db, n, Utc::now(), false).await?;
        let decided = timed.elapsed();
        anyhow::ensure!(
            decision == pombo_contract::preferences::Decision::Send,
            "{}: {decision:?}",
            n.id
        );
        if *preferred {
            figures.decide_preferred.push(decided);
        } else {
            figures.decide_plain.push(decided);
        }
    }
    for list in [
        &mut figures.plain,
        &mut figures.preferred,
        &mut figures.decide_plain,
        &mut figures.decide_preferred,
    ] {
        list.sort();
    }
    Ok(figures)
}
