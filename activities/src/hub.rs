//! The hub's activity (`pombo_contract::hub`): one round of a platform's queue. Forwards
//! go one at a time, oldest first, each POSTed to the platform's route for its kind
//! (`{endpoint}user|room|message`, the routes the source's apps implement) with an
//! `Idempotency-Key` of the forward's id, so a platform drops a repeat (a worker that died
//! between the platform's answer and the record sends again: at least once).
//!
//! The endpoint is a tenant's: the POST goes through the guarded client (the outbound rule
//! at connect time, no redirects). A 2xx delivers; a 408, 429, 5xx, timeout or refused
//! connection means the platform is down and the queue waits; any other 4xx refuses that
//! one forward for good and the queue moves on.

use std::{sync::Arc, time::Duration};

use pombo_contract::{
    hub::{self as defs, DrainOutcome, ForwardInput},
    outbound::OutboundPolicy,
};
use pombo_store::{
    Db,
    hub::{
        forwards::{self, Forward, Outcome},
        platforms::{self, Platform},
    },
};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Forwards one round delivers at most, so the workflow sees progress and a removed
/// platform is noticed.
const ROUND: u64 = 100;
/// Forwards read from the database at once.
const PAGE: u64 = 20;
/// One POST's bound.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a platform's answer kept as the error.
const ERROR_CHARS: usize = 300;

#[derive(Clone)]
pub struct HubActivities {
    db: Db,
    http: reqwest::Client,
}

impl HubActivities {
    pub fn new(db: Db, policy: &Arc<OutboundPolicy>) -> Result<Self, reqwest::Error> {
        let http = pombo_providers::outbound::guarded_builder(policy)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("pombo-hub/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HubActivities { db, http })
    }

    /// POSTs one forward; what it came to.
    async fn post(&self, platform: &Platform, forward: &Forward) -> Result<(), Failure> {
        let url = format!(
            "{}/{}",
            platform.endpoint.trim_end_matches('/'),
            forward.kind.route()
        );
        let answer = self
            .http
            .post(&url)
            .header("Idempotency-Key", forward.id.to_string())
            .json(&forward.body)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => return Err(Failure::Down(format!("{url}: {}", error_chain(&e)))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ERROR_CHARS)
            .collect();
        let error = format!("{url} answered {status}: {text}");
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(Failure::Down(error))
        } else {
            Err(Failure::Refused(error))
        }
    }

    /// One round of the platform's queue (see [`defs::HubActivities::drain`]).
    pub async fn drain_once(&self, input: ForwardInput) -> Result<DrainOutcome, ActivityError> {
        let Some(platform) = platforms::find(&self.db, input.platform_id).await? else {
            return Ok(DrainOutcome::Gone);
        };
        let mut delivered = 0u32;
        while u64::from(delivered) < ROUND {
            let page = forwards::pending(&self.db, platform.id, PAGE).await?;
            if page.is_empty() {
                return Ok(DrainOutcome::Drained { delivered });
            }
            for forward in page {
                match self.post(&platform, &forward).await {
                    Ok(()) => {
                        forwards::record(&self.db, forward.id, Outcome::Delivered).await?;
                        if delivered == 0 {
                            platforms::record_health(&self.db, platform.id, Ok(())).await?;
                        }
                        delivered += 1;
                    }
                    Err(Failure::Refused(error)) => {
                        tracing::warn!(platform = %platform.name, forward = %forward.id, %error, "hub forward refused for good");
                        forwards::record(&self.db, forward.id, Outcome::Refused(&error)).await?;
                    }
                    Err(Failure::Down(error)) => {
                        forwards::record(&self.db, forward.id, Outcome::Retry(&error)).await?;
                        platforms::record_health(&self.db, platform.id, Err(&error)).await?;
                        return Ok(DrainOutcome::Down { delivered, error });
                    }
                }
            }
        }
        Ok(DrainOutcome::More { delivered })
    }
}

enum Failure {
    /// The platform is unreachable or failing: the queue waits.
    Down(String),
    /// This forward is refused: it fails alone.
    Refused(String),
}

/// An HTTP error with its causes (reqwest's own message is terse: "error sending request").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[activities]
impl HubActivities {
    #[activity(definition = defs::Drain)]
    pub async fn drain(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ForwardInput,
    ) -> Result<DrainOutcome, ActivityError> {
        // A round can take a while (a hundred POSTs): heartbeats tell Temporal the worker
        // is alive, and a dead one's round is retried after the heartbeat timeout.
        crate::notification::with_heartbeats(&ctx, self.drain_once(input)).await
    }
}
