//! Webhook subscriptions (`/v1/webhook-endpoints`): a tenant's endpoints, to which Pombo
//! POSTs the events of its log, signed the Standard Webhooks way (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), with retries on a schedule, a circuit
//! breaker, disabling after days of failure, resend and recover ([`deliveries`]).
//!
//! Each delivery is a workflow (`pombo_workflows::WebhookDeliveryWorkflow`), started by a
//! worker from the deliveries `pombo_store::webhooks::deliveries::fan_out` makes: nothing
//! here sends. The endpoint's URL passes the outbound rule on every write and again on
//! every connection (the worker's guarded client).

pub mod deliveries;

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    webhooks::{DeliveryStatus, FilterCondition},
};
use pombo_store::{
    audit,
    webhooks::{
        deliveries as store_deliveries,
        endpoints::{self, Endpoint, EndpointChange, NewEndpoint},
    },
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanManage, CanOperate, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(secret))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(deliveries::endpoint_attempts))
        .routes(routes!(deliveries::recover))
        .routes(routes!(deliveries::event_attempts))
        .routes(routes!(deliveries::resend))
}

/// Longest URL accepted.
const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 500;
const MAX_HEADERS: usize = 20;
const MAX_HEADER_VALUE: usize = 1024;
const MAX_SCHEDULE_STEPS: usize = 20;
const MAX_RATE_LIMIT: u32 = 1000;
const MAX_FILTER_CONDITIONS: usize = 10;
/// Two days: longer steps than Svix's longest (10 h) are allowed, not unbounded ones.
const MAX_SCHEDULE_STEP_SECS: u64 = 2 * 24 * 3600;

/// Headers Pombo sets itself, which an endpoint's custom headers may not replace.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// What an endpoint has been through.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointHealth {
    /// Failed attempts in a row (0 after a success).
    pub consecutive_failures: u32,
    /// The first failure since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries wait until then: the endpoint failed `webhooks.failures_before_pause`
    /// times in a row (one probe attempt goes when the pause ends).
    pub paused_until: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Deliveries by status.
    pub pending: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types it receives (empty: all; see `GET /v1/event-types`).
    pub event_types: Vec<String>,
    /// Channels whose events it receives (empty: all; events without a channel, such as
    /// a gateway's, go only to endpoints without this filter).
    pub channels: Vec<Channel>,
    /// Conditions on the delivered body, all of which must hold (empty: none).
    pub filter: Vec<FilterCondition>,
    /// Custom headers sent with every delivery, their values masked.
    pub headers: BTreeMap<String, String>,
    pub enabled: bool,
    /// Events one at a time, in log order: a failing one holds the rest back until it
    /// succeeds or its retries are spent.
    pub ordered: bool,
    /// Its own retry schedule (seconds before each retry); `null`: the server's
    /// (`webhooks.retry_schedule_secs`).
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// Attempts per second at most (evenly spaced, across every worker); `null`: no limit.
    pub rate_limit: Option<u32>,
    pub health: EndpointHealth,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn view(state: &AppState, e: Endpoint) -> Result<EndpointView, ApiError> {
    let counts = store_deliveries::counts(&state.db, e.id).await?;
    Ok(view_with(e, counts))
}

