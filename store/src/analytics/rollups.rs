//! Roll-ups of whole hours (`analytics_hours`), per tenant and grouping, and how they stay
//! right when a notification changes after its hour is over (a delivery report, a read, a
//! click days later).
//!
//! Every change the figures count writes an event to the log in the same transaction
//! (`notification.sent|delivered|read|failed|skipped|opened|clicked`, and `accepted` for
//! an insert). `analytics_rollups` keeps, per tenant and grouping, the hours rolled up and
//! the log cursor they are good up to. Before answering, a reader takes the log's settled
//! end (the new cursor), finds the hours of the notifications named by every event after
//! its cursor that it can see (up to the end and past it: a report just committed shows at
//! once, even while the end waits for an older open transaction), counts those hours again
//! (and any hours of the asked range not yet rolled up) from the notifications, and writes
//! them with the new cursor. The counting reads the notifications after the end was taken,
//! so nothing up to the end is missed; anything after it is found by the next reader.
//!
//! Writers don't lock while counting: the write is conditional on the `version` read at
//! the start, so of two readers refreshing at once one writes and the other, finding the
//! version moved, starts again from what the first wrote (a stale count can never land
//! after a fresher one). Where retention deleted events past the cursor, the tenant's
//! roll-ups of that grouping are counted again from the start.
//!
//! Known lag: a redrive (failed → pending) writes no event of its own, so the failure stays
//! counted until the notification is sent or fails again, which both write one.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Statement,
    TransactionSession, TransactionTrait, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{Counts, Durations, Grouping, HourFigures, count_hours, hour_label, hour_of};
use crate::{
    StoreError,
    entities::{analytics_hour, analytics_rollup, text::TextEnum},
    event_log::{self, Cursor},
    param,
};

/// Refreshes fail over to each other this many times before the asker counts from the
/// notifications itself.
const REFRESH_TRIES: usize = 3;

/// SQLite binds at most 32,766 values a statement; a row has 17.
const INSERT_CHUNK: usize = 1_000;

