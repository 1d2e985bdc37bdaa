//! One stream connection's events, whatever carries them (WebSocket or SSE): first what the
//! log holds after the client's cursor, read page by page, then what the process's
//! [`Follower`] brings, through the same filter, into a bounded queue the transport drains.
//!
//! No gap and no repeat at the seam: the session subscribes to the follower *before* it reads
//! the log, so an event is either in the log when it is read or broadcast after the
//! subscription; whatever the broadcast brings at or before the last cursor sent is skipped.
//! A session that falls behind the broadcast reads the log again from its cursor. A client
//! that leaves its queue full for a heartbeat interval is told `closing` with its cursor and
//! dropped: memory stays bounded by the queue, and it resumes from that cursor.

use std::{sync::Arc, time::Duration};

use pombo_contract::Channel;
use pombo_store::{
    Db,
    event_log::{self, Cursor, Facts, Listed, LoggedEvent},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use utoipa::ToSchema;
use uuid::Uuid;

use super::follower::Follower;
use crate::events::LogEvent;

/// An event as the follower broadcasts it: with what the filters look at, and its JSON
/// written once for every connection.
#[derive(Debug)]
pub struct Arrived {
    pub tenant_id: Uuid,
    pub cursor: Cursor,
    pub event_type: Arc<str>,
    pub facts: Facts,
    pub json: Arc<str>,
}

impl Arrived {
    /// `events` as read from the log, with their facts (read in one go).
    pub async fn all(
        db: &Db,
        events: Vec<LoggedEvent>,
    ) -> Result<Vec<Arrived>, pombo_store::StoreError> {
        let facts = event_log::facts(db, &events).await?;
        Ok(events
            .into_iter()
            .zip(facts)
            .map(|(event, facts)| Arrived::new(event, facts))
            .collect())
    }

    /// The frame that sends it.
    fn frame(&self) -> Frame {
        Frame::Event {
            cursor: self.cursor,
            event_type: self.event_type.clone(),
            json: self.json.clone(),
        }
    }

    pub fn new(event: LoggedEvent, facts: Facts) -> Arrived {
        let (tenant_id, cursor, event_type) = (
            event.tenant_id,
            Cursor::of(&event),
            Arc::<str>::from(event.event_type.as_str()),
        );
        let json = serde_json::to_string(&LogEvent::from(event))
            .expect("an event serialises")
            .into();
        Arrived {
            tenant_id,
            cursor,
            event_type,
            facts,
            json,
        }
    }
}

/// Which events a connection gets. Every part present must match; absent parts match all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Filter {
    /// Event types (`notification.sent`); empty: every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// A provider account (a gateway instance): its notifications and conversations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Uuid>,
    /// A conversation: its messages and its opening and closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Uuid>,
    /// A recipient profile: the notifications sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Uuid>,
}

impl Filter {
    fn matches(&self, event: &Arrived) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| **t == *event.event_type))
            && self.channel.is_none_or(|c| event.facts.channel == Some(c))
            && self
                .instance
                .is_none_or(|i| event.facts.provider_account_id == Some(i))
            && self
                .conversation
                .is_none_or(|c| event.facts.conversation_id == Some(c))
            && self
                .recipient
                .is_none_or(|r| event.facts.recipient_id == Some(r))
    }

    /// This filter as a connection may use it under a token that allows `allowed`: what the
    /// connection leaves open, the token decides; what it asks must be within the token
    /// (the `Err` names the part that is not).
    pub fn under(mut self, allowed: &Filter) -> Result<Filter, &'static str> {
        if self.types.is_empty() {
            self.types = allowed.types.clone();
        }
        if !allowed.types.is_empty() && !self.types.iter().all(|t| allowed.types.contains(t)) {
            return Err("types");
        }
        fn within<T: PartialEq + Copy>(
            asked: &mut Option<T>,
            allowed: Option<T>,
            name: &'static str,
        ) -> Result<(), &'static str> {
            match (*asked, allowed) {
                (None, allowed) => *asked = allowed,
                (Some(a), Some(b)) if a != b => return Err(name),
                _ => {}
            }
            Ok(())
        }
        within(&mut self.channel, allowed.channel, "channel")?;
        within(&mut self.instance, allowed.instance, "instance")?;
        within(&mut self.conversation, allowed.conversation, "conversation")?;
        within(&mut self.recipient, allowed.recipient, "recipient")?;
        Ok(self)
    }
}

/// What a transport writes.
#[derive(Debug, Clone)]
pub enum Frame {
    /// An event, as `GET /v1/events` shows it.
    Event {
        cursor: Cursor,
        event_type: Arc<str>,
        json: Arc<str>,
    },
    /// Caught up with the log: from here on events come as they happen.
    Ready { cursor: Cursor },
    /// The cursor is older than the log keeps: reload the current state, then connect
    /// without a cursor (or with a newer one).
    Reset { purged_up_to: Cursor },
    /// The server closes the connection; resume from `cursor`.
    Closing {
        reason: &'static str,
        cursor: Cursor,
    },
}

impl Frame {
    /// The frame as a JSON text.
    pub fn text(&self) -> Arc<str> {
        match self {
            Frame::Event { json, .. } => json.clone(),
            Frame::Ready { cursor } => {
                json!({"type": "ready", "cursor": cursor.to_string()}).to_string().into()
            }
            Frame::Reset { purged_up_to } => json!({
                "type": "reset",
                "purged_up_to": purged_up_to.to_string(),
                "detail": "events after this cursor are no longer kept: reload the current state and connect again without a cursor",
            })
            .to_string()
            .into(),
            Frame::Closing { reason, cursor } => json!({
                "type": "closing",
                "reason": reason,
                "cursor": cursor.to_string(),
            })
            .to_string()
            .into(),
        }
    }

