//! Send slots of rate-limited provider accounts, shared by every worker of every process.
//!
//! A generic cell rate algorithm without bursts: each account (`key`) has the earliest time
//! its next send may go out (`next_at`). Reserving takes the later of that time and now as
//! this send's slot, and moves `next_at` one interval past it. Senders then wait for their
//! slot, so a burst of any size leaves at the account's rate, spaced evenly.
//!
//! The reservation is one `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement: on
//! PostgreSQL the conflicting row is locked for the update, so concurrent reservations of
//! one account queue on that row and each sees the one before; on SQLite the statement
//! holds the database's write lock (concurrent writers wait on the busy timeout). Either
//! way no two reservations get the same slot, with no transaction kept open across a
//! round trip.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::StoreError;

/// The slot key of a tenant's account (its id) or a server-wide one (`server:<name>`).
pub fn key(account_id: Option<uuid::Uuid>, name: &str) -> String {
    match account_id {
        Some(id) => id.to_string(),
        None => format!("server:{name}"),
    }
}

/// Reserves the next free slot of `key` for a send at `now`, with sends `interval` apart,
/// and returns the slot's time (`now` or later). `now` is the caller's clock: workers on
/// hosts whose clocks disagree by some skew can bring two sends that much closer.
pub async fn reserve(
    db: &impl ConnectionTrait,
    key: &str,
    interval: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let interval_us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX / 4);
    let now_us = now.timestamp_micros();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO send_slots (key, next_at) VALUES ($1, $2 + $3) \
             ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(send_slots.next_at, $2) + $3 \
             RETURNING next_at"
        }
        // SQLite's two-argument MAX is its GREATEST.
        _ => {
            "INSERT INTO send_slots (key, next_at) VALUES (?1, ?2 + ?3) \
             ON CONFLICT (key) DO UPDATE SET next_at = MAX(send_slots.next_at, ?2) + ?3 \
             RETURNING next_at"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), now_us.into(), interval_us.into()],
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("reserving a send slot returned no row".into()))?;
    let next_at: i64 = row.try_get("", "next_at")?;
    DateTime::from_timestamp_micros(next_at - interval_us)
        .ok_or_else(|| StoreError::Corrupt(format!("send slot of `{key}` is out of range")))
}
