//! The source document's design as a baseline: a durable RabbitMQ queue with
//! `x-max-priority`, persistent messages, and a plain consumer that sends each message to
//! the same Twilio fake Pombo uses, then acknowledges it. What it lacks (and Pombo has):
//! per-message retries with backoff, failover, a status record, an operator view of what
//! failed and a redrive — a hand-rolled version of those is the comparison's hidden cost.

use std::time::{Duration, Instant};

use amqprs::{
    BasicProperties, DELIVERY_MODE_PERSISTENT, FieldTable, FieldValue,
    channel::{
        BasicAckArguments, BasicConsumeArguments, BasicPublishArguments, BasicQosArguments,
        QueueDeclareArguments, QueueDeleteArguments,
    },
    connection::{Connection, OpenConnectionArguments},
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use pombo_fakes::Fakes;
use pombo_providers::ProviderSettings;

use crate::{PriorityFigures, priority_figures};

pub struct RabbitFigures {
    pub figures: PriorityFigures,
    /// Messages/s from the first publish to the last send.
    pub per_second: f64,
}

/// Messages a consumer holds unacknowledged at once: comparable to a worker's concurrent
/// activity slots, and the reason priority cannot reorder what is already prefetched.
const PREFETCH: u16 = 16;

pub async fn priority_scenario(
    fakes: &Fakes,
    low: usize,
    high: usize,
) -> anyhow::Result<RabbitFigures> {
    let url = std::env::var("POMBO_BENCH_AMQP").unwrap_or_else(|_| "127.0.0.1:5672".into());
    let (host, port) = url
        .split_once(':')
        .context("POMBO_BENCH_AMQP is host:port")?;
    let connection = Connection::open(&OpenConnectionArguments::new(
        host,
        port.parse()?,
        "guest",
        "guest",
    ))
    .await
    .with_context(|| format!("connecting to RabbitMQ at {url}"))?;
    let queue = format!("pombo-bench-{}", uuid::Uuid::new_v4().simple());
    let mut arguments = FieldTable::new();
    arguments.insert(
        "x-max-priority"
            .try_into()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        FieldValue::u(10),
    );
    let publisher = connection.open_channel(None).await?;
    publisher
        .queue_declare(
            QueueDeclareArguments::durable_client_named(&queue)
                .arguments(arguments)
                .finish(),
        )
        .await?;

    // The consumer: the same HTTP request Pombo's Twilio provider makes.
    let account = serde_json::from_value(pombo_fakes::accounts::twilio(&fakes.base_url("twilio")))?;
    let ProviderSettings::Twilio(twilio) = account else {
        unreachable!("twilio() builds Twilio settings")
    };
    let consumer = connection.open_channel(None).await?;
    consumer
        .basic_qos(BasicQosArguments::new(0, PREFETCH, false))
        .await?;
    let (_, mut deliveries) = consumer
        .basic_consume_rx(
            BasicConsumeArguments::new(&queue, "pombo-bench")
                .manual_ack(true)
                .finish(),
        )
        .await?;
    let http = reqwest::Client::new();
    let endpoint = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        twilio.base_url, twilio.account_sid
    );
    let total = low + high;
    let consuming = tokio::spawn(async move {
        let mut done = 0;
        // Sends run concurrently up to the prefetch, like a worker's slots.
        let mut sends = futures::stream::FuturesUnordered::new();
        use futures::StreamExt;
        while done < total {
            tokio::select! {
                Some(message) = deliveries.recv(), if sends.len() < PREFETCH as usize => {
                    let tag = message.deliver.as_ref().map(|d| d.delivery_tag()).unwrap_or(0);
                    let body = String::from_utf8(message.content.unwrap_or_default()).unwrap_or_default();
                    let (to, text) = body.split_once('|').unwrap_or(("", ""));
                    let request = http
                        .post(&endpoint)
                        .basic_auth(&twilio.account_sid, Some(twilio.auth_token.expose()))
                        .form(&[("To", to), ("From", twilio.from.as_deref().unwrap_or("")), ("Body", text)])
                        .send();
                    sends.push(async move { (tag, request.await.map(|r| r.status().is_success())) });
                }
                Some((tag, _)) = sends.next() => {
                    // Acknowledged after the provider answered: at-least-once, as a
                    // dead-letter-queue design needs.
                    consumer.basic_ack(BasicAckArguments::new(tag, false)).await.ok();
                    done += 1;
                }
                else => break,
            }
        }
        consumer
    });

    let publish = |text: String, to: String, priority: u8| {
        let publisher = &publisher;
        let queue = &queue;
        async move {
            publisher
                .basic_publish(
                    BasicProperties::default()
                        .with_delivery_mode(DELIVERY_MODE_PERSISTENT)
                        .with_priority(priority)
                        .finish(),
                    format!("{to}|{text}").into_bytes(),
                    BasicPublishArguments::new("", queue),
                )
                .await
        }
    };
    fakes.state.inbox.clear();
    let start = Instant::now();
    for i in 0..low {
        publish(format!("low {i}"), crate::phone(i), 1).await?;
    }
    let mut enqueued: Vec<(String, DateTime<Utc>)> = Vec::with_capacity(high);
    for i in 0..high {
        let marker = format!("high {i}");
        enqueued.push((marker.clone(), Utc::now()));
        publish(marker, crate::phone(low + i), 9).await?;
    }
    let consumer = tokio::time::timeout(Duration::from_secs(1800), consuming)
        .await
        .context("RabbitMQ consumer did not finish")??;
    let per_second = total as f64 / start.elapsed().as_secs_f64();
    let received: Vec<_> = fakes
        .requests("twilio")
        .into_iter()
        .filter_map(|r| Some((r.form_value("Body")?, r.at)))
        .collect();
    let figures = priority_figures(&enqueued, &received, low);
    publisher
        .queue_delete(QueueDeleteArguments::new(&queue))
        .await
        .ok();
    drop(consumer);
    connection.close().await.ok();
    Ok(RabbitFigures {
        figures,
        per_second,
    })
}
