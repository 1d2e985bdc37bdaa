//! The notifications resource: `POST /v1/notifications`, `GET /v1/notifications/{id}`,
//! `GET /v1/notifications`.

pub mod admin;
pub mod attachments;
pub mod request;
pub mod timeline;
pub mod view;

use crate::extract::PathParams;
use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::NotificationStatus;
use pombo_store::notifications::{self, Created, ListFilter, NewNotification};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Authorized, CanRead, CanSend};
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, Tenant},
    state::AppState,
};
use request::CreateNotification;
use view::{NotificationPage, NotificationView};

/// The routes, each declared once by its handler's `#[utoipa::path]` (route and document).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read))
        .routes(routes!(timeline::list_events))
        .routes(routes!(admin::retry_many))
        .routes(routes!(admin::retry_one))
        .routes(routes!(admin::cancel))
        .routes(routes!(admin::audit_log))
        .routes(routes!(timeline::report_status))
}

/// Accept a notification for delivery.
///
/// The notification is stored before this returns; its workflow then renders and sends it.
/// A repeated request with the same idempotency key returns the original notification
/// (with `Idempotent-Replayed: true`) and sends nothing more.
#[utoipa::path(
    post, path = "/v1/notifications", tag = "notifications",
    request_body = CreateNotification,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, description = "Same as `idempotency_key` in the body")),
    responses(
        (status = 202, description = "Accepted", body = NotificationView),
        (status = 503, description = "Rendering ran past its deadline: the server is busy, retry", body = Problem),
        (status = 413, description = "Body too large", body = Problem),
        (status = 415, description = "Not JSON", body = Problem),
        (status = 422, description = "Invalid fields, or an idempotency key reused for another request", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateNotification>,
) -> Result<Response, ApiError> {
    let header_key = crate::extract::idempotency_header(&headers)?;
    let (row, replayed) = accept(&state, tenant.id, header_key, body, None).await?;
    let location = format!("/v1/notifications/{}", row.id);
    let view = NotificationView::new(
        row,
        None,
        &state.config.temporal.ui_url,
        &state.config.temporal.namespace,
    );
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("uuid paths are valid header values"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Validates and stores a notification, then hands it to the starter: the promise of
/// `POST /v1/notifications`, also kept by a conversation's reply (which passes the
/// conversation's account as `prefer`, the account tried first). Returns the row and
/// whether it is an idempotent replay.
pub(crate) async fn accept(
    state: &AppState,
    tenant_id: Uuid,
    header_key: Option<String>,
    body: CreateNotification,
    prefer: Option<Uuid>,
) -> Result<(notifications::Notification, bool), ApiError> {
    let mut body = body;
    let missing = body.required_fields();
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    // Recipient and channel first: a template's variant depends on the channel.
    let mut target = crate::routing_rules::target::resolve(state, tenant_id, &body).await?;
    if prefer.is_some() {
        target.routing.preferred_provider_id = prefer;
    }
    let template_used = match (&body.template, &body.content) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "template",
                "give `content` or `template`, not both",
            ));
        }
        (Some(template), None) => {
            // A request naming no locale gets its recipient profile's.
            let mut template = template.clone();
            template.locale = template.locale.or(target.locale.clone());
            let (content, used) = crate::templates::content_for_notification(
                state,
                tenant_id,
                &template,
                target.channel,
            )
            .await?;
            body.content = Some(content);
            Some(used)
        }
        (None, _) => None,
    };
    let valid = body
        .validate(
            &state.renderer,
            header_key,
            &state.config.delivery,
            &state.config.outbound,
            &target,
        )
        .await?;
    attachments::check(state, tenant_id, &valid).await?;
    let new = NewNotification {
        id: Uuid::now_v7(),
        tenant_id,
        channel: valid.channel,
        recipient: valid.to,
        content: valid.content,
        data: valid.data,
        priority: valid.priority,
        notification_type: valid.notification_type.map(|t| t.as_str().to_owned()),
        idempotency_key: valid.idempotency_key,
        request_hash: valid.request_hash.clone(),
        max_attempts: valid.max_attempts as i32,
        retry_interval_secs: valid.retry_interval_secs as i64,
        fallback: valid.fallback,
        parent_id: None,
        category: Some(pombo_contract::preferences::category_of(
            valid.category.as_deref(),
            template_used.as_ref().and_then(|t| t.category.as_deref()),
            valid.notification_type.map(|t| t.as_str()),
            valid.priority,
        )),
        tracking: valid
            .tracking
            .or(template_used.as_ref().map(|t| t.tracking))
            .unwrap_or_default(),
        template: template_used.map(|t| (t.id, t.version, t.locale)),
        routing: target.routing,
        send_at: valid.send_at,
        trace_context: pombo_telemetry::current_traceparent(),
    };
    let (row, replayed) = match notifications::create(&state.db, new).await? {
        Created::New(row) => (row, false),
        Created::Existing(row) if row.request_hash == valid.request_hash => (row, true),
        Created::Existing(_) => {
            return Err(ApiError::field(
                "idempotency_key",
                "already used for a different request; use a new key for a new notification",
            ));
        }
    };
    if !replayed {
        metrics::counter!(
            "pombo_notifications_accepted_total",
            "channel" => row.channel.as_str(),
            "priority" => row.priority.as_str(),
        )
        .increment(1);
    }

    // Stored: that is the promise. Its workflow starts in the background (and, should this
    // process die first, from the sweep), so accepting never waits for Temporal.
    if row.dispatched_at.is_none() {
        state.dispatcher.enqueue(row.clone());
    }
    Ok((row, replayed))
}