    /// The SSE event name.
    pub fn name(&self) -> &str {
        match self {
            Frame::Event { event_type, .. } => event_type,
            Frame::Ready { .. } => "ready",
            Frame::Reset { .. } => "reset",
            Frame::Closing { .. } => "closing",
        }
    }

    /// The SSE `id` (what `Last-Event-ID` resumes from).
    pub fn id(&self) -> Option<Cursor> {
        match self {
            Frame::Event { cursor, .. } => Some(*cursor),
            _ => None,
        }
    }

    /// Whether the connection ends after this frame.
    pub fn is_last(&self) -> bool {
        matches!(self, Frame::Reset { .. } | Frame::Closing { .. })
    }
}

/// One connection's producer.
pub struct Session {
    pub db: Db,
    pub follower: Arc<Follower>,
    pub tenant_id: Uuid,
    pub filter: Filter,
    /// How long the client may leave its queue full before it is closed.
    pub patience: Duration,
    /// When the token it connected with expires: the connection ends then (`closing`,
    /// `token_expired`), and the client connects again with a new one.
    pub expires: Option<tokio::time::Instant>,
}

/// Events read from the log per query.
const PAGE: u64 = 200;

impl Session {
    /// Fills `queue` until the client goes or is closed.
    pub async fn run(self, after: Cursor, queue: mpsc::Sender<Frame>) {
        let mut live = self.follower.subscribe();
        let mut cursor = after;
        // Boxed: the catch-up's database futures are large, and an idle connection's task
        // should not carry their room while it waits (the bench weighs idle connections).
        if !Box::pin(self.catch_up(&mut cursor, &queue)).await {
            return;
        }
        if queue.send(Frame::Ready { cursor }).await.is_err() {
            return;
        }
        loop {
            // A client that left is noticed at once, not at the next event.
            let expiry = async {
                match self.expires {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                received = live.recv() => received,
                () = queue.closed() => return,
                () = expiry => {
                    let _ = queue.try_send(Frame::Closing { reason: "token_expired", cursor });
                    return;
                }
            };
            match received {
                Ok(batch) => {
                    for event in batch.iter() {
                        if event.cursor <= cursor
                            || event.tenant_id != self.tenant_id
                            || !self.filter.matches(event)
                        {
                            continue;
                        }
                        match queue.send_timeout(event.frame(), self.patience).await {
                            Ok(()) => cursor = event.cursor,
                            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                                metrics::counter!("pombo_stream_slow_closed_total").increment(1);
                                // Best effort: the transport may still get it out.
                                let _ = queue.try_send(Frame::Closing {
                                    reason: "too_slow",
                                    cursor,
                                });
                                return;
                            }
                            Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                        }
                    }
                }
                // The broadcast moved on without us: the log still has it all.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if !Box::pin(self.catch_up(&mut cursor, &queue)).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = queue.try_send(Frame::Closing {
                        reason: "shutting_down",
                        cursor,
                    });
                    return;
                }
            }
        }
    }

    /// Sends what the log holds after `cursor`, moving it on. False when the connection is
    /// over (the client left, the cursor is too old, the database failed).
    async fn catch_up(&self, cursor: &mut Cursor, queue: &mpsc::Sender<Frame>) -> bool {
        loop {
            let listed =
                event_log::list(&self.db, self.tenant_id, *cursor, &self.filter.types, PAGE).await;
            let events = match listed {
                Ok(Listed::Events(events)) => events,
                Ok(Listed::Expired { purged_up_to }) => {
                    let _ = queue.send(Frame::Reset { purged_up_to }).await;
                    return false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event log for a stream");
                    let _ = queue
                        .send(Frame::Closing {
                            reason: "unavailable",
                            cursor: *cursor,
                        })
                        .await;
                    return false;
                }
            };
            let full_page = events.len() as u64 == PAGE;
            let Some(last) = events.last().map(Cursor::of) else {
                return true;
            };
            let arrived = match Arrived::all(&self.db, events).await {
                Ok(arrived) => arrived,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event log for a stream");
                    return false;
                }
            };
            for event in arrived.iter().filter(|e| self.filter.matches(e)) {
                // The client sets the pace here: the log is not going anywhere.
                if queue.send(event.frame()).await.is_err() {
                    return false;
                }
            }
            *cursor = last;
            if !full_page {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_may_narrow_its_token_but_never_widen_it() {
        let conversation = Uuid::now_v7();
        let allowed = Filter {
            types: vec!["message.received".into(), "message.updated".into()],
            conversation: Some(conversation),
            ..Filter::default()
        };
        let narrower = Filter {
            types: vec!["message.received".into()],
            ..Filter::default()
        };
        let used = narrower.under(&allowed).unwrap();
        assert_eq!(used.conversation, Some(conversation));
        assert_eq!(used.types, vec!["message.received".to_owned()]);
        assert_eq!(Filter::default().under(&allowed).unwrap(), allowed);
        let wider = Filter {
            types: vec!["notification.sent".into()],
            ..Filter::default()
        };
        assert_eq!(wider.under(&allowed), Err("types"));
        let other = Filter {
            conversation: Some(Uuid::now_v7()),
            ..Filter::default()
        };
        assert_eq!(other.under(&allowed), Err("conversation"));
        assert_eq!(
            Filter::default().under(&Filter::default()),
            Ok(Filter::default())
        );
    }
}
