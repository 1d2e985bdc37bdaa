//! Delivery analytics from the notifications themselves: counts per time bucket and group
//! (accepted, sent, delivered, read, failed: each a notification that reached that point,
//! by its timestamps), and the time from acceptance to send and to delivery as
//! percentiles.
//!
//! Hours that are over come from roll-ups ([`rollups`]): one row per hour and group, kept
//! fresh from the event log, so a 30-day breakdown reads 720 rows per group instead of a
//! million notifications. The hour under way and the partial hours at a range's edges are
//! counted from the notifications at each ask ([`count_hours`]). Both give [`HourFigures`];
//! durations are log-spaced histograms ([`Durations`]), so hours add up.

mod durations;
mod rollups;

use std::{collections::BTreeMap, str::FromStr};

use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use uuid::Uuid;

pub use durations::Durations;
pub use rollups::forget;

use crate::{StoreError, entities::text::TextEnum, param};

/// How long each bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
}

/// What the series are split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Channel,
    Provider,
    Priority,
    Type,
    Template,
    /// Why it failed (its last error, as recorded: `HTTP 400 from twilio`, never an address);
    /// one series per reason, and one (no group) of those that did not fail.
    Failure,
}

impl GroupBy {
    const ALL: [GroupBy; 6] = [
        GroupBy::Channel,
        GroupBy::Provider,
        GroupBy::Priority,
        GroupBy::Type,
        GroupBy::Template,
        GroupBy::Failure,
    ];

    /// Its name in `group_by=`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Channel => "channel",
            GroupBy::Provider => "provider",
            GroupBy::Priority => "priority",
            GroupBy::Type => "type",
            GroupBy::Template => "template",
            GroupBy::Failure => "failure",
        }
    }

    /// The column's expression, as text (a template's id as lowercase hex on SQLite).
    fn column(self, backend: DbBackend) -> &'static str {
        match (self, backend) {
            (GroupBy::Channel, _) => "channel",
            (GroupBy::Provider, _) => "provider",
            (GroupBy::Priority, _) => "priority",
            (GroupBy::Type, _) => "notification_type",
            (GroupBy::Template, DbBackend::Postgres) => "CAST(template_id AS TEXT)",
            (GroupBy::Template, _) => "lower(hex(template_id))",
            (GroupBy::Failure, _) => "CASE WHEN failed_at IS NOT NULL THEN last_error END",
        }
    }
}

impl FromStr for GroupBy {
    type Err = String;

    fn from_str(text: &str) -> Result<GroupBy, String> {
        GroupBy::ALL
            .into_iter()
            .find(|g| g.as_str() == text)
            .ok_or_else(|| format!("not a grouping: {text}"))
    }
}

/// A grouping as the roll-ups keep it: none (`all`) or one of [`GroupBy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping(pub Option<GroupBy>);

impl FromStr for Grouping {
    type Err = String;

    fn from_str(text: &str) -> Result<Grouping, String> {
        match text {
            "all" => Ok(Grouping(None)),
            other => other.parse().map(|g| Grouping(Some(g))),
        }
    }
}

impl TextEnum for Grouping {
    const TYPE: &'static str = "Grouping";

    fn text(self) -> &'static str {
        self.0.map_or("all", GroupBy::as_str)
    }
}

/// Counts of one bucket (or of a whole series).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// Tracked emails opened / clicked (each counted once), and notifications skipped by
    /// the recipient's preferences.
    pub opened: u64,
    pub clicked: u64,
    pub skipped: u64,
    /// Emails sent with an open pixel: what an open rate is of.
    pub tracked: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.accepted += other.accepted;
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.read += other.read;
        self.failed += other.failed;
        self.opened += other.opened;
        self.clicked += other.clicked;
        self.skipped += other.skipped;
        self.tracked += other.tracked;
    }
}

