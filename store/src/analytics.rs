//! Delivery analytics from the notifications themselves: counts per time bucket and group
//! (accepted, sent, delivered, read, failed: each a notification that reached that point,
//! by its timestamps), and the time from acceptance to send and to delivery as
//! percentiles. One grouped query for the counts and one for the durations, over the
//! `(tenant_id, created_at)` range; nothing is pre-aggregated yet (README, "Analytics",
//! has the measured cost).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use crate::StoreError;

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
    /// acceptance, sorted.
    pub to_send_ms: Vec<f64>,
    /// The same to the delivery report, sorted.
    pub to_deliver_ms: Vec<f64>,
}

/// The `p`-th percentile (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The tenant's notifications accepted in `[from, to)`, counted per bucket and group.
pub async fn series(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Interval,
    group_by: Option<GroupBy>,
) -> Result<Vec<Series>, StoreError> {
    let backend = db.get_database_backend();
    let group = group_by.map_or("CAST(NULL AS TEXT)", |g| g.column(backend));
    let (bucket, to_send, to_deliver, params) = match backend {
        DbBackend::Postgres => (
            match interval {
                Interval::Hour => {
                    r#"to_char(date_trunc('hour', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')"#
                }
                Interval::Day => {
                    r#"to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T00:00:00Z"')"#
                }
            },
            // EXTRACT is `numeric` since PostgreSQL 14.
            "CAST(EXTRACT(EPOCH FROM (sent_at - COALESCE(send_at, created_at))) * 1000.0 AS DOUBLE PRECISION)",
            "CAST(EXTRACT(EPOCH FROM (delivered_at - COALESCE(send_at, created_at))) * 1000.0 AS DOUBLE PRECISION)",
            ("$1", "$2", "$3"),
        ),
        _ => (
            match interval {
                Interval::Hour => "strftime('%Y-%m-%dT%H:00:00Z', created_at)",
                Interval::Day => "strftime('%Y-%m-%dT00:00:00Z', created_at)",
            },
            "(julianday(sent_at) - julianday(COALESCE(send_at, created_at))) * 86400000.0",
            "(julianday(delivered_at) - julianday(COALESCE(send_at, created_at))) * 86400000.0",
            ("?", "?", "?"),
        ),
    };
    let (p_tenant, p_from, p_to) = params;
    let range = format!(
        "FROM notifications WHERE tenant_id = {p_tenant} AND created_at >= {p_from} AND created_at < {p_to}"
    );
    let values: Vec<Value> = vec![tenant_id.into(), from.into(), to.into()];

    let counts = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT {bucket} AS bucket, {group} AS grp, COUNT(*) AS accepted, \
                 COUNT(sent_at) AS sent, COUNT(delivered_at) AS delivered, COUNT(read_at) AS read_, \
                 SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, \
                 COUNT(opened_at) AS opened, COUNT(clicked_at) AS clicked, \
                 SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END) AS skipped, \
                 COUNT(CASE WHEN track_opens AND sent_at IS NOT NULL THEN 1 END) AS tracked \
                 {range} GROUP BY 1, 2"
            ),
            values.clone(),
        ))
        .await?;
    let mut by_group: BTreeMap<Option<String>, Series> = BTreeMap::new();
    for row in counts {
        let bucket: String = row.try_get("", "bucket")?;
        let group: Option<String> = row.try_get("", "grp")?;
        let count = |name: &str| -> Result<u64, StoreError> {
            let n: Option<i64> = row.try_get("", name)?;
            Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        };
        let counts = Counts {
            accepted: count("accepted")?,
            sent: count("sent")?,
            delivered: count("delivered")?,
            read: count("read_")?,
            failed: count("failed")?,
            opened: count("opened")?,
            clicked: count("clicked")?,
            skipped: count("skipped")?,
            tracked: count("tracked")?,
        };
        let series = by_group.entry(group.clone()).or_insert_with(|| Series {
            group,
            ..Series::default()
        });
        series.totals.add(&counts);
        series.buckets.entry(bucket).or_default().add(&counts);
    }

    for (expr, column, delivered) in [
        (to_send, "sent_at", false),
        (to_deliver, "delivered_at", true),
    ] {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT {group} AS grp, {expr} AS ms {range} AND {column} IS NOT NULL"),
                values.clone(),
            ))
            .await?;
        for row in rows {
            let group: Option<String> = row.try_get("", "grp")?;
            let ms: Option<f64> = row.try_get("", "ms")?;
            if let (Some(series), Some(ms)) = (by_group.get_mut(&group), ms) {
                let list = if delivered {
                    &mut series.to_deliver_ms
                } else {
                    &mut series.to_send_ms
                };
                list.push(ms.max(0.0));
            }
        }
    }
    let mut all: Vec<Series> = by_group.into_values().collect();
    for series in &mut all {
        series.to_send_ms.sort_by(f64::total_cmp);
        series.to_deliver_ms.sort_by(f64::total_cmp);
        if group_by == Some(GroupBy::Template)
            && let Some(hex) = &series.group
        {
            series.group = Uuid::parse_str(hex).ok().map(|id| id.to_string());
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(50.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&values, 1.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
