//! Where recipients' choices are kept: a person's preferences on their profile row, the
//! tenant's defaults on the tenant row (both JSON in clear: choices, not addresses), and the
//! count the frequency cap needs. The rule that reads them is
//! [`pombo_contract::preferences::decide`].

use chrono::{DateTime, Duration, Utc};
use pombo_contract::preferences::Preferences;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    StoreError,
    entities::{recipient, tenant},
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

/// What a send's preferences depend on, read in one round trip (the send path pays for
/// it on every notification): the suppression list's reason for the address, the tenant's
/// defaults, the person's preferences and time zone, and the frequency cap's count.
#[derive(Debug, Clone, Default)]
pub struct StoredFacts {
    pub suppressed: Option<String>,
    pub defaults: Preferences,
    pub person: Preferences,
    pub time_zone: Option<String>,
    pub sent_last_day: u32,
    pub oldest_sent_last_day: Option<DateTime<Utc>>,
}

/// [`StoredFacts`] of a notification to `address` on `channel` (of the profile
/// `recipient_id`, if any), of `category`, at `now`.
pub async fn send_facts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    channel: pombo_contract::Channel,
    address: &str,
    recipient_id: Option<Uuid>,
    category: &str,
    now: DateTime<Utc>,
) -> Result<StoredFacts, StoreError> {
    use sea_orm::{Statement, Value};
    let backend = db.get_database_backend();
    let p = |i: usize| crate::param(backend, i);
    let digests = crate::suppressions::lookup_digests(tenant_id, channel, address);
    let listed: Vec<String> = (0..digests.len()).map(|i| p(6 + i)).collect();
    let sql = format!(
        "SELECT \
         (SELECT reason FROM suppressions WHERE tenant_id = {t} AND channel = {c} \
            AND address_digest IN ({listed}) LIMIT 1) AS suppressed, \
         (SELECT preference_defaults FROM tenants WHERE id = {t}) AS defaults, \
         (SELECT preferences FROM recipients WHERE id = {r} AND tenant_id = {t}) AS preferences, \
         (SELECT profile FROM recipients WHERE id = {r} AND tenant_id = {t}) AS profile, \
         (SELECT COUNT(*) FROM notifications WHERE recipient_id = {r} AND category = {k} \
            AND sent_at > {since}) AS sent_count, \
         (SELECT MIN(sent_at) FROM notifications WHERE recipient_id = {r} AND category = {k} \
            AND sent_at > {since}) AS oldest",
        t = p(1),
        c = p(2),
        r = p(3),
        k = p(4),
        since = p(5),
        listed = listed.join(", "),
    );
    let mut values: Vec<Value> = vec![
        tenant_id.into(),
        channel.as_str().into(),
        recipient_id.into(),
        category.into(),
        (now - Duration::days(1)).into(),
    ];
    values.extend(digests.into_iter().map(Value::from));
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the preferences' facts returned no row".into()))?;
    let defaults: Option<serde_json::Value> = row.try_get("", "defaults")?;
    let person: Option<serde_json::Value> = row.try_get("", "preferences")?;
    let profile: Option<String> = row.try_get("", "profile")?;
    let time_zone = match (recipient_id, profile) {
        (Some(id), Some(sealed)) => {
            crate::recipients::open_profile(tenant_id, id, sealed)?.time_zone
        }
        _ => None,
    };
    let count: i64 = row.try_get("", "sent_count")?;
    Ok(StoredFacts {
        suppressed: row.try_get("", "suppressed")?,
        defaults: parse(defaults, &format!("tenant {tenant_id}"))?,
        person: parse(person, "a recipient")?,
        time_zone,
        sent_last_day: u32::try_from(count).unwrap_or(u32::MAX),
        oldest_sent_last_day: row.try_get("", "oldest")?,
    })
}
