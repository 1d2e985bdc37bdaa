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
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::OnConflict,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{notification_event, parked_callback},
    notifications::{self, ReportAccount, Sent, Transition},
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
    /// The report says the address must not be sent to again, and why: recording the event
    /// puts it on the tenant's suppression list.
    pub suppress: Option<String>,
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
            suppress: None,
        }
    }

    pub fn from_provider(account: &str, event: &ProviderEvent) -> Self {
        NewEvent {
            status: event.status.as_notification_status(),
            source: format!("provider:{account}"),
            // Empty when the report matched by our own notification id alone.
            provider_message_id: Some(event.provider_message_id.clone())
                .filter(|id| !id.is_empty()),
            raw_status: Some(event.raw_status.clone()),
            reason: event.reason.clone(),
            code: event.code.clone(),
            occurred_at: event.occurred_at,
            suppress: event.suppress.clone(),
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
            // A skip says why in the same place a failure does.
            if matches!(
                event.status,
                NotificationStatus::Failed | NotificationStatus::Skipped
            ) && let Some(reason) = &reason
            {
                row.last_error = Set(Some(reason.clone()));
            }
        })
        .await?;
    let (status, moved) = match outcome {
        Transition::Applied(row) => (*row.status, true),
        Transition::Refused { current } => (current, false),
    };
    if let Some(why) = &event.suppress {
        let n = notifications::get(db, notification_id).await?;
        if n.purged_at.is_none() {
            crate::suppressions::add(
                db,
                n.tenant_id,
                *n.channel,
                &n.recipient,
                why,
                event.reason.clone(),
                Some(n.id),
            )
            .await?;
        }
    }
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
    Ok(insert_all(db, &[(notification_id, event.clone())]).await? == 1)
}

/// [`insert`] for several events in one statement; returns how many were new. A repeat is
/// skipped by the database (`ON CONFLICT DO NOTHING`), not reported as an error: on
/// PostgreSQL an error would end the caller's transaction.
pub async fn insert_all(
    db: &impl ConnectionTrait,
    events: &[(Uuid, NewEvent)],
) -> Result<u64, StoreError> {
    let now = Utc::now();
    let rows = events
        .iter()
        .map(|(notification_id, event)| notification_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            notification_id: Set(*notification_id),
            status: Set(event.status.into()),
            source: Set(event.source.clone()),
            provider_message_id: Set(event.provider_message_id.clone()),
            raw_status: Set(event.raw_status.clone()),
            reason: Set(event.reason.clone()),
            code: Set(event.code.clone()),
            occurred_at: Set(event.occurred_at.unwrap_or(now)),
            received_at: Set(now),
            dedupe_key: Set(event.dedupe_key()),
        });
    Ok(notification_event::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                notification_event::Column::NotificationId,
                notification_event::Column::DedupeKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?)
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

/// Most reports kept parked per provider account. Only authenticated reports are parked,
/// but a provider (or someone holding an account's secret) reporting ids we never sent
/// would otherwise grow the table without bound until retention purges it; genuine early
/// reports are claimed within seconds, so an account never needs anywhere near this many.
pub const MAX_PARKED_PER_ACCOUNT: u64 = 10_000;

/// What [`park`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    Kept,
    /// The account already has [`MAX_PARKED_PER_ACCOUNT`] reports parked.
    Dropped,
}

/// The parked reports of `account`: a tenant account's by its id and tenant, a
/// server-wide account's by its name among those of no tenant.
fn parked_through(account: ReportAccount<'_>) -> Condition {
    match account.tenant_account {
        Some((tenant_id, account_id)) => Condition::all()
            .add(parked_callback::Column::AccountId.eq(account_id))
            .add(parked_callback::Column::TenantId.eq(tenant_id)),
        None => Condition::all()
            .add(parked_callback::Column::AccountId.is_null())
            .add(parked_callback::Column::TenantId.is_null())
            .add(parked_callback::Column::Provider.eq(account.name)),
    }
}

