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
//!
//! The scheduled checks ([`defs::HubCheck`]) read each platform's `GET {endpoint}users`:
//! the ping marks it up or down (and wakes the forwarder of one back up), the import
//! stores its users.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use pombo_contract::{
    hub::{self as defs, DrainOutcome, ForwardInput, HubCheck, HubCheckOutcome, PlatformStatus},
    outbound::OutboundPolicy,
};
use pombo_store::{
    Db,
    hub::{
        forwards::{self, Forward, Outcome},
        platforms::{self, Platform},
        rooms,
    },
};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use uuid::Uuid;

/// Forwards one round delivers at most, so the workflow sees progress and a removed
/// platform is noticed.
const ROUND: u64 = 100;
/// Forwards read from the database at once.
const PAGE: u64 = 20;
/// One POST's bound.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a platform's answer kept as the error.
const ERROR_CHARS: usize = 300;

/// The most of a platform's user list read (`GET {endpoint}users`).
const MAX_USERS_BYTES: usize = 4 * 1024 * 1024;
/// The most users one import stores of a platform.
const MAX_USERS: usize = 10_000;
const MAX_USER_NAME: usize = 200;

/// Wakes the forwarder of a platform (tenant, platform) back up: the worker's
/// `pombo_starter::hub::wake`, given here so activities need no Temporal client.
pub type WakeForwarder = Arc<dyn Fn(Uuid, Uuid) -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Clone)]
pub struct HubActivities {
    db: Db,
    http: reqwest::Client,
    wake: Option<WakeForwarder>,
    files: crate::files::SendFiles,
}