/// The view of `e` with its deliveries counted. Counted before the endpoint is read (as
/// `read` does), the endpoint's health is at least as new as the counts: an attempt
/// records both in one transaction.
fn view_with(e: Endpoint, counts: std::collections::HashMap<DeliveryStatus, u64>) -> EndpointView {
    let count = |s: DeliveryStatus| counts.get(&s).copied().unwrap_or(0);
    EndpointView {
        id: e.id,
        url: e.url,
        description: e.description,
        event_types: e.event_types,
        channels: e.channels,
        filter: e.filter,
        headers: e
            .headers
            .into_keys()
            .map(|name| (name, "********".to_owned()))
            .collect(),
        enabled: e.enabled,
        ordered: e.ordered,
        retry_schedule_secs: e.retry_schedule_secs,
        rate_limit: e.rate_limit,
        health: EndpointHealth {
            consecutive_failures: e.consecutive_failures,
            failing_since: e.failing_since,
            paused_until: e.paused_until,
            last_success_at: e.last_success_at,
            last_failure_at: e.last_failure_at,
            last_error: e.last_error,
            pending: count(DeliveryStatus::Pending),
            succeeded: count(DeliveryStatus::Succeeded),
            failed: count(DeliveryStatus::Failed),
        },
        disabled_at: e.disabled_at,
        disabled_reason: e.disabled_reason,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

/// A new endpoint: its secret is shown in this answer and by `GET …/secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_` + base64: verify deliveries with it (any Standard Webhooks library).
    pub secret: String,
}

/// A new webhook endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `https://…` on a public host (plain `http` and private hosts only when listed in
    /// `outbound.allowed_private_targets`).
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Event types to receive (default: all).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Channels to receive events of (default: all).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Conditions on the delivered body (`{"path": "data.status", "equals": "failed"}`,
    /// `{"path": "type", "in": […]}`), all of which must hold; at most 10.
    #[serde(default)]
    pub filter: Vec<FilterCondition>,
    /// Sent with every delivery (at most 20; not `content-type`, `webhook-*` and the like).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `whsec_` + base64 of 24 to 64 bytes; generated when absent.
    pub secret: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub ordered: bool,
    /// Seconds before each retry (at most 20 steps of at most two days).
    pub retry_schedule_secs: Option<Vec<u64>>,
    /// Attempts per second at most, 1 to 1000 (default: no limit).
    #[schema(minimum = 1, maximum = 1000)]
    pub rate_limit: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Changes to an endpoint; lists and headers, when given, replace the current ones.
/// Enabling a disabled endpoint clears its failures and delivers the events it missed
/// meanwhile (those the log still keeps; what failed before it was disabled is sent again
/// with `POST …/recover`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub filter: Option<Vec<FilterCondition>>,
    pub headers: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub ordered: Option<bool>,
    /// `null` goes back to the server's schedule.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<u64>>)]
    pub retry_schedule_secs: Option<Option<Vec<u64>>>,
    /// `null` lifts the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub rate_limit: Option<Option<u32>>,
}

/// A field given as `null` is `Some(None)`, an absent one `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn check_url(state: &AppState, url: &str, errors: &mut Vec<FieldError>) {
    if url.len() > MAX_URL {
        errors.push(FieldError::new(
            "url",
            format!("at most {MAX_URL} characters"),
        ));
    } else if let Err(refused) = state.config.outbound.check_url(url) {
        errors.push(FieldError::new("url", refused.to_string()));
    }
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            format!("at most {MAX_DESCRIPTION} characters"),
        ));
    }
}

fn check_channels(given: &[String], errors: &mut Vec<FieldError>) -> Vec<Channel> {
    let mut channels = Vec::new();
    for name in given {
        match name.parse::<Channel>() {
            Ok(c) if !channels.contains(&c) => channels.push(c),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new("channels", e)),
        }
    }
    channels
}

fn check_filter(filter: &[FilterCondition], errors: &mut Vec<FieldError>) {
    if filter.len() > MAX_FILTER_CONDITIONS {
        errors.push(FieldError::new(
            "filter",
            format!("at most {MAX_FILTER_CONDITIONS} conditions"),
        ));
    }
    for (i, condition) in filter.iter().enumerate() {
        if let Some(problem) = condition.problem() {
            errors.push(FieldError::new(format!("filter[{i}]"), problem));
        }
    }
}

fn check_event_types(given: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    crate::events::check_types("event_types", &given, errors);
    let mut types = given;
    types.sort();
    types.dedup();
    types
}

fn check_headers(headers: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if headers.len() > MAX_HEADERS {
        errors.push(FieldError::new(
            "headers",
            format!("at most {MAX_HEADERS} headers"),
        ));
    }
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            errors.push(FieldError::new(field, "not a header name"));
        } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
            errors.push(FieldError::new(field, "set by Pombo itself"));
        } else if value.len() > MAX_HEADER_VALUE || HeaderValue::from_str(value).is_err() {
            errors.push(FieldError::new(
                field,
                format!("a header value of visible characters, at most {MAX_HEADER_VALUE}"),
            ));
        }
    }
}

fn check_rate_limit(rate: u32, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_RATE_LIMIT).contains(&rate) {
        errors.push(FieldError::new(
            "rate_limit",
            format!("from 1 to {MAX_RATE_LIMIT} attempts per second"),
        ));
    }
}

fn check_schedule(schedule: &[u64], errors: &mut Vec<FieldError>) {
    if schedule.len() > MAX_SCHEDULE_STEPS || schedule.iter().any(|s| *s > MAX_SCHEDULE_STEP_SECS) {
        errors.push(FieldError::new(
            "retry_schedule_secs",
            format!(
                "at most {MAX_SCHEDULE_STEPS} steps of at most {MAX_SCHEDULE_STEP_SECS} seconds"
            ),
        ));
    }
}

