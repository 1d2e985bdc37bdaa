//! The delivery timeline of notifications, and provider callbacks parked until their
//! notification is known.
//!
//! Every reported event is kept (once: repeats of the same report are recognised by a
//! dedupe key), with its reporter's timestamp; the notification's status only moves
//! forward ([`pombo_contract::NotificationStatus::can_move_to`]). So duplicated and
//! out-of-order callbacks leave a truthful timeline and a status that never goes back.

use chrono::{DateTime, Utc};
use pombo_contract::{NotificationStatus, delivery::ProviderEvent};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{notification_event, parked_callback},
    notifications::{self, Transition},
};

pub type Event = notification_event::Model;

/// A status event to add to a notification's timeline.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub status: NotificationStatus,
    /// `worker`, `provider:<account>`, `connector`, `operator`.
    pub source: String,
    pub provider_message_id: Option<String>,
    pub raw_status: Option<String>,
    pub reason: Option<String>,
    pub code: Option<String>,
    /// The reporter's time; `None` means now.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl NewEvent {
    /// An event reported by `source` (`worker`, `operator`, …) as `raw_status`, happening
    /// now, with nothing else to say; set the other fields with struct update syntax.
    pub fn new(status: NotificationStatus, source: &str, raw_status: &str) -> Self {
        NewEvent {
            status,
            source: source.to_owned(),
            provider_message_id: None,
            raw_status: Some(raw_status.to_owned()),
            reason: None,
            code: None,
            occurred_at: None,
        }
    }

    pub fn from_provider(account: &str, event: &ProviderEvent) -> Self {
        NewEvent {
            status: event.status.as_notification_status(),
            source: format!("provider:{account}"),
            provider_message_id: Some(event.provider_message_id.clone()),
            raw_status: Some(event.raw_status.clone()),
            reason: event.reason.clone(),
            code: event.code.clone(),
            occurred_at: event.occurred_at,
        }
    }

    /// Same report, same key: the source, what it said and when it said it happened.
    fn dedupe_key(&self) -> String {
        let key = serde_json::json!([
            self.source,
            self.status.as_str(),
            self.provider_message_id,
            self.raw_status,
            self.code,
            self.occurred_at.map(|t| t.timestamp_millis()),
        ]);
        hex::encode(Sha256::digest(key.to_string().as_bytes()))
    }
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// False when the same report was already in the timeline.
    pub new: bool,
    /// The notification's status afterwards.
    pub status: NotificationStatus,
    /// Whether the event moved the status.
    pub moved: bool,
}

/// Adds `event` to the timeline of `notification_id` and moves its status forward if the
/// status model allows it.
pub async fn record(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    event: NewEvent,
) -> Result<Recorded, StoreError> {
    let occurred_at = event.occurred_at.unwrap_or_else(Utc::now);
    let new = insert(db, notification_id, &event).await?;
    let reason = event.reason.clone();
    let outcome =
        notifications::transition_at(db, notification_id, event.status, occurred_at, |row| {
            if event.status == NotificationStatus::Failed
                && let Some(reason) = &reason
            {
                row.last_error = Set(Some(reason.clone()));
            }
        })
        .await?;
    let (status, moved) = match outcome {
        Transition::Applied(row) => (row.status.parse().map_err(StoreError::Corrupt)?, true),
        Transition::Refused { current } => (current, false),
    };
    Ok(Recorded { new, status, moved })
}

/// Adds an event to the timeline without moving the notification's status: for a caller
/// that has just set that status itself, in the same transaction. Returns whether it is
/// new (not a duplicate of one already recorded).
pub async fn insert(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    event: &NewEvent,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let occurred_at = event.occurred_at.unwrap_or(now);
    let inserted = notification_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        notification_id: Set(notification_id),
        status: Set(event.status.as_str().to_owned()),
        source: Set(event.source.clone()),
        provider_message_id: Set(event.provider_message_id.clone()),
        raw_status: Set(event.raw_status.clone()),
        reason: Set(event.reason.clone()),
        code: Set(event.code.clone()),
        occurred_at: Set(occurred_at),
        received_at: Set(now),
        dedupe_key: Set(event.dedupe_key()),
    }
    .insert(db)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The timeline of a notification, oldest first: by the reporter's time, then arrival.
pub async fn list(
    db: &impl ConnectionTrait,
    notification_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Event>, StoreError> {
    let mut query = notification_event::Entity::find()
        .filter(notification_event::Column::NotificationId.eq(notification_id))
        .order_by_asc(notification_event::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(notification_event::Column::Id.gt(after));
    }
    Ok(query.all(db).await?)
}

/// Keeps a callback whose message id matches no notification yet: the send that will record
/// that id may still be finishing (providers can call back within milliseconds).
pub async fn park(
    db: &impl ConnectionTrait,
    account: &str,
    tenant_id: Option<Uuid>,
    event: &ProviderEvent,
) -> Result<(), StoreError> {
    parked_callback::ActiveModel {
        id: Set(Uuid::now_v7()),
        provider: Set(account.to_owned()),
        tenant_id: Set(tenant_id),
        provider_message_id: Set(event.provider_message_id.clone()),
        event: Set(serde_json::to_value(event).expect("events serialise")),
        received_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Applies and removes the parked callbacks of a message that was just recorded as sent.
/// Returns the notification's status afterwards, if any callback was applied.
pub async fn claim_parked(
    db: &impl ConnectionTrait,
    account: &str,
    notification_id: Uuid,
    provider_message_id: &str,
) -> Result<Option<NotificationStatus>, StoreError> {
    let parked = parked_callback::Entity::find()
        .filter(parked_callback::Column::Provider.eq(account))
        .filter(parked_callback::Column::ProviderMessageId.eq(provider_message_id))
        .order_by_asc(parked_callback::Column::Id)
        .all(db)
        .await?;
    let mut status = None;
    for row in parked {
        let event: ProviderEvent = serde_json::from_value(row.event.clone())
            .map_err(|e| StoreError::Corrupt(format!("parked callback {}: {e}", row.id)))?;
        let recorded = record(
            db,
            notification_id,
            NewEvent::from_provider(account, &event),
        )
        .await?;
        status = Some(recorded.status);
        parked_callback::Entity::delete_by_id(row.id)
            .exec(db)
            .await?;
    }
    Ok(status)
}
