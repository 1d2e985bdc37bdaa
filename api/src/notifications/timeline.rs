//! A notification's delivery timeline: `GET /v1/notifications/{id}/events`, and
//! `PATCH /v1/notifications/{id}/status` for connectors of our own that report delivery
//! (seed 000's connectors) with the tenant's API key instead of a provider signature.

use crate::extract::{PathParams, QueryParams};
use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use pombo_contract::NotificationStatus;
use pombo_store::events::{self, Event, NewEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::view::NotificationView;
use crate::auth::{Authorized, CanOperate, CanRead};
use crate::{
    error::{ApiError, Problem},
    extract::JsonBody,
    state::AppState,
};

/// One event in a notification's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    /// The status this event reports.
    pub status: NotificationStatus,
    /// Who reported it: `worker`, `provider:<account>`, `connector`, `operator`.
    pub source: String,
    /// When it happened, by the reporter's clock.
    pub occurred_at: DateTime<Utc>,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// The reporter's own status word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            id: e.id,
            status: *e.status,
            source: e.source,
            occurred_at: e.occurred_at,
            received_at: e.received_at,
            provider_message_id: e.provider_message_id,
            raw_status: e.raw_status,
            reason: e.reason,
            code: e.code,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// 1 to 200, default 50.
    #[param(nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<Uuid>,
}

/// The timeline of a notification, oldest first.
#[utoipa::path(
    get, path = "/v1/notifications/{id}/events", tag = "notifications",
    params(("id" = String, Path, description = "Notification id"), EventQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 404, description = "No such notification for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list_events(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let id = super::owned(&state, &tenant, &id).await?.id;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be from 1 to 200"));
    }
    let rows = events::list(&state.db, id, query.cursor, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |e| e.id);
    Ok(Json(EventPage {
        data: rows.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// What a connector may report: what happened after the send. `sent` is the worker's to
/// record (the provider accepted the message), not a report's.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportedStatus {
    Delivered,
    Read,
    Failed,
}

impl From<ReportedStatus> for pombo_contract::delivery::DeliveryStatus {
    fn from(status: ReportedStatus) -> Self {
        use pombo_contract::delivery::DeliveryStatus;
        match status {
            ReportedStatus::Delivered => DeliveryStatus::Delivered,
            ReportedStatus::Read => DeliveryStatus::Read,
            ReportedStatus::Failed => DeliveryStatus::Failed,
        }
    }
}

/// A delivery report from a connector of the tenant's own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub status: ReportedStatus,
    /// When it happened; default now.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub reason: Option<String>,
    pub code: Option<String>,
}

/// Report a delivery status (for connectors of your own).
///
/// The status only moves forward; an older or repeated report is kept in the timeline
/// and changes nothing else.
#[utoipa::path(
    patch, path = "/v1/notifications/{id}/status", tag = "notifications",
    params(("id" = String, Path, description = "Notification id")),
    request_body = StatusReport,
    responses(
        (status = 200, description = "Recorded; the notification as it is now", body = NotificationView),
        (status = 404, description = "No such notification for this tenant", body = Problem),
        (status = 422, description = "Invalid report", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn report_status(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
    JsonBody(report): JsonBody<StatusReport>,
) -> Result<Json<NotificationView>, ApiError> {
    let row = super::owned(&state, &tenant, &id).await?;
    let id = row.id;
    if report
        .occurred_at
        .is_some_and(|t| t > Utc::now() + chrono::Duration::minutes(5))
    {
        return Err(ApiError::field("occurred_at", "is in the future"));
    }
    let current: NotificationStatus = *row.status;
    if matches!(
        current,
        NotificationStatus::Pending | NotificationStatus::Sending
    ) {
        return Err(ApiError::Conflict(format!(
            "the notification is `{current}`: it has not been sent yet"
        )));
    }
    let status =
        pombo_contract::delivery::DeliveryStatus::from(report.status).as_notification_status();
    state
        .dispatcher
        .record_and_signal(
            &state.db,
            id,
            NewEvent {
                provider_message_id: row.provider_message_id.clone(),
                reason: report.reason,
                code: report.code,
                occurred_at: report.occurred_at,
                ..NewEvent::new(status, "connector", status.as_str())
            },
        )
        .await?;
    super::read_view(&state, id).await.map(Json)
}