/// A secret a tenant gives, checked: `whsec_` + base64 of 24 to 64 bytes.
fn check_secret(secret: &str, errors: &mut Vec<FieldError>) {
    let ok = secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .is_some_and(|key| (24..=64).contains(&key.len()));
    if !ok {
        errors.push(FieldError::new(
            "secret",
            "`whsec_` followed by the base64 of 24 to 64 bytes",
        ));
    }
}

/// A fresh secret: 32 random bytes.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

fn endpoint_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such webhook endpoint".into()))
}

async fn audited(
    state: &AppState,
    tenant: &crate::auth::Tenant,
    action: &str,
    id: Uuid,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        action,
        Some(id.to_string()),
        details,
    )
    .await?;
    Ok(())
}

/// Create a webhook endpoint.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints", tag = "webhooks",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created; the answer holds its secret", body = CreatedEndpoint),
        (status = 409, description = "The tenant has `webhooks.max_endpoints_per_tenant` endpoints", body = Problem),
        (status = 422, description = "Invalid fields (a URL the outbound rule refuses, an unknown event type, …)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<CreateEndpoint>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    check_url(&state, &body.url, &mut errors);
    check_description(&body.description, &mut errors);
    let event_types = check_event_types(body.event_types, &mut errors);
    let channels = check_channels(&body.channels, &mut errors);
    check_filter(&body.filter, &mut errors);
    check_headers(&body.headers, &mut errors);
    if let Some(secret) = &body.secret {
        check_secret(secret, &mut errors);
    }
    if let Some(schedule) = &body.retry_schedule_secs {
        check_schedule(schedule, &mut errors);
    }
    if let Some(rate) = body.rate_limit {
        check_rate_limit(rate, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let limit = state.config.webhooks.max_endpoints_per_tenant;
    if endpoints::count(&state.db, tenant.id).await? >= limit {
        return Err(ApiError::Conflict(format!(
            "a tenant has at most {limit} webhook endpoints (webhooks.max_endpoints_per_tenant)"
        )));
    }
    let secret = body.secret.unwrap_or_else(new_secret);
    let endpoint = endpoints::create(
        &state.db,
        NewEndpoint {
            tenant_id: tenant.id,
            url: body.url,
            description: body.description,
            event_types,
            channels,
            filter: body.filter,
            headers: body.headers,
            secret: secret.clone(),
            enabled: body.enabled,
            ordered: body.ordered,
            rate_limit: body.rate_limit,
            retry_schedule_secs: body.retry_schedule_secs,
        },
    )
    .await?;
    audited(
        &state,
        &tenant,
        "webhook_endpoint.created",
        endpoint.id,
        json!({"url": endpoint.url}),
    )
    .await?;
    let endpoint = view(&state, endpoint).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint { endpoint, secret }),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// A page of endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointPage {
    pub data: Vec<EndpointView>,
    pub next_cursor: Option<String>,
}

/// The tenant's webhook endpoints, oldest first.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints", tag = "webhooks",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of endpoints", body = EndpointPage),
        (status = 422, description = "Invalid paging, naming each bad parameter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EndpointPage>, ApiError> {
    let query: ListQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let (limit, after) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = endpoints::list(&state.db, tenant.id, after, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |e| e.id);
    let mut data = Vec::with_capacity(rows.len());
    for e in rows {
        data.push(view(&state, e).await?);
    }
    Ok(Json(EndpointPage { data, next_cursor }))
}

/// One webhook endpoint, with its health.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let id = endpoint_id(&id)?;
    let counts = store_deliveries::counts(&state.db, id).await?;
    let endpoint = endpoints::get(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such webhook endpoint".into()))?;
    Ok(Json(view_with(endpoint, counts)))
}

/// Change a webhook endpoint (enable it again, filter other events, …).
#[utoipa::path(
    patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<UpdateEndpoint>,
) -> Result<Json<EndpointView>, ApiError> {
    let id = endpoint_id(&id)?;
    let mut errors = Vec::new();
    if let Some(url) = &body.url {
        check_url(&state, url, &mut errors);
    }
    if let Some(description) = &body.description {
        check_description(description, &mut errors);
    }
    let event_types = body.event_types.map(|t| check_event_types(t, &mut errors));
    let channels = body.channels.map(|c| check_channels(&c, &mut errors));
    if let Some(filter) = &body.filter {
        check_filter(filter, &mut errors);
    }
    if let Some(headers) = &body.headers {
        check_headers(headers, &mut errors);
    }
    if let Some(Some(schedule)) = &body.retry_schedule_secs {
        check_schedule(schedule, &mut errors);
    }
    if let Some(Some(rate)) = body.rate_limit {
        check_rate_limit(rate, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let updated = endpoints::update(
        &state.db,
        tenant.id,
        id,
        EndpointChange {
            url: body.url,
            description: body.description,
            event_types,
            channels,
            filter: body.filter,
            headers: body.headers,
            enabled: body.enabled,
            ordered: body.ordered,
            rate_limit: body.rate_limit,
            retry_schedule_secs: body.retry_schedule_secs,
        },
    )
    .await
    .map_err(ApiError::unless_found("webhook endpoint"))?;
    let endpoint = updated.endpoint;
    audited(
        &state,
        &tenant,
        "webhook_endpoint.updated",
        id,
        json!({"url": endpoint.url, "enabled": endpoint.enabled, "resumed": updated.resumed}),
    )
    .await?;
    Ok(Json(view(&state, endpoint).await?))
}

/// Delete a webhook endpoint, its deliveries and their attempts.
#[utoipa::path(
    delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let id = endpoint_id(&id)?;
    endpoints::delete(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    audited(&state, &tenant, "webhook_endpoint.deleted", id, json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointSecret {
    pub secret: String,
    /// After a rotation, the old secret also signs until then.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// The endpoint's signing secret.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The secret", body = EndpointSecret),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn secret(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<Json<EndpointSecret>, ApiError> {
    let row = endpoints::row(&state.db, tenant.id, endpoint_id(&id)?)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    let now = Utc::now();
    let secrets = endpoints::secrets(&row, now)?;
    Ok(Json(EndpointSecret {
        secret: secrets.current,
        previous_secret_until: row.previous_secret_until.filter(|u| *u > now),
    }))
}

/// A rotation: the new secret, or one made up.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    pub secret: Option<String>,
}

/// Rotate the signing secret: the new one signs from now, the old one beside it for
/// `webhooks.secret_overlap_secs` (24 h), so receivers can switch without a gap.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/secret/rotate", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = RotateSecret,
    responses(
        (status = 200, description = "The new secret", body = EndpointSecret),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
        (status = 422, description = "Not a `whsec_` secret", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<RotateSecret>,
) -> Result<Json<EndpointSecret>, ApiError> {
    let id = endpoint_id(&id)?;
    if let Some(secret) = &body.secret {
        let mut errors = Vec::new();
        check_secret(secret, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    let secret = body.secret.unwrap_or_else(new_secret);
    let until = Utc::now()
        + chrono::Duration::seconds(
            i64::try_from(state.config.webhooks.secret_overlap_secs).unwrap_or(i64::MAX / 1000),
        );
    endpoints::rotate_secret(&state.db, tenant.id, id, secret.clone(), until)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    audited(
        &state,
        &tenant,
        "webhook_endpoint.secret_rotated",
        id,
        json!({}),
    )
    .await?;
    Ok(Json(EndpointSecret {
        secret,
        previous_secret_until: Some(until),
    }))
}

/// A test delivery: an example event of this type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEvent {
    /// See `GET /v1/event-types`.
    pub event_type: String,
}

/// A delivery made.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryMade {
    pub delivery_id: Uuid,
}

/// Send an example event of a chosen type to the endpoint, through the same signed
/// delivery as a real one (its `webhook-id` starts `evt_test_`); its attempts are listed
/// like any others.
#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    request_body = TestEvent,
    responses(
        (status = 202, description = "The delivery is on its way", body = DeliveryMade),
        (status = 404, description = "No such endpoint for this tenant", body = Problem),
        (status = 422, description = "Unknown event type", body = Problem),
    ),
    security(("api_key" = ["operate"]))
)]
pub async fn send_test(
    State(state): State<AppState>,
    tenant: Authorized<CanOperate>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<TestEvent>,
) -> Result<Response, ApiError> {
    let id = endpoint_id(&id)?;
    let Some(data) = crate::events::example_data(&body.event_type) else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "event_type",
            format!(
                "unknown event type `{}` (see GET /v1/event-types)",
                body.event_type
            ),
        )]));
    };
    endpoints::row(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("webhook endpoint"))?;
    let delivery_id =
        store_deliveries::test(&state.db, tenant.id, id, &body.event_type, data).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryMade { delivery_id })).into_response())
}
