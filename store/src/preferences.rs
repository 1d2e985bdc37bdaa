//! Where recipients' choices are kept: a person's preferences on their profile row, the
//! tenant's defaults on the tenant row (both JSON in clear: choices, not addresses), and the
//! count the frequency cap needs. The rule that reads them is
//! [`pombo_contract::preferences::decide`].

use chrono::{DateTime, Duration, Utc};
use pombo_contract::preferences::Preferences;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{notification, recipient, tenant},
};

fn parse(json: Option<serde_json::Value>, whose: &str) -> Result<Preferences, StoreError> {
    match json {
        None => Ok(Preferences::default()),
        Some(json) => serde_json::from_value(json)
            .map_err(|e| StoreError::Corrupt(format!("preferences of {whose}: {e}"))),
    }
}

fn json(preferences: &Preferences) -> serde_json::Value {
    serde_json::to_value(preferences).expect("preferences serialise")
}

/// A recipient's preferences (empty when they made no choice). `NotFound`: no such profile
/// in the tenant.
pub async fn of_recipient(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
) -> Result<Preferences, StoreError> {
    let row = recipient::Entity::find_by_id(recipient_id)
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    parse(row.preferences, &format!("recipient {recipient_id}"))
}

/// A recipient's preferences and the time zone of their profile, in one read; `None` when
/// the profile is gone (deleted after the notification was made).
pub async fn of_profile(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
) -> Result<Option<(Preferences, Option<String>)>, StoreError> {
    let Some(row) = recipient::Entity::find_by_id(recipient_id)
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let preferences = parse(
        row.preferences.clone(),
        &format!("recipient {recipient_id}"),
    )?;
    let profile = crate::recipients::open_row(row)?;
    Ok(Some((preferences, profile.profile.time_zone)))
}

/// Replaces a recipient's preferences.
pub async fn set_for_recipient(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    recipient_id: Uuid,
    preferences: &Preferences,
) -> Result<(), StoreError> {
    let result = recipient::Entity::update_many()
        .col_expr(
            recipient::Column::Preferences,
            Expr::value(json(preferences)),
        )
        .col_expr(recipient::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(recipient::Column::Id.eq(recipient_id))
        .filter(recipient::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The tenant's defaults (empty: every category goes out at any time).
pub async fn defaults(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Preferences, StoreError> {
    let row = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)?;
    parse(row.preference_defaults, &format!("tenant {tenant_id}"))
}

pub async fn set_defaults(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    preferences: &Preferences,
) -> Result<(), StoreError> {
    tenant::ActiveModel {
        id: Set(tenant_id),
        preference_defaults: Set(Some(json(preferences))),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// How many notifications of `category` went to the recipient in the 24 hours before
/// `now`, and when the oldest of them went (the frequency cap's count).
pub async fn sent_last_day(
    db: &impl ConnectionTrait,
    recipient_id: Uuid,
    category: &str,
    now: DateTime<Utc>,
) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
    let row: Option<(i64, Option<DateTime<Utc>>)> = notification::Entity::find()
        .select_only()
        .column_as(notification::Column::Id.count(), "count")
        .column_as(notification::Column::SentAt.min(), "oldest")
        .filter(notification::Column::RecipientId.eq(recipient_id))
        .filter(notification::Column::Category.eq(category))
        .filter(notification::Column::SentAt.gt(now - Duration::days(1)))
        .into_tuple()
        .one(db)
        .await?;
    let (count, oldest) = row.unwrap_or((0, None));
    Ok((u32::try_from(count).unwrap_or(u32::MAX), oldest))
}
