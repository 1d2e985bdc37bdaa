//! What became of deliveries, and sending them again: an endpoint's attempts, an event's
//! attempts, `resend` (one event, again) and `recover` (every failed delivery of an
//! endpoint in a window). A delivery made again is a new delivery of the same event: same
//! body, same `webhook-id`, so a receiver that already has it drops it.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_store::{
    event_log,
    webhooks::deliveries::{self, Attempt, AttemptFilter},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{DeliveryMade, audited, endpoint_id};
use crate::{
    auth::{Authorized, CanOperate, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

/// One POST of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    /// The event's id (`webhook-id`); `null` for a test delivery.
    pub event_id: Option<String>,
    /// 1 for a delivery's first attempt.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The endpoint answered 2xx.
    pub succeeded: bool,
    /// The answer's status; `null` when none came (timeout, refused connection).
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The answer's first KiB.
    pub response: Option<String>,
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            id: a.id,
            delivery_id: a.delivery_id,
            endpoint_id: a.endpoint_id,
            event_id: (a.event_id > 0).then(|| event_log::public_id(a.event_id)),
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            succeeded: a.succeeded,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response: a.response_excerpt,
            error: a.error,
        }
    }
}

/// A page of attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    pub data: Vec<AttemptView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// `succeeded` or `failed`.
    #[param(value_type = Option<String>, nullable = false, pattern = "^(succeeded|failed)$")]
    pub status: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// The endpoint's attempts, newest first.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/attempts", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), AttemptQuery),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptPage),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
        (status = 422, description = "Invalid filter, naming each bad parameter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn endpoint_attempts(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AttemptPage>, ApiError> {
    let id = endpoint_id(&id)?;
    let query: AttemptQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let succeeded = match query.status.as_deref() {
        None => None,
        Some("succeeded") => Some(true),
        Some("failed") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("status", "`succeeded` or `failed`"));
            None
        }
    };
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    pombo_store::webhooks::endpoints::row(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    let rows = deliveries::attempts(
        &state.db,
        tenant.id,
        AttemptFilter {
            endpoint_id: Some(id),
            event_id: None,
            succeeded,
            before,
        },
        limit + 1,
    )
    .await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |a| a.id);
    Ok(Json(AttemptPage {
        data: rows.into_iter().map(AttemptView::from).collect(),
        next_cursor,
    }))
}

fn event_id(id: &str) -> Result<i64, ApiError> {
    event_log::parse_public_id(id).ok_or_else(|| ApiError::NotFound("no such event".into()))
}

/// Every attempt to deliver the event, to any endpoint, newest first.
#[utoipa::path(
    get, path = "/v1/events/{id}/attempts", tag = "webhooks",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    responses(
        (status = 200, description = "The attempts (at most 200)", body = AttemptPage),
        (status = 404, description = "Not an event id", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn event_attempts(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<AttemptPage>, ApiError> {
    let rows = deliveries::attempts(
        &state.db,
        tenant.id,
        AttemptFilter {
            event_id: Some(event_id(&id)?),
            ..Default::default()
        },
        crate::paging::MAX_PAGE,
    )
    .await?;
    Ok(Json(AttemptPage {
        data: rows.into_iter().map(AttemptView::from).collect(),
        next_cursor: None,
    }))
}

/// Which endpoint a resend goes to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// One endpoint (whatever its filters); absent: every enabled endpoint that wants the
    /// event.
    pub endpoint_id: Option<Uuid>,
}

/// The deliveries a resend made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resent {
    pub deliveries: Vec<DeliveryMade>,
}

/// Send an event again, with its id and body unchanged.
#[utoipa::path(
    post, path = "/v1/events/{id}/resend", tag = "webhooks",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    request_body = Resend,
    responses(
        (status = 202, description = "The deliveries made", body = Resent),
        (status = 404, description = "No such event (or endpoint) for this tenant, or the event is past retention", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn resend(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Resend>,
) -> Result<Response, ApiError> {
    let event = event_id(&id)?;
    let made = deliveries::resend(&state.db, tenant.id, event, body.endpoint_id)
        .await
        .map_err(ApiError::unless_found("event or webhook endpoint"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Resent {
            deliveries: made
                .into_iter()
                .map(|delivery_id| DeliveryMade { delivery_id })
                .collect(),
        }),
    )
        .into_response())
}

/// The window of a recover.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// Deliveries made from then (at most `webhooks.recover_max_days` ago, 14).
    pub since: DateTime<Utc>,
    /// … until then (default: now).
    pub until: Option<DateTime<Utc>>,
}

/// What a recover made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed deliveries made again, one per event.
    pub deliveries: usize,
}

/// Deliver again every event whose delivery to this endpoint failed within the window
/// (and has not succeeded since): what to do after fixing a receiver, or after enabling a
/// disabled endpoint.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/recover", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = Recover,
    responses(
        (status = 202, description = "The deliveries made", body = Recovered),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
        (status = 422, description = "A window outside the last `webhooks.recover_max_days`", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn recover(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<Recover>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    let now = Utc::now();
    let days = state.config.webhooks.recover_max_days;
    let until = body.until.unwrap_or(now);
    let mut errors = Vec::new();
    if body.since < now - chrono::Duration::days(i64::from(days)) {
        errors.push(FieldError::new(
            "since",
            format!("at most {days} days ago (webhooks.recover_max_days)"),
        ));
    }
    if until <= body.since {
        errors.push(FieldError::new("until", "must be after `since`"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let made = deliveries::recover(&state.db, tenant.id, id, body.since, until)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    audited(
        &state,
        &tenant,
        "webhook_endpoint.recovered",
        id,
        json!({"since": body.since, "until": until, "deliveries": made}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Recovered { deliveries: made })).into_response())
}