/// A notification with its status timeline and every send attempt.
#[utoipa::path(
    get, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "Notification id")),
    responses(
        (status = 200, description = "The notification", body = NotificationView),
        (status = 404, description = "No such notification for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let row = owned(&state, &tenant, &id).await?;
    read_view(&state, row.id).await.map(Json)
}

/// The tenant's notification named by a path segment; any other id reads as not found.
pub(crate) async fn owned(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
) -> Result<notifications::Notification, ApiError> {
    let not_found = || ApiError::NotFound(format!("no notification `{id}`"));
    let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
    notifications::get_for_tenant(&state.db, tenant.id, uuid)
        .await?
        .ok_or_else(not_found)
}

/// The full view of one notification: attempts and the first page of its timeline.
pub(crate) async fn read_view(state: &AppState, id: Uuid) -> Result<NotificationView, ApiError> {
    let row = notifications::get(&state.db, id).await?;
    let attempts = notifications::attempts(&state.db, id).await?;
    let events = pombo_store::events::list(&state.db, id, None, 100).await?;
    let mut view = NotificationView::new(
        row,
        Some(attempts),
        &state.config.temporal.ui_url,
        &state.config.temporal.namespace,
    );
    view.events = Some(events.into_iter().map(Into::into).collect());
    Ok(view)
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// The tenant's notifications, newest first, filtered by status and channel.
#[utoipa::path(
    get, path = "/v1/notifications", tag = "notifications",
    params(
        ("status" = Option<NotificationStatus>, Query, description = "Only notifications in this status"),
        ("channel" = Option<pombo_contract::Channel>, Query, description = "Only notifications of this channel"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<Uuid>, Query, description = "`next_cursor` of the previous page"),
        ("since" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Created at or after this RFC 3339 time"),
        ("until" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "Created before this RFC 3339 time"),
    ),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 422, description = "Invalid filter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<NotificationPage>, ApiError> {
    let query: ListQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let status = query.status.as_deref().and_then(|s| {
        s.parse::<NotificationStatus>()
            .map_err(|e| errors.push(FieldError::new("status", e)))
            .ok()
    });
    let channel = query.channel.as_deref().and_then(|c| {
        c.parse::<pombo_contract::Channel>()
            .map_err(|e| errors.push(FieldError::new("channel", e)))
            .ok()
    });
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    let mut time = |field: &'static str, value: Option<&str>| {
        value.and_then(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    errors.push(FieldError::new(
                        field,
                        "an RFC 3339 time, e.g. 2026-11-24T10:00:00Z",
                    ))
                })
                .ok()
        })
    };
    let since = time("since", query.since.as_deref());
    let until = time("until", query.until.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let filter = ListFilter {
        status,
        channel,
        before,
        since,
        until,
        // One more than asked, to know whether another page exists.
        limit: limit + 1,
    };
    let rows = notifications::list(&state.db, tenant.id, &filter).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |r| r.id);
    let data = rows
        .into_iter()
        .map(|n| {
            NotificationView::new(
                n,
                None,
                &state.config.temporal.ui_url,
                &state.config.temporal.namespace,
            )
        })
        .collect();
    Ok(Json(NotificationPage { data, next_cursor }))
}