/// One group's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The group's value (`None`: not grouped, or no value, such as no provider yet).
    pub group: Option<String>,
    /// Buckets with at least one notification, by start (`2026-12-07T04:00:00Z`).
    pub buckets: BTreeMap<String, Counts>,
    pub totals: Counts,
    /// Milliseconds from acceptance (or the scheduled time, `send_at`) to the provider's
    /// acceptance.
    pub to_send: Durations,
    /// The same to the delivery report.
    pub to_deliver: Durations,
}

/// One hour's figures of one group: what a roll-up row keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourFigures {
    /// The hour's start, `2026-12-07T04:00:00Z`.
    pub hour: String,
    pub group: Option<String>,
    pub counts: Counts,
    pub to_send: Durations,
    pub to_deliver: Durations,
}

/// The SQL for the label of the hour `column` (a time) falls in, as [`hour_label`] writes it.
fn hour_of(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!(
            r#"to_char(date_trunc('hour', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')"#
        ),
        _ => format!("strftime('%Y-%m-%dT%H:00:00Z', {column})"),
    }
}

/// An hour's label, as the queries write it.
fn hour_label(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:00:00Z").to_string()
}

fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// The whole hours of `[from, to)` that are over by `now`, if any: what roll-ups can answer.
fn whole_hours(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = if hour_start(from) == from {
        from
    } else {
        hour_start(from) + TimeDelta::hours(1)
    };
    let end = hour_start(to).min(hour_start(now));
    (first < end).then_some((first, end))
}

/// The tenant's notifications accepted in `[from, to)`, counted per bucket and group.
/// Whole hours before the current one come from the roll-ups (refreshed first); the rest
/// is counted from the notifications.
pub async fn series(
    db: &(impl ConnectionTrait + TransactionTrait),
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
    group_by: Option<GroupBy>,
) -> Result<Vec<Series>, StoreError> {
    let grouping = Grouping(group_by);
    let mut hours = Vec::new();
    match whole_hours(from, to, Utc::now()) {
        Some((first, end)) => {
            hours.extend(rollups::read(db, tenant_id, grouping, first, end).await?);
            let edges = [(from, first), (end, to)];
            hours.extend(count_hours(db, tenant_id, grouping, &edges).await?);
        }
        None => hours.extend(count_hours(db, tenant_id, grouping, &[(from, to)]).await?),
    }

    let mut by_group: BTreeMap<Option<String>, Series> = BTreeMap::new();
    for hour in hours {
        let bucket = match interval {
            Interval::Hour => hour.hour,
            Interval::Day => format!("{}T00:00:00Z", &hour.hour[..10.min(hour.hour.len())]),
        };
        let series = by_group
            .entry(hour.group.clone())
            .or_insert_with(|| Series {
                group: hour.group,
                ..Series::default()
            });
        series.totals.add(&hour.counts);
        series.buckets.entry(bucket).or_default().add(&hour.counts);
        series.to_send.add(&hour.to_send);
        series.to_deliver.add(&hour.to_deliver);
    }
    let mut all: Vec<Series> = by_group.into_values().collect();
    if group_by == Some(GroupBy::Template) {
        for series in &mut all {
            if let Some(hex) = &series.group {
                series.group = Uuid::parse_str(hex).ok().map(|id| id.to_string());
            }
        }
    }
    Ok(all)
}

/// What [`count_hours`] reads of a notification.
const COLUMNS: &str = "created_at, send_at, sent_at, delivered_at, read_at, failed_at, opened_at, \
     clicked_at, status, track_opens, channel, provider, priority, notification_type, \
     template_id, last_error";