/// Keeps a callback whose message id matches no notification yet: the send that will record
/// that id may still be finishing (providers can call back within milliseconds). Beyond
/// [`MAX_PARKED_PER_ACCOUNT`] for the account, the report is dropped. (The count and the
/// insert are not one atomic step: concurrent reports may overshoot the cap by a few.)
pub async fn park(
    db: &impl ConnectionTrait,
    account: ReportAccount<'_>,
    event: &ProviderEvent,
) -> Result<Parked, StoreError> {
    // Whether a row exists past the cap: reads at most the cap's worth of index entries.
    let full = parked_callback::Entity::find()
        .select_only()
        .column(parked_callback::Column::Id)
        .filter(parked_through(account))
        .offset(MAX_PARKED_PER_ACCOUNT - 1)
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some();
    if full {
        return Ok(Parked::Dropped);
    }
    parked_callback::ActiveModel {
        id: Set(Uuid::now_v7()),
        provider: Set(account.name.to_owned()),
        account_id: Set(account.tenant_account.map(|(_, id)| id)),
        tenant_id: Set(account.tenant_account.map(|(tenant, _)| tenant)),
        provider_message_id: Set(event.provider_message_id.clone()),
        event: Set(serde_json::to_value(event).expect("events serialise")),
        received_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(Parked::Kept)
}

/// Applies and removes the parked callbacks of a message that was just recorded as sent.
/// Returns the notification's status afterwards, if any callback was applied.
pub async fn claim_parked(
    db: &impl ConnectionTrait,
    sent: &Sent<'_>,
) -> Result<Option<NotificationStatus>, StoreError> {
    let claimed = claim_parked_all(db, std::slice::from_ref(sent)).await?;
    Ok(claimed.into_iter().next().map(|(_, status)| status))
}

/// Whether a parked report came through the account that sent `sent`: the same tenant
/// account (and tenant), or the same server-wide account.
fn parked_for(row: &parked_callback::Model, sent: &Sent<'_>) -> bool {
    Some(row.provider_message_id.as_str()) == sent.provider_message_id
        && match sent.provider_account_id {
            Some(account_id) => {
                row.account_id == Some(account_id) && row.tenant_id == Some(sent.tenant_id)
            }
            None => {
                row.account_id.is_none() && row.tenant_id.is_none() && row.provider == sent.provider
            }
        }
}

/// [`claim_parked`] for several messages just recorded as sent, looked up in one statement
/// (nearly always finding none). Returns the status afterwards of each notification that had
/// callbacks waiting.
pub async fn claim_parked_all(
    db: &impl ConnectionTrait,
    sent: &[Sent<'_>],
) -> Result<Vec<(Uuid, NotificationStatus)>, StoreError> {
    let message_ids: Vec<&str> = sent.iter().filter_map(|s| s.provider_message_id).collect();
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut account_ids: Vec<Uuid> = sent.iter().filter_map(|s| s.provider_account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut names: Vec<&str> = sent
        .iter()
        .filter(|s| s.provider_account_id.is_none())
        .map(|s| s.provider)
        .collect();
    names.sort_unstable();
    names.dedup();
    // Each branch leads with the columns of an index: (account_id, message id) or
    // (provider, message id).
    let through = Condition::any()
        .add(parked_callback::Column::AccountId.is_in(account_ids))
        .add(
            Condition::all()
                .add(parked_callback::Column::Provider.is_in(names))
                .add(parked_callback::Column::AccountId.is_null()),
        );
    let parked = parked_callback::Entity::find()
        .filter(through)
        .filter(parked_callback::Column::ProviderMessageId.is_in(message_ids))
        .order_by_asc(parked_callback::Column::Id)
        .all(db)
        .await?;
    let mut statuses: Vec<(Uuid, NotificationStatus)> = Vec::new();
    for row in parked {
        // Message ids are the provider's: two accounts may use the same one.
        let Some(s) = sent.iter().find(|s| parked_for(&row, s)) else {
            continue;
        };
        let event: ProviderEvent = serde_json::from_value(row.event.clone())
            .map_err(|e| StoreError::Corrupt(format!("parked callback {}: {e}", row.id)))?;
        let recorded = record(
            db,
            s.notification_id,
            NewEvent::from_provider(s.provider, &event),
        )
        .await?;
        match statuses.iter_mut().find(|(id, _)| *id == s.notification_id) {
            Some(entry) => entry.1 = recorded.status,
            None => statuses.push((s.notification_id, recorded.status)),
        }
        parked_callback::Entity::delete_by_id(row.id)
            .exec(db)
            .await?;
    }
    Ok(statuses)
}
