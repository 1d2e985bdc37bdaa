//! The webhook activity (`pombo_contract::webhooks`): one attempt of one delivery.
//!
//! The endpoint's URL is a tenant's: the POST goes through the guarded client (the
//! outbound rule at connect time, no redirects, no proxy), bounded by
//! `webhooks.attempt_timeout_secs`. Success is a 2xx and nothing else. What the receiver
//! answered is kept as its first KiB, for the tenant to read; it is never sent anywhere.

pub mod recorder;
pub mod sign;

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use pombo_contract::{
    config::WebhooksConfig,
    outbound::OutboundPolicy,
    webhooks::{self as defs, AttemptInput, AttemptOutcome},
};
use pombo_store::{
    Db,
    webhooks::{
        deliveries::{self, AttemptRecord, Delivery},
        endpoints::{self, EndpointRow, Gate, HealthRules},
    },
};
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The most of an answer kept.
const EXCERPT_BYTES: usize = 1024;

#[derive(Clone)]
pub struct WebhookActivities {
    db: Db,
    http: reqwest::Client,
    config: WebhooksConfig,
    recorder: recorder::Recorder,
    /// Slots for POSTs ([`defs::MOST_POSTS_AT_ONCE`]): held for the request alone, not while
    /// its record commits, so the next POSTs go out while the recorder writes.
    posts: Arc<tokio::sync::Semaphore>,
}