/// The figures of the whole hours `[from, to)` (hour starts, before the current hour),
/// from the roll-ups, refreshed first.
pub(super) async fn read(
    db: &(impl ConnectionTrait + TransactionTrait),
    tenant_id: Uuid,
    grouping: Grouping,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<HourFigures>, StoreError> {
    for _ in 0..REFRESH_TRIES {
        if refresh(db, tenant_id, grouping, from, to).await? {
            let rows = analytics_hour::Entity::find()
                .filter(analytics_hour::Column::TenantId.eq(tenant_id))
                .filter(analytics_hour::Column::Grouping.eq(grouping.text()))
                .filter(analytics_hour::Column::Hour.gte(hour_label(from)))
                .filter(analytics_hour::Column::Hour.lt(hour_label(to)))
                .all(db)
                .await?;
            return rows.into_iter().map(figures_of).collect();
        }
    }
    // Others kept refreshing under us: count it all, as without roll-ups.
    count_hours(db, tenant_id, grouping, &[(from, to)]).await
}

/// Forgets a tenant's roll-ups (all groupings): the next ask counts again.
pub async fn forget(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<(), StoreError> {
    analytics_hour::Entity::delete_many()
        .filter(analytics_hour::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    analytics_rollup::Entity::delete_many()
        .filter(analytics_rollup::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Brings the roll-ups of `[from, to)` up to the log's end. `false`: another refresh wrote
/// first, nothing was written.
async fn refresh(
    db: &(impl ConnectionTrait + TransactionTrait),
    tenant_id: Uuid,
    grouping: Grouping,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let state = analytics_rollup::Entity::find()
        .filter(analytics_rollup::Column::TenantId.eq(tenant_id))
        .filter(analytics_rollup::Column::Grouping.eq(grouping.text()))
        .one(db)
        .await?;
    let end = event_log::end(db).await?;
    let horizon = event_log::horizon(db).await?;
    let covered = match &state {
        Some(s) if cursor_of(s) >= horizon => Some((
            parse_hour(&s.covered_from)?,
            parse_hour(&s.covered_to)?,
            cursor_of(s),
        )),
        // Never rolled up, or events past the cursor are gone: from the start.
        _ => None,
    };

    // The hour ranges to count again.
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let (cover_from, cover_to) = match covered {
        None => {
            ranges.push((from, to));
            (from, to)
        }
        Some((covered_from, covered_to, cursor)) => {
            let touched = touched_hours(db, tenant_id, cursor, covered_from, covered_to).await?;
            if touched.is_empty() && from >= covered_from && to <= covered_to {
                return Ok(true);
            }
            if from < covered_from {
                ranges.push((from, covered_from));
            }
            if to > covered_to {
                ranges.push((covered_to, to));
            }
            ranges.extend(runs(&touched));
            (from.min(covered_from), to.max(covered_to))
        }
    };
    let counted = count_hours(db, tenant_id, grouping, &ranges).await?;

    let txn = db.begin().await?;
    let written = match &state {
        None => {
            analytics_rollup::Entity::insert(analytics_rollup::ActiveModel {
                tenant_id: Set(tenant_id),
                grouping: Set(grouping.into()),
                covered_from: Set(hour_label(cover_from)),
                covered_to: Set(hour_label(cover_to)),
                cursor_xact: Set(end.xact),
                cursor_id: Set(end.id),
                version: Set(1),
            })
            .on_conflict(
                OnConflict::columns([
                    analytics_rollup::Column::TenantId,
                    analytics_rollup::Column::Grouping,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?
        }
        Some(s) => {
            analytics_rollup::Entity::update_many()
                .set(analytics_rollup::ActiveModel {
                    covered_from: Set(hour_label(cover_from)),
                    covered_to: Set(hour_label(cover_to)),
                    cursor_xact: Set(end.xact),
                    cursor_id: Set(end.id),
                    version: Set(s.version + 1),
                    ..Default::default()
                })
                .filter(analytics_rollup::Column::TenantId.eq(tenant_id))
                .filter(analytics_rollup::Column::Grouping.eq(grouping.text()))
                .filter(analytics_rollup::Column::Version.eq(s.version))
                .exec(&txn)
                .await?
                .rows_affected
        }
    };
    if written != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let of_grouping = || {
        analytics_hour::Entity::delete_many()
            .filter(analytics_hour::Column::TenantId.eq(tenant_id))
            .filter(analytics_hour::Column::Grouping.eq(grouping.text()))
    };
    if covered.is_none() {
        of_grouping().exec(&txn).await?;
    } else {
        let mut within = Condition::any();
        for (a, b) in &ranges {
            within = within.add(
                Condition::all()
                    .add(analytics_hour::Column::Hour.gte(hour_label(*a)))
                    .add(analytics_hour::Column::Hour.lt(hour_label(*b))),
            );
        }
        of_grouping().filter(within).exec(&txn).await?;
    }
    for chunk in counted.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|f| row_of(tenant_id, grouping, f));
        analytics_hour::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The hours (within `[from, to)`) of the tenant's notifications named by events after
/// `after`, in order. Every such event this transaction can see, not only those up to the
/// log's settled end: on PostgreSQL the end waits for the oldest open transaction (of any
/// database of the server), and a report committed meanwhile must show at once. One seen
/// past the end is seen again by the next refresh (counting an hour again is harmless).
async fn touched_hours(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    after: Cursor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let backend = db.get_database_backend();
    let hour = hour_of(backend, "n.created_at");
    let p = |n: usize| param(backend, n);
    let sql = format!(
        "SELECT DISTINCT {hour} AS hour FROM event_log e JOIN notifications n ON n.id = e.subject_id \
         WHERE e.tenant_id = {} AND e.event_type LIKE 'notification.%' \
         AND {} AND n.created_at >= {} AND n.created_at < {} ORDER BY 1",
        p(1),
        Cursor::after_sql(backend, "e", 2, 3),
        p(4),
        p(5)
    );
    let values: Vec<sea_orm::Value> = vec![
        tenant_id.into(),
        after.xact.into(),
        after.id.into(),
        from.into(),
        to.into(),
    ];
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.into_iter()
        .map(|row| {
            let hour: String = row.try_get("", "hour")?;
            parse_hour(&hour)
        })
        .collect()
}

/// Sorted hours as runs of consecutive hours, `[start, end)`.
fn runs(hours: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &hour in hours {
        match runs.last_mut() {
            Some((_, end)) if *end == hour => *end = hour + TimeDelta::hours(1),
            _ => runs.push((hour, hour + TimeDelta::hours(1))),
        }
    }
    runs
}

fn cursor_of(state: &analytics_rollup::Model) -> Cursor {
    Cursor {
        xact: state.cursor_xact,
        id: state.cursor_id,
    }
}

fn parse_hour(label: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(label)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("analytics hour {label:?}: {e}")))
}

fn row_of(tenant_id: Uuid, grouping: Grouping, f: &HourFigures) -> analytics_hour::ActiveModel {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    analytics_hour::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        grouping: Set(grouping.into()),
        hour: Set(f.hour.clone()),
        grp: Set(f.group.clone()),
        accepted: Set(n(f.counts.accepted)),
        sent: Set(n(f.counts.sent)),
        delivered: Set(n(f.counts.delivered)),
        read: Set(n(f.counts.read)),
        failed: Set(n(f.counts.failed)),
        opened: Set(n(f.counts.opened)),
        clicked: Set(n(f.counts.clicked)),
        skipped: Set(n(f.counts.skipped)),
        tracked: Set(n(f.counts.tracked)),
        to_send: Set(f.to_send.encode()),
        to_deliver: Set(f.to_deliver.encode()),
    }
}

fn figures_of(row: analytics_hour::Model) -> Result<HourFigures, StoreError> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let durations = |text: &str| {
        Durations::decode(text).ok_or_else(|| {
            StoreError::Corrupt(format!("analytics hour {}: durations {text:?}", row.id))
        })
    };
    Ok(HourFigures {
        to_send: durations(&row.to_send)?,
        to_deliver: durations(&row.to_deliver)?,
        hour: row.hour,
        group: row.grp,
        counts: Counts {
            accepted: n(row.accepted),
            sent: n(row.sent),
            delivered: n(row.delivered),
            read: n(row.read),
            failed: n(row.failed),
            opened: n(row.opened),
            clicked: n(row.clicked),
            skipped: n(row.skipped),
            tracked: n(row.tracked),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_hours_are_counted_again_in_runs() {
        let h = |n: i64| DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(n);
        assert_eq!(
            runs(&[h(1), h(2), h(3), h(7), h(9), h(10)]),
            vec![(h(1), h(4)), (h(7), h(8)), (h(9), h(11))]
        );
        assert_eq!(runs(&[]), vec![]);
    }
}