impl HubActivities {
    pub fn new(db: Db, policy: &Arc<OutboundPolicy>) -> Result<Self, reqwest::Error> {
        let http = pombo_providers::outbound::guarded_builder(policy)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("pombo-hub/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HubActivities {
            db,
            http,
            wake: None,
            files: Default::default(),
        })
    }

    /// Where file messages' files are (presigned links made at send time).
    pub fn with_files(mut self, files: crate::files::SendFiles) -> Self {
        self.files = files;
        self
    }

    /// The body a platform gets: a file message's `fileId` (internal) becomes a `file`
    /// with a fresh presigned `url` when the platform can show that kind of file, and a
    /// link at the end of the text when it cannot.
    async fn body_for(
        &self,
        platform: &Platform,
        forward: &Forward,
    ) -> Result<serde_json::Value, Failure> {
        let mut body = forward.body.clone();
        let Some(file_id) = body
            .as_object_mut()
            .and_then(|o| o.remove(defs::FILE_ID_FIELD))
            .and_then(|v| v.as_str().and_then(|s| s.parse::<Uuid>().ok()))
        else {
            return Ok(body);
        };
        let (file, url) = self
            .files
            .presigned(&self.db, forward.tenant_id, file_id)
            .await
            .map_err(|e| match e {
                crate::files::FileError::Missing(m) => Failure::Refused(m),
                other => Failure::Unavailable(other.to_string()),
            })?;
        if platform.can(defs::Capability::of_content_type(&file.content_type)) {
            body["file"] = serde_json::json!({
                "url": url,
                "contentType": file.content_type,
                "name": file.filename,
                "size": file.size_bytes,
            });
        } else {
            let text = body["text"].as_str().unwrap_or_default();
            body["text"] = serde_json::Value::String(format!("{text}\n{url}"));
        }
        Ok(body)
    }

    /// How the ping wakes the forwarder of a platform back up.
    pub fn with_wake(mut self, wake: WakeForwarder) -> Self {
        self.wake = Some(wake);
        self
    }

    /// The platform's users, as its `GET {endpoint}users` lists them. `Err(Failure::Down)`:
    /// it did not answer, or answered 5xx; `Err(Failure::Refused)`: it answered, but not a
    /// list of users.
    async fn users_of(&self, platform: &Platform) -> Result<Vec<(i64, String)>, Failure> {
        let url = format!("{}/users", platform.endpoint.trim_end_matches('/'));
        let mut response = match self.http.get(&url).send().await {
            Ok(response) => response,
            Err(e) => return Err(Failure::Down(format!("{url}: {}", error_chain(&e)))),
        };
        let status = response.status();
        if status.is_server_error() {
            return Err(Failure::Down(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Refused(format!("{url} answered {status}")));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_USERS_BYTES => {
                    body.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => {
                    return Err(Failure::Refused(format!(
                        "{url}: more than {MAX_USERS_BYTES} bytes"
                    )));
                }
                Ok(None) => break,
                Err(e) => return Err(Failure::Down(format!("{url}: {}", error_chain(&e)))),
            }
        }
        #[derive(serde::Deserialize)]
        struct Listed {
            id: i64,
            name: String,
        }
        let listed: Vec<Listed> = serde_json::from_slice(&body).map_err(|e| {
            Failure::Refused(format!("{url}: not a list of {{\"id\", \"name\"}}: {e}"))
        })?;
        Ok(listed
            .into_iter()
            .take(MAX_USERS)
            .map(|u| (u.id, u.name.chars().take(MAX_USER_NAME).collect()))
            .collect())
    }

    /// One platform's part of a check: `Ok(changed users)` when it answered.
    async fn check_one(&self, check: HubCheck, platform: &Platform) -> Result<u32, String> {
        let users = self.users_of(platform).await;
        match check {
            HubCheck::Ping => match users {
                // Up: it answered, whatever it thinks of the route.
                Ok(_) | Err(Failure::Refused(_)) => {
                    platforms::record_health(&self.db, platform.id, Ok(()))
                        .await
                        .map_err(|e| e.to_string())?;
                    if platform.status == PlatformStatus::Down
                        && let Some(wake) = &self.wake
                    {
                        wake(platform.tenant_id, platform.id).await;
                    }
                    Ok(0)
                }
                Err(Failure::Down(error) | Failure::Unavailable(error)) => {
                    platforms::record_health(&self.db, platform.id, Err(&error))
                        .await
                        .map_err(|e| e.to_string())?;
                    Err(error)
                }
            },
            HubCheck::ImportUsers => match users {
                Ok(listed) => rooms::import_users(&self.db, platform, &listed)
                    .await
                    .map_err(|e| e.to_string()),
                Err(
                    Failure::Down(error) | Failure::Refused(error) | Failure::Unavailable(error),
                ) => Err(error),
            },
        }
    }

    /// A check over every platform of every hub (see [`defs::HubActivities::check`]).
    pub async fn check_all(&self, check: HubCheck) -> Result<HubCheckOutcome, ActivityError> {
        let mut outcome = HubCheckOutcome::default();
        let mut after = None;
        loop {
            let page = platforms::all(&self.db, after, PAGE * 5).await?;
            let Some(last) = page.last() else {
                return Ok(outcome);
            };
            after = Some(last.id);
            for platform in &page {
                outcome.platforms += 1;
                match self.check_one(check, platform).await {
                    Ok(changed) => {
                        outcome.answered += 1;
                        outcome.users_changed += changed;
                    }
                    Err(error) => {
                        tracing::info!(platform = %platform.name, ?check, %error, "hub check: the platform failed");
                        outcome.failed += 1;
                    }
                }
            }
        }
    }

    /// POSTs one forward; what it came to.
    async fn post(&self, platform: &Platform, forward: &Forward) -> Result<(), Failure> {
        let url = format!(
            "{}/{}",
            platform.endpoint.trim_end_matches('/'),
            forward.kind.route()
        );
        let body = self.body_for(platform, forward).await?;
        let answer = self
            .http
            .post(&url)
            .header("Idempotency-Key", forward.id.to_string())
            .json(&body)
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
                    // Pombo's side (object storage) cannot make the body now: the queue
                    // waits as for a platform down, the platform's health untouched.
                    Err(Failure::Unavailable(error)) => {
                        forwards::record(&self.db, forward.id, Outcome::Retry(&error)).await?;
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
    /// Pombo cannot make the forward now (its object storage is out): the queue waits.
    Unavailable(String),
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

    #[activity(definition = defs::Check)]
    pub async fn check(
        self: Arc<Self>,
        ctx: ActivityContext,
        check: HubCheck,
    ) -> Result<HubCheckOutcome, ActivityError> {
        crate::notification::with_heartbeats(&ctx, self.check_all(check)).await
    }
}
