//! Operators' repairs — Pombo's answer to a dead-letter queue. A notification that failed
//! is a failed workflow, listed by `GET /v1/notifications?status=failed`; from there it is
//! redriven (one, or many by filter with a dry run first) or, while not yet sent,
//! cancelled. Every action lands in the audit log.

use crate::extract::{PathParams, QueryParams};
use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use pombo_contract::{Channel, NotificationStatus};
use pombo_store::{
    audit,
    events::{self, NewEvent},
    notifications::{self, ListFilter, Transition},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::view::NotificationView;
use crate::auth::{Authorized, CanOperate, CanRead};
use crate::{
    error::{ApiError, Problem},
    extract::JsonBody,
    state::AppState,
};

/// Reopens a failed notification and starts its new run. Returns false when it is not
/// failed (any more).
async fn redrive(state: &AppState, id: Uuid) -> Result<bool, ApiError> {
    match notifications::reopen(&state.db, id).await? {
        Transition::Refused { .. } => Ok(false),
        Transition::Applied(row) => {
            events::record(
                &state.db,
                id,
                NewEvent::new(NotificationStatus::Pending, "operator", "redriven"),
            )
            .await?;
            // If Temporal is down now, the dispatch sweep starts it later.
            if let Err(e) = state.dispatcher.dispatch(&row).await {
                tracing::warn!(notification_id = %id, error = %format!("{e:#}"), "redriven notification not started yet; the sweep will start it");
            }
            Ok(true)
        }
    }
}

/// Send a failed notification again.
///
/// Starts a new run of its workflow with the notification's retry rule; earlier attempts
/// and the timeline are kept.
#[utoipa::path(
    post, path = "/v1/notifications/{id}/retry", tag = "operations",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "Redriven; the notification as it is now", body = NotificationView),
        (status = 404, description = "No such notification for this tenant", body = Problem),
        (status = 409, description = "It is not failed", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn retry_one(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = super::owned(&state, &tenant, &id).await?.id;
    if !redrive(&state, id).await? {
        let row = notifications::get(&state.db, id).await?;
        return Err(ApiError::Conflict(format!(
            "only failed notifications can be retried; this one is `{}`",
            row.status
        )));
    }
    audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        "notification.retry",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    super::read_view(&state, id).await.map(Json)
}

/// Which failed notifications to redrive at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRetry {
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only notifications created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only notifications created before this time.
    pub until: Option<DateTime<Utc>>,
    /// Count and list what would be retried, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// At most this many (1 to 1000, default 100); repeat for more.
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRetryResult {
    pub dry_run: bool,
    /// Failed notifications that match (up to `limit`).
    pub matched: usize,
    /// Redriven now (0 on a dry run).
    pub retried: usize,
    pub ids: Vec<Uuid>,
}

/// Redrive failed notifications by filter.
#[utoipa::path(
    post, path = "/v1/notifications/retry", tag = "operations",
    request_body = BulkRetry,
    responses(
        (status = 200, description = "What matched and what was redriven", body = BulkRetryResult),
        (status = 422, description = "Invalid filter", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn retry_many(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    JsonBody(body): JsonBody<BulkRetry>,
) -> Result<Json<BulkRetryResult>, ApiError> {
    let limit = body.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be from 1 to 1000"));
    }
    let rows = notifications::list(
        &state.db,
        tenant.id,
        &ListFilter {
            status: Some(NotificationStatus::Failed),
            channel: body.channel,
            before: None,
            since: body.since,
            until: body.until,
            limit,
        },
    )
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut retried = Vec::new();
    if !body.dry_run {
        for id in &ids {
            if redrive(&state, *id).await? {
                retried.push(*id);
            }
        }
        audit::record(
            &state.db,
            tenant.id,
            &tenant.actor(),
            tenant.key_id,
            "notifications.bulk_retry",
            None,
            json!({
                "channel": body.channel,
                "since": body.since,
                "until": body.until,
                "limit": limit,
                "retried": retried,
            }),
        )
        .await?;
    }
    Ok(Json(BulkRetryResult {
        dry_run: body.dry_run,
        matched: ids.len(),
        retried: retried.len(),
        ids: if body.dry_run { ids } else { retried },
    }))
}

/// Cancel a notification that has not been handed to a provider yet.
#[utoipa::path(
    post, path = "/v1/notifications/{id}/cancel", tag = "operations",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "Cancelled; the notification as it is now", body = NotificationView),
        (status = 404, description = "No such notification for this tenant", body = Problem),
        (status = 409, description = "Already sent, failed or cancelled", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn cancel(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let row = super::owned(&state, &tenant, &id).await?;
    let id = row.id;
    let refused = |current: &str| {
        ApiError::Conflict(format!(
            "only notifications not yet sent can be cancelled; this one is `{current}`"
        ))
    };
    let current = *row.status;
    if !matches!(
        current,
        NotificationStatus::Pending | NotificationStatus::Sending
    ) {
        return Err(refused(current.as_str()));
    }
    if let Transition::Refused { current } =
        notifications::transition(&state.db, id, NotificationStatus::Cancelled, |_| {}).await?
    {
        return Err(refused(current.as_str()));
    }
    events::record(
        &state.db,
        id,
        NewEvent::new(NotificationStatus::Cancelled, "operator", "cancelled"),
    )
    .await?;
    // The row is the truth: a send that starts now refuses a cancelled notification. The
    // workflow's cancellation stops it sooner and shows it as cancelled in Temporal.
    if let Err(e) = state.dispatcher.cancel_workflow(id).await {
        tracing::warn!(notification_id = %id, error = %format!("{e:#}"), "workflow cancellation not delivered");
    }
    audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        "notification.cancel",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    super::read_view(&state, id).await.map(Json)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: Uuid,
    pub actor: String,
    /// The API key that acted (`None` for `pombo-admin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1 to 200, default 50.
    #[param(nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(nullable = false)]
    pub cursor: Option<Uuid>,
}

/// Operators' actions on this tenant's notifications, newest first.
#[utoipa::path(
    get, path = "/v1/audit-log", tag = "operations",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditPage),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn audit_log(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be from 1 to 200"));
    }
    let rows = audit::list(&state.db, tenant.id, query.cursor, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |e| e.id);
    Ok(Json(AuditPage {
        data: rows
            .into_iter()
            .map(|e| AuditEntryView {
                id: e.id,
                actor: e.actor,
                key_id: e.key_id,
                action: e.action,
                target: e.target,
                details: e.details,
                at: e.at,
            })
            .collect(),
        next_cursor,
    }))
}