/// The tenant's notifications accepted in any of `ranges` (each `[from, to)`), counted per
/// hour and group from the notifications themselves, in one query per
/// [`RANGES_PER_QUERY`] ranges. Durations are put in their histogram buckets by the
/// database, so a few rows per hour and group come back whatever the number of
/// notifications (returning each duration to bucket it here was most of the time).
pub(crate) async fn count_hours(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    grouping: Grouping,
    ranges: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<HourFigures>, StoreError> {
    let ranges: Vec<_> = ranges.iter().filter(|(from, to)| from < to).collect();
    let mut figures: BTreeMap<(String, Option<String>), HourFigures> = BTreeMap::new();
    for some in ranges.chunks(RANGES_PER_QUERY) {
        count_ranges(db, tenant_id, grouping, some, &mut figures).await?;
    }
    Ok(figures.into_values().collect())
}

/// SQLite takes at most 500 SELECTs in one compound statement, and 20 reports scattered
/// over a month are 20 ranges.
const RANGES_PER_QUERY: usize = 200;

/// [`count_hours`] of at most [`RANGES_PER_QUERY`] ranges, added to `figures`.
async fn count_ranges(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    grouping: Grouping,
    ranges: &[&(DateTime<Utc>, DateTime<Utc>)],
    figures: &mut BTreeMap<(String, Option<String>), HourFigures>,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let group = grouping
        .0
        .map_or("CAST(NULL AS TEXT)", |g| g.column(backend));
    let (to_send, to_deliver) = match backend {
        DbBackend::Postgres => (
            // `date_part` is a double; EXTRACT is `numeric` since PostgreSQL 14, slower.
            "date_part('epoch', sent_at - COALESCE(send_at, created_at)) * 1000.0",
            "date_part('epoch', delivered_at - COALESCE(send_at, created_at)) * 1000.0",
        ),
        _ => (
            "(julianday(sent_at) - julianday(COALESCE(send_at, created_at))) * 86400000.0",
            "(julianday(delivered_at) - julianday(COALESCE(send_at, created_at))) * 86400000.0",
        ),
    };
    // One indexed range scan per range, put together: an `OR` of ranges is read by
    // SQLite as one scan of all the tenant's notifications. The tenant is value 1.
    let mut values: Vec<Value> = vec![tenant_id.into()];
    let mut scans = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        values.push((*from).into());
        values.push((*to).into());
        scans.push(format!(
            "SELECT {COLUMNS} FROM notifications WHERE tenant_id = {} \
             AND created_at >= {} AND created_at < {}",
            param(backend, 1),
            param(backend, values.len() - 1),
            param(backend, values.len())
        ));
    }
    let scans = scans.join(" UNION ALL ");
    let send_bucket = Durations::bucket_sql(backend, to_send);
    let deliver_bucket = Durations::bucket_sql(backend, to_deliver);
    let counts = "COUNT(*) AS total, \
           COUNT(sent_at) AS sent, COUNT(delivered_at) AS delivered, COUNT(read_at) AS read_, \
           SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, \
           COUNT(opened_at) AS opened, COUNT(clicked_at) AS clicked, \
           SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END) AS skipped, \
           COUNT(CASE WHEN track_opens AND sent_at IS NOT NULL THEN 1 END) AS tracked";
    // Two aggregations of the same rows: the counts with the times to send per bucket
    // (part 0), and the times to deliver per bucket (part 1; its counts unused).
    let sql = match backend {
        // One scan, grouped twice; the hour grouped as a time and labelled here (`to_char`
        // on every row was a third of the query).
        DbBackend::Postgres => format!(
            "SELECT CAST(GROUPING(sent_b) AS BIGINT) AS part, h AS hour, grp, \
               COALESCE(sent_b, delivered_b) AS bucket, {counts} \
             FROM (SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS h, \
                 {group} AS grp, {send_bucket} AS sent_b, {deliver_bucket} AS delivered_b, \
                 sent_at, delivered_at, read_at, status, opened_at, clicked_at, track_opens \
               FROM ({scans}) AS s) AS r \
             GROUP BY GROUPING SETS ((h, grp, sent_b), (h, grp, delivered_b))"
        ),
        // SQLite has no grouping sets: two scans (one pass into a CTE read three times was
        // slower, SQLite writes it to a temporary table). The parts' columns line up.
        _ => format!(
            "SELECT CAST(0 AS BIGINT) AS part, {hour} AS hour, {group} AS grp, \
               {send_bucket} AS bucket, {counts} \
             FROM ({scans}) AS r GROUP BY 2, 3, 4 \
             UNION ALL SELECT CAST(1 AS BIGINT), {hour}, {group}, {deliver_bucket}, COUNT(*), \
               0, 0, 0, 0, 0, 0, 0, 0 \
             FROM ({scans}) AS d WHERE delivered_at IS NOT NULL GROUP BY 2, 3, 4",
            hour = hour_of(backend, "created_at"),
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    for row in rows {
        let hour = match backend {
            DbBackend::Postgres => hour_label(row.try_get::<NaiveDateTime>("", "hour")?.and_utc()),
            _ => row.try_get("", "hour")?,
        };
        let group: Option<String> = row.try_get("", "grp")?;
        let count = |name: &str| -> Result<u64, StoreError> {
            let n: Option<i64> = row.try_get("", name)?;
            Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        };
        let part: i64 = row.try_get("", "part")?;
        let figures = figures
            .entry((hour.clone(), group.clone()))
            .or_insert_with(|| HourFigures {
                hour,
                group,
                ..HourFigures::default()
            });
        // No bucket: not sent (part 0) or not delivered (part 1; PostgreSQL's grouping set
        // counts those too).
        let bucket: Option<i64> = row.try_get("", "bucket")?;
        let bucket = bucket
            .map(|b| {
                u32::try_from(b)
                    .map_err(|_| StoreError::Corrupt(format!("analytics: duration bucket {b}")))
            })
            .transpose()?;
        let total = count("total")?;
        match (part, bucket) {
            (0, bucket) => {
                figures.counts.add(&Counts {
                    accepted: total,
                    sent: count("sent")?,
                    delivered: count("delivered")?,
                    read: count("read_")?,
                    failed: count("failed")?,
                    opened: count("opened")?,
                    clicked: count("clicked")?,
                    skipped: count("skipped")?,
                    tracked: count("tracked")?,
                });
                if let Some(bucket) = bucket {
                    figures.to_send.record_bucket(bucket, total);
                }
            }
            (_, Some(bucket)) => figures.to_deliver.record_bucket(bucket, total),
            (_, None) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Reports scattered over months touch more hours than SQLite takes SELECTs in one
    /// statement.
    #[tokio::test]
    async fn hundreds_of_ranges_are_counted() {
        let db = crate::memory_db("analytics_ranges").await;
        let start = at("2026-01-01T00:00:00Z");
        let ranges: Vec<_> = (0..600)
            .map(|i| {
                (
                    start + TimeDelta::hours(2 * i),
                    start + TimeDelta::hours(2 * i + 1),
                )
            })
            .collect();
        let counted = count_hours(&db, Uuid::nil(), Grouping(None), &ranges)
            .await
            .unwrap();
        assert!(counted.is_empty());
    }

    #[test]
    fn roll_ups_answer_the_whole_hours_that_are_over() {
        let now = at("2026-12-07T10:20:00Z");
        assert_eq!(
            whole_hours(at("2026-12-06T10:20:00Z"), now, now),
            Some((at("2026-12-06T11:00:00Z"), at("2026-12-07T10:00:00Z")))
        );
        // A range starting on the hour starts with it; one ending later stops at now's hour.
        assert_eq!(
            whole_hours(at("2026-12-07T08:00:00Z"), at("2026-12-08T00:00:00Z"), now),
            Some((at("2026-12-07T08:00:00Z"), at("2026-12-07T10:00:00Z")))
        );
        assert_eq!(
            whole_hours(at("2026-12-07T09:10:00Z"), now, now),
            None,
            "no whole hour over"
        );
        assert_eq!(
            hour_label(at("2026-12-07T09:59:59.9Z")),
            "2026-12-07T09:00:00Z"
        );
        assert_eq!("all".parse::<Grouping>(), Ok(Grouping(None)));
        assert_eq!(
            Grouping(Some(GroupBy::Failure)).text().parse::<Grouping>(),
            Ok(Grouping(Some(GroupBy::Failure)))
        );
    }
}
