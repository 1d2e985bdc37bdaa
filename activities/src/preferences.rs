//! The recipient's say, asked when a notification is about to go (the `prepare` activity):
//! the facts are gathered here (their preferences over the tenant's defaults, their time
//! zone, the suppression list, the frequency cap's count) and
//! [`pombo_contract::preferences::decide`] rules. A skip ends the notification as
//! `skipped` with the reason on its timeline; a deferral is on the timeline too, and the
//! workflow waits.

use chrono::{DateTime, Utc};
use pombo_contract::{
    NotificationStatus,
    preferences::{self, Decision, SendFacts},
};
use pombo_store::{
    Db, StoreError,
    events::{self, NewEvent},
    notifications::Notification,
};

/// Where a timeline entry of the preferences says it comes from.
pub const SOURCE: &str = "preferences";

/// What the recipient's preferences and the suppression list say about `n` at `now`.
pub async fn decide(
    db: &Db,
    n: &Notification,
    now: DateTime<Utc>,
    is_digest: bool,
) -> Result<Decision, StoreError> {
    let category = category(n);
    let stored = pombo_store::preferences::send_facts(
        db,
        n.tenant_id,
        *n.channel,
        &n.recipient,
        n.recipient_id,
        &category,
        now,
    )
    .await?;
    let time_zone = stored
        .time_zone
        .as_deref()
        .and_then(|z| preferences::time_zone(z).ok())
        .unwrap_or(chrono_tz::UTC);
    Ok(preferences::decide(
        &stored.person,
        &stored.defaults,
        &SendFacts {
            channel: *n.channel,
            category: &category,
            now,
            time_zone,
            sent_last_day: stored.sent_last_day,
            oldest_sent_last_day: stored.oldest_sent_last_day,
            suppressed: stored.suppressed.as_deref(),
            is_digest,
        },
    ))
}

/// The notification's category: stored at acceptance, or (rows from before categories)
/// what its type or priority stands for.
pub fn category(n: &Notification) -> String {
    preferences::category_of(
        n.category.as_deref(),
        None,
        n.notification_type.as_deref(),
        *n.priority,
    )
}

/// Ends `n` as `skipped`, with the reason on its timeline. Returns the status after (one
/// cancelled meanwhile stays cancelled).
pub async fn skip(
    db: &Db,
    n: &Notification,
    reason: preferences::SkipReason,
    detail: String,
) -> Result<NotificationStatus, StoreError> {
    let recorded = events::record(
        db,
        n.id,
        NewEvent {
            reason: Some(detail),
            code: Some(reason.as_str().to_owned()),
            ..NewEvent::new(NotificationStatus::Skipped, SOURCE, reason.as_str())
        },
    )
    .await?;
    Ok(recorded.status)
}

/// Says on `n`'s timeline that it waits until `until`, and why.
pub async fn deferred(
    db: &Db,
    n: &Notification,
    until: DateTime<Utc>,
    detail: String,
) -> Result<(), StoreError> {
    events::insert(
        db,
        n.id,
        &NewEvent {
            reason: Some(format!("{detail}: waiting until {}", until.to_rfc3339())),
            ..NewEvent::new(*n.status, SOURCE, "deferred")
        },
    )
    .await?;
    Ok(())
}

/// Puts `n` into its recipient's digest (opening one that goes out at `closes_at`):
/// `Some(skipped)`. `None` when it cannot be digested, and goes out on its own: it names
/// no recipient profile, or the digest `template` has no variant for its channel.
pub async fn digest(
    db: &Db,
    n: &Notification,
    closes_at: DateTime<Utc>,
    template: &str,
) -> Result<Option<NotificationStatus>, StoreError> {
    if n.recipient_id.is_none() {
        return Ok(None);
    }
    let resolved = match pombo_store::templates::resolve(
        db,
        n.tenant_id,
        template,
        None,
        n.template_locale.as_deref(),
        *n.channel,
    )
    .await
    {
        Ok(resolved) => resolved,
        Err(StoreError::NotFound | StoreError::Template(_)) => {
            tracing::warn!(
                notification_id = %n.id,
                template,
                "the digest template cannot serve this channel: sent on its own"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    pombo_store::digests::join(db, n, &category(n), closes_at, &resolved).await?;
    Ok(Some(NotificationStatus::Skipped))
}

/// Gives a digest about to be rendered its data: `items`, one per member (oldest first:
/// its `id`, `created_at`, `data` and own `content` rendered), and `count`. Closes the
/// digest to new members first.
pub async fn fill_digest(
    db: &Db,
    renderer: &pombo_renderer::Renderer,
    n: &mut Notification,
) -> Result<(), StoreError> {
    let members = pombo_store::digests::close(db, n.id).await?;
    let mut items = Vec::with_capacity(members.len());
    for member in &members {
        // A member whose own content does not render still counts, without it.
        let content = crate::render::render(renderer, member).await.ok();
        items.push(serde_json::json!({
            "id": member.id,
            "created_at": member.created_at,
            "data": member.data,
            "content": content,
        }));
    }
    n.data = Some(serde_json::json!({"count": items.len(), "items": items}));
    Ok(())
}
