//! Scenario 14, analytics at scale: `GET /v1/analytics`'s queries over a tenant with a
//! million notifications spread over 30 days (issue 30: p99 ≤ 200 ms for a 30-day daily
//! breakdown). One real notification is sent and its row copied (new ids, times spread
//! over the 30 days, a tenth failed, half delivered), written in chunks as the store writes
//! rows; then the daily breakdown is asked for, ungrouped and by channel, and timed. The
//! first ask of each rolls the 30 days up (timed apart); before each later ask, 20 old
//! notifications get a read report, so every ask also brings its roll-ups up to date.
//!
//! Only when named (`POMBO_BENCH_ONLY=analytics`): writing the rows takes minutes.

use std::time::{Duration, Instant};

use chrono::Utc;
use pombo_contract::NotificationStatus;
use pombo_store::{
    analytics::{self, GroupBy, Interval},
    entities::notification,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, sea_query::Expr,
};

use crate::stack::Stack;

pub struct Figures {
    pub rows: usize,
    pub write: Duration,
    /// The first ask of the 30-day daily breakdown, ungrouped and by channel: the roll-up.
    pub first_ungrouped: Duration,
    pub first_by_channel: Duration,
    /// The later asks, `asks` of each, sorted.
    pub ungrouped: Vec<Duration>,
    pub by_channel: Vec<Duration>,
}

const MINUTES_IN_30_DAYS: i64 = 30 * 24 * 60;

pub async fn run(stack: &Stack, rows: usize, asks: usize) -> anyhow::Result<Figures> {
    stack
        .poster()
        .post(&crate::sms(0, "analytics template", "low"))
        .await;
    stack.wait_sent(1, Duration::from_secs(120)).await?;
    let template = notification::Entity::find()
        .filter(notification::Column::SentAt.is_not_null())
        .one(stack.db())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no sent notification to copy"))?;
    let tenant_id = template.tenant_id;

    // Copies of the sent row: already started (no starter claims them), their times spread
    // over the last 30 days.
    let started = Instant::now();
    let now = Utc::now();
    // SQLite binds at most 32,766 values a statement; a row has about 50 columns.
    const CHUNK: usize = 500;
    let mut written = 0;
    // Delivered copies spread over the 30 days, for the read reports between asks.
    let mut to_read = Vec::new();
    while written < rows {
        let chunk: Vec<notification::ActiveModel> = (written..(written + CHUNK).min(rows))
            .map(|i| {
                let created = now
                    - chrono::Duration::minutes(i as i64 % MINUTES_IN_30_DAYS)
                    - chrono::Duration::seconds(1);
                let mut row = template.clone();
                row.id = uuid::Uuid::now_v7();
                row.idempotency_key = None;
                row.created_at = created;
                row.updated_at = created;
                row.dispatched_at = Some(created);
                row.sending_at = Some(created);
                row.send_at = None;
                if i % 10 == 0 {
                    row.status = pombo_contract::NotificationStatus::Failed.into();
                    row.sent_at = None;
                    row.failed_at = Some(created + chrono::Duration::seconds(2));
                    row.last_error = Some(format!("HTTP 400 from twilio ({})", i % 3));
                } else {
                    row.sent_at =
                        Some(created + chrono::Duration::milliseconds(300 + (i % 700) as i64));
                    row.delivered_at = (i % 2 == 0).then(|| created + chrono::Duration::seconds(3));
                    if row.delivered_at.is_some() {
                        row.status = pombo_contract::NotificationStatus::Delivered.into();
                        if i % 502 == 0 {
                            to_read.push(row.id);
                        }
                    }
                }
                // Every column set, as an insert of a new row wants.
                row.into_active_model().reset_all()
            })
            .collect();
        written += chunk.len();
        notification::Entity::insert_many(chunk)
            .exec_without_returning(stack.db())
            .await?;
    }
    let write = started.elapsed();
    // What autovacuum does after such a write (it is off on some servers, this machine's
    // included): without statistics the planner guesses at a million rows it thinks absent.
    if stack.db().get_database_backend() == DbBackend::Postgres {
        for table in ["notifications", "event_log"] {
            stack
                .db()
                .execute_unprepared(&format!("ANALYZE {table}"))
                .await?;
        }
    }

    let from = now - chrono::Duration::days(30);
    let mut unread = to_read.into_iter();
    let mut ask = async |group_by: Option<GroupBy>| {
        let db = stack.db().clone();
        {
            let mut took = Vec::with_capacity(asks + 1);
            for _ in 0..=asks {
                // A read report as the store writes it (the bench holds no key to open rows).
                let now = Utc::now();
                for id in unread.by_ref().take(20) {
                    notification::Entity::update_many()
                        .col_expr(
                            notification::Column::Status,
                            Expr::value(NotificationStatus::Read.as_str()),
                        )
                        .col_expr(notification::Column::ReadAt, Expr::value(now))
                        .col_expr(notification::Column::UpdatedAt, Expr::value(now))
                        .filter(notification::Column::Id.eq(id))
                        .exec(&db)
                        .await?;
                }
                let at = Instant::now();
                let series =
                    analytics::series(&db, tenant_id, from, now, Interval::Day, group_by).await?;
                took.push(at.elapsed());
                let accepted: u64 = series.iter().map(|s| s.totals.accepted).sum();
                anyhow::ensure!(accepted as usize >= rows, "counted {accepted} of {rows}");
            }
            let first = took.remove(0);
            took.sort();
            Ok::<_, anyhow::Error>((first, took))
        }
    };
    let (first_ungrouped, ungrouped) = ask(None).await?;
    let (first_by_channel, by_channel) = ask(Some(GroupBy::Channel)).await?;
    // The copies go: later scenarios of the same run count what they sent.
    let _ = notification::Entity::delete_many()
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::CreatedAt.lt(now))
        .exec(stack.db())
        .await;
    analytics::forget(stack.db(), tenant_id).await?;
    Ok(Figures {
        rows,
        write,
        first_ungrouped,
        first_by_channel,
        ungrouped,
        by_channel,
    })
}