impl WebhookActivities {
    pub fn new(
        db: Db,
        policy: &Arc<OutboundPolicy>,
        config: &WebhooksConfig,
    ) -> Result<Self, reqwest::Error> {
        let timeout = std::time::Duration::from_secs(config.attempt_timeout_secs);
        let http = pombo_providers::outbound::guarded_builder(policy)
            .timeout(timeout)
            .connect_timeout(timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(concat!("pombo-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let rules = HealthRules {
            failures_before_pause: config.failures_before_pause,
            pause: secs(config.pause_secs),
            disable_after: secs(config.disable_after_secs),
        };
        Ok(WebhookActivities {
            recorder: recorder::Recorder::new(db.clone(), rules),
            db,
            http,
            config: config.clone(),
            posts: Arc::new(tokio::sync::Semaphore::new(defs::MOST_POSTS_AT_ONCE)),
        })
    }
}

fn secs(n: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

fn internal(message: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(message)
            .type_name("WebhookAttemptError".to_owned())
            .build(),
    )
}

/// What the POST came to.
struct Answer {
    status: Option<u16>,
    retry_after_secs: Option<u64>,
    excerpt: Option<String>,
    error: Option<String>,
}

/// A `Retry-After` in seconds (the HTTP-date form is not worth a receiver's trouble: it is
/// read as absent).
fn retry_after(response: &reqwest::Response) -> Option<u64> {
    let status = response.status().as_u16();
    if status != 429 && status != 503 {
        return None;
    }
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(EXCERPT_BYTES);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

/// Why a request got no answer, without the URL (the tenant knows it; logs need not).
fn failure(e: reqwest::Error) -> String {
    if let Some(refused) = pombo_providers::outbound::refusal(&e) {
        return format!("refused by the outbound rule: {refused}");
    }
    if e.is_timeout() {
        "no answer within webhooks.attempt_timeout_secs".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.without_url().to_string()
    }
}

#[activities]
impl WebhookActivities {
    #[activity(definition = defs::Attempt)]
    pub async fn attempt(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AttemptInput,
    ) -> Result<AttemptOutcome, ActivityError> {
        self.attempt_once(input).await
    }
}

impl WebhookActivities {
    /// One attempt, as the activity makes it.
    pub async fn attempt_once(&self, input: AttemptInput) -> Result<AttemptOutcome, ActivityError> {
        let Some((delivery, endpoint)) =
            deliveries::with_endpoint(&self.db, input.delivery_id).await?
        else {
            return Ok(AttemptOutcome::Abandoned {
                reason: "the endpoint was deleted".into(),
            });
        };
        self.attempt_of(delivery, endpoint, input).await
    }

    /// A delivery's first attempt, made by a worker's starter before any workflow
    /// (`pombo_starter::webhooks`), with the rows it claimed (`endpoint`: `None` when it was
    /// deleted). `last`: no retry would follow a failure.
    pub async fn first_attempt(
        &self,
        delivery: Delivery,
        endpoint: Option<EndpointRow>,
        last: bool,
    ) -> Result<AttemptOutcome, ActivityError> {
        let Some(endpoint) = endpoint else {
            return Ok(AttemptOutcome::Abandoned {
                reason: "the endpoint was deleted".into(),
            });
        };
        let input = AttemptInput {
            delivery_id: delivery.id,
            attempt: 1,
            last,
            slot_reserved: false,
        };
        self.attempt_of(delivery, endpoint, input).await
    }

    async fn attempt_of(
        &self,
        delivery: Delivery,
        endpoint: EndpointRow,
        input: AttemptInput,
    ) -> Result<AttemptOutcome, ActivityError> {
        if !endpoint.enabled {
            let reason = "the endpoint is disabled".to_owned();
            deliveries::abandon(&self.db, delivery.id, &reason).await?;
            return Ok(AttemptOutcome::Abandoned { reason });
        }
        let now = Utc::now();
        let probe_for = secs(self.config.attempt_timeout_secs + 15);
        if let Gate::Closed { until } = endpoints::gate(
            &self.db,
            &endpoint,
            self.config.failures_before_pause,
            probe_for,
            now,
        )
        .await?
        {
            let wait = (until - now).num_milliseconds().max(1000);
            return Ok(AttemptOutcome::Paused {
                wait_millis: u64::try_from(wait).unwrap_or(u64::MAX),
                slot_reserved: false,
            });
        }
        // The endpoint's rate limit: one slot per attempt, evenly spaced and shared by
        // every worker; an attempt whose slot is ahead waits for it holding it.
        if let Some(rate) = endpoint.rate_limit.filter(|r| *r > 0)
            && !input.slot_reserved
        {
            let interval = std::time::Duration::from_secs_f64(1.0 / f64::from(rate));
            let key = format!("webhook:{}", endpoint.id);
            let slot = pombo_store::send_slots::reserve(&self.db, &key, interval, now).await?;
            let wait = (slot - now).num_milliseconds();
            if wait > 10 {
                return Ok(AttemptOutcome::Paused {
                    wait_millis: u64::try_from(wait).unwrap_or(u64::MAX),
                    slot_reserved: true,
                });
            }
        }
        let secrets = endpoints::secrets(&endpoint, now)?;
        let headers = endpoints::open(endpoint.clone())?.headers;
        let id = if delivery.event_id == 0 {
            deliveries::test_event_id(delivery.id)
        } else {
            pombo_store::event_log::public_id(delivery.event_id)
        };
        let timestamp = now.timestamp();
        let body = delivery.payload.as_bytes().to_vec();
        let signature = sign::header(
            std::iter::once(secrets.current.as_str()).chain(secrets.previous.as_deref()),
            &id,
            timestamp,
            &body,
        )
        .ok_or_else(|| internal("the endpoint's secret is not a whsec_ secret".into()))?;

        let mut request = self.http.post(&endpoint.url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        let post = self
            .posts
            .acquire()
            .await
            .map_err(|_| internal("the worker is stopping".into()))?;
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after_secs = retry_after(&response);
                let excerpt = excerpt(response).await;
                Answer {
                    status: Some(status),
                    retry_after_secs,
                    excerpt,
                    error: (!(200..300).contains(&status))
                        .then(|| format!("the endpoint answered {status}")),
                }
            }
            Err(e) => Answer {
                status: None,
                retry_after_secs: None,
                excerpt: None,
                error: Some(failure(e)),
            },
        };
        let duration = started.elapsed();
        drop(post);
        let succeeded = answer.error.is_none();
        self.recorder
            .record(
                delivery,
                AttemptRecord {
                    attempt: input.attempt,
                    attempted_at: now,
                    succeeded,
                    status_code: answer.status,
                    duration,
                    response_excerpt: answer.excerpt,
                    error: answer.error,
                    last: input.last,
                },
            )
            .await
            .map_err(internal)?;
        Ok(if succeeded {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Failed {
                retry_after_secs: answer.retry_after_secs,
            }
        })
    }
}
