//! Delivery analytics (`GET /v1/analytics`): how many of a tenant's notifications were
//! accepted, sent, delivered, read and failed, per hour or day and per channel, provider,
//! priority, type or template; their rates; and the time to send and to deliver as
//! percentiles. Computed from the notifications, whole hours from their roll-ups
//! (`pombo_store::analytics`).

use axum::{
    Json,
    extract::{RawQuery, State},
};
use chrono::{DateTime, Duration, Utc};
use pombo_store::analytics::{self, Counts, Durations, GroupBy, Interval};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Authorized, CanRead},
    error::{ApiError, FieldError, Problem},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

/// The longest range: 31 days by the hour, 400 by the day.
const MAX_HOURS: i64 = 31 * 24;
const MAX_DAYS: i64 = 400;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start (RFC 3339), inclusive. Default: a day before `to` (`interval=hour`), 30 days
    /// before it (`interval=day`).
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    pub from: Option<String>,
    /// End (RFC 3339), exclusive. Default: now.
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    pub to: Option<String>,
    /// `hour` (default) or `day`: the buckets, in UTC.
    #[param(value_type = Option<String>, nullable = false)]
    pub interval: Option<String>,
    /// `channel`, `provider`, `priority`, `type`, `template` or `failure` (the reason a
    /// failed notification failed; those that did not fail are the series without a group):
    /// one series per value.
    #[param(value_type = Option<String>, nullable = false)]
    pub group_by: Option<String>,
}

/// Notifications that reached each point (a delivered one was also sent).
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    pub accepted: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// Tracked emails opened and clicked (each once).
    pub opened: u64,
    pub clicked: u64,
    /// Not sent, by the recipient's preferences or the suppression list.
    pub skipped: u64,
    /// Emails sent with an open pixel.
    pub tracked: u64,
}

impl From<Counts> for CountsView {
    fn from(c: Counts) -> Self {
        CountsView {
            accepted: c.accepted,
            sent: c.sent,
            delivered: c.delivered,
            read: c.read,
            failed: c.failed,
            opened: c.opened,
            clicked: c.clicked,
            skipped: c.skipped,
            tracked: c.tracked,
        }
    }
}

/// One bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Its start, UTC.
    pub start: String,
    #[serde(flatten)]
    pub counts: CountsView,
}

/// Shares, 0 to 1 (`null` when nothing to divide by).
#[derive(Debug, Serialize, ToSchema)]
pub struct Rates {
    /// Delivered of sent.
    pub delivery: Option<f64>,
    /// Read of delivered.
    pub read: Option<f64>,
    /// Failed of accepted.
    pub failure: Option<f64>,
    /// Opened of the emails sent with an open pixel (the only ones that can say).
    pub open: Option<f64>,
    /// Clicked of opened.
    pub click: Option<f64>,
}

/// Milliseconds, nearest rank, within 2% (read from log-spaced histograms, so hours roll up;
/// `null` when none).
#[derive(Debug, Serialize, ToSchema)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    fn of(durations: &Durations) -> Self {
        Percentiles {
            count: usize::try_from(durations.count()).unwrap_or(usize::MAX),
            p50: durations.percentile(0.50),
            p95: durations.percentile(0.95),
            p99: durations.percentile(0.99),
        }
    }
}

/// One group's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    /// The group's value (`null` when not grouped, or for notifications without one).
    pub group: Option<String>,
    /// Buckets with at least one notification, oldest first.
    pub buckets: Vec<Bucket>,
    pub totals: CountsView,
    pub rates: Rates,
    /// From acceptance (or the scheduled time) to the provider's acceptance.
    pub time_to_send_ms: Percentiles,
    /// From acceptance (or the scheduled time) to the delivery report.
    pub time_to_deliver_ms: Percentiles,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval: String,
    pub group_by: Option<String>,
    pub series: Vec<SeriesView>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn time(field: &str, text: Option<&str>, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    let text = text?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "an RFC 3339 time, such as 2026-12-07T00:00:00Z",
            ));
            None
        }
    }
}

/// Delivery figures of the tenant's notifications accepted in a range.
///
/// Counts per bucket (hour or day, UTC) of notifications accepted, sent, delivered, read
/// and failed, optionally one series per channel, provider, priority, type or template;
/// the delivery, read and failure rates; and the time to send and to deliver (p50, p95,
/// p99). At most 31 days by the hour, 400 by the day.
#[utoipa::path(
    get, path = "/v1/analytics", tag = "analytics",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "The figures", body = AnalyticsReport),
        (status = 422, description = "Invalid parameters, each named", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn report(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AnalyticsReport>, ApiError> {
    let query: AnalyticsQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let interval = match query.interval.as_deref() {
        None | Some("hour") => Interval::Hour,
        Some("day") => Interval::Day,
        Some(_) => {
            errors.push(FieldError::new("interval", "`hour` or `day`"));
            Interval::Hour
        }
    };
    let group_by = match query.group_by.as_deref() {
        None => None,
        Some("channel") => Some(GroupBy::Channel),
        Some("provider") => Some(GroupBy::Provider),
        Some("priority") => Some(GroupBy::Priority),
        Some("type") => Some(GroupBy::Type),
        Some("template") => Some(GroupBy::Template),
        Some("failure") => Some(GroupBy::Failure),
        Some(_) => {
            errors.push(FieldError::new(
                "group_by",
                "`channel`, `provider`, `priority`, `type`, `template` or `failure`",
            ));
            None
        }
    };
    let to = time("to", query.to.as_deref(), &mut errors).unwrap_or_else(Utc::now);
    let (span, most) = match interval {
        Interval::Hour => (Duration::hours(24), Duration::hours(MAX_HOURS)),
        Interval::Day => (Duration::days(30), Duration::days(MAX_DAYS)),
    };
    let from = time("from", query.from.as_deref(), &mut errors).unwrap_or(to - span);
    if from >= to {
        errors.push(FieldError::new("from", "must be before `to`"));
    } else if to - from > most {
        errors.push(FieldError::new(
            "from",
            format!(
                "at most {} days before `to` by the {}",
                most.num_days(),
                if interval == Interval::Hour {
                    "hour"
                } else {
                    "day"
                }
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let all = analytics::series(&state.db, tenant.id, from, to, interval, group_by).await?;
    let series = all
        .into_iter()
        .map(|s| SeriesView {
            group: s.group,
            buckets: s
                .buckets
                .into_iter()
                .map(|(start, counts)| Bucket {
                    start,
                    counts: counts.into(),
                })
                .collect(),
            rates: Rates {
                delivery: ratio(s.totals.delivered, s.totals.sent),
                read: ratio(s.totals.read, s.totals.delivered),
                failure: ratio(s.totals.failed, s.totals.accepted),
                open: ratio(s.totals.opened, s.totals.tracked),
                click: ratio(s.totals.clicked, s.totals.opened),
            },
            totals: s.totals.into(),
            time_to_send_ms: Percentiles::of(&s.to_send),
            time_to_deliver_ms: Percentiles::of(&s.to_deliver),
        })
        .collect();
    Ok(Json(AnalyticsReport {
        from,
        to,
        interval: if interval == Interval::Hour {
            "hour"
        } else {
            "day"
        }
        .into(),
        group_by: query.group_by,
        series,
    }))
}
