//! The event log, read: `GET /v1/events` pages through a tenant's events after a cursor,
//! oldest first, as the database's triggers wrote them with each change
//! (`pombo_store::event_log`); `GET /v1/event-types` lists what they can be. This is what a
//! stream (and a webhook subscription) replays from: a reader that keeps its last cursor
//! misses nothing and sees nothing twice. A cursor older than retention
//! (`retention.event_days`) is answered 410: start again from the current state.

use axum::{
    Json,
    extract::{RawQuery, State},
};
use chrono::{DateTime, Utc};
use pombo_store::event_log::{self, Cursor, Listed, LoggedEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Authorized, CanRead},
    error::{ApiError, FieldError, Problem},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(types))
}

/// One kind of event.
struct EventType {
    name: &'static str,
    description: &'static str,
    /// The names of `data`'s fields, each a UUID unless said.
    fields: &'static [(&'static str, &'static str)],
}

const NOTIFICATION: &[(&str, &str)] = &[
    ("notification_id", "uuid"),
    ("status", "string"),
    ("batch_id", "uuid|null"),
];

const HUB_MESSAGE: &[(&str, &str)] = &[
    ("message_id", "uuid"),
    ("platform_id", "uuid"),
    ("status", "string"),
];

/// Every event the log holds.
const TYPES: &[EventType] = &[
    EventType {
        name: "notification.accepted",
        description: "A notification was accepted (stored, its workflow owed a start).",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.sent",
        description: "The provider accepted the notification.",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.delivered",
        description: "The provider reported it delivered.",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.read",
        description: "The provider reported it read (or opened).",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.failed",
        description: "It failed for good (retries and failover spent, or a final refusal).",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.cancelled",
        description: "It was cancelled before it went out.",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.opened",
        description: "A tracked email was opened for the first time (its open pixel was shown).",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.clicked",
        description: "A tracked link of an email was followed for the first time.",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.skipped",
        description: "It was not sent, by the recipient's preferences or the suppression list (the reason is on its timeline).",
        fields: NOTIFICATION,
    },
    EventType {
        name: "notification.fallback",
        description: "Its fallback on another channel was made.",
        fields: &[
            ("notification_id", "uuid"),
            ("status", "string"),
            ("fallback_id", "uuid"),
        ],
    },
    EventType {
        name: "batch.completed",
        description: "Every recipient of a batch is settled (sent, failed or cancelled).",
        fields: &[("batch_id", "uuid"), ("status", "string")],
    },
    EventType {
        name: "instance.connection_updated",
        description: "A gateway instance (Evolution, WAHA) reported a new connection state: connected, pairing, connecting or disconnected.",
        fields: &[("instance_id", "uuid"), ("connection", "string")],
    },
    EventType {
        name: "instance.qrcode_updated",
        description: "A gateway instance has a new QR code to pair with: read it from GET /v1/providers/{id}/instance.",
        fields: &[("instance_id", "uuid"), ("connection", "string")],
    },
    EventType {
        name: "endpoint.disabled",
        description: "A webhook endpoint was disabled after failing for webhooks.disable_after_secs: enable it again with PATCH /v1/webhook-endpoints/{id}.",
        fields: &[("endpoint_id", "uuid"), ("status", "string")],
    },
    EventType {
        name: "hub.message.forwarded",
        description: "A chat hub platform took a room's message (its forward answered 2xx).",
        fields: HUB_MESSAGE,
    },
    EventType {
        name: "hub.message.failed",
        description: "A chat hub platform refused a room's message for good (a 4xx other than 408 and 429); the queue moved on.",
        fields: HUB_MESSAGE,
    },
    EventType {
        name: "hub.platform.down",
        description: "A chat hub platform could not take what it is owed (unreachable, 5xx, 408, 429): its forwards wait until it is back.",
        fields: &[("platform_id", "uuid"), ("status", "string")],
    },
    EventType {
        name: "hub.platform.up",
        description: "A chat hub platform took a forward again, or pinged the hub: its backlog drains in order.",
        fields: &[("platform_id", "uuid"), ("status", "string")],
    },
    EventType {
        name: "message.received",
        description: "A person's message arrived in a conversation.",
        fields: &[("message_id", "uuid"), ("conversation_id", "uuid")],
    },
    EventType {
        name: "message.updated",
        description: "The person edited their message, or deleted it for everyone (`change`).",
        fields: &[
            ("message_id", "uuid"),
            ("conversation_id", "uuid"),
            ("change", "string"),
        ],
    },
    EventType {
        name: "conversation.opened",
        description: "A conversation was opened, or opened again.",
        fields: &[
            ("conversation_id", "uuid"),
            ("contact_id", "uuid"),
            ("status", "string"),
        ],
    },
    EventType {
        name: "conversation.closed",
        description: "A conversation was closed.",
        fields: &[
            ("conversation_id", "uuid"),
            ("contact_id", "uuid"),
            ("status", "string"),
        ],
    },
];

/// An event of the tenant's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEvent {
    /// The event's id: a webhook delivery's `webhook-id`, and `GET /v1/events/{id}/attempts`.
    pub id: String,
    /// Its position in the log: pass the last one seen as `after` to read on. Opaque
    /// (`"42"` on SQLite, `"981-42"` on PostgreSQL); compare cursors only for equality.
    pub cursor: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    /// The ids it is about, and the status after it (see `GET /v1/event-types`).
    pub data: Value,
}

impl From<LoggedEvent> for LogEvent {
    fn from(e: LoggedEvent) -> Self {
        LogEvent {
            id: event_log::public_id(e.id),
            cursor: Cursor::of(&e).to_string(),
            data: event_log::data(&e),
            kind: e.event_type,
            occurred_at: e.occurred_at,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub data: Vec<LogEvent>,
    /// The cursor to read on from: the last event's, or the one given when none came.
    pub next_cursor: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only events after this cursor (`0`, the default: from the oldest kept).
    #[param(value_type = Option<String>, nullable = false)]
    pub after: Option<String>,
    /// Only these types, comma-separated (`notification.sent,message.received`).
    #[param(value_type = Option<String>, nullable = false)]
    pub types: Option<String>,
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// The tenant's events after a cursor, oldest first.
///
/// Every state change of its notifications, conversations and messages, written in the same
/// transaction as the change. Read on from `next_cursor`: nothing is missed, nothing comes
/// twice. A cursor older than the log keeps (`retention.event_days`, 7 by default) gets a
/// 410: reload the current state, then read on from the newest cursor.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(LogQuery),
    responses(
        (status = 200, description = "A page of events", body = LogPage),
        (status = 410, description = "Events after this cursor are no longer kept", body = Problem),
        (status = 422, description = "Invalid parameter, naming each", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogPage>, ApiError> {
    let query: LogQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let after = match query.after.as_deref().map(|a| a.trim().parse::<Cursor>()) {
        None => Cursor::START,
        Some(Ok(cursor)) => cursor,
        Some(Err(_)) => {
            errors.push(FieldError::new(
                "after",
                "must be a cursor from an earlier event (or 0)",
            ));
            Cursor::START
        }
    };
    let types = split_types(query.types.as_deref());
    check_types("types", &types, &mut errors);
    let (limit, _) = crate::paging::parse(query.limit.as_deref(), None, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match event_log::list(&state.db, tenant.id, after, &types, limit).await? {
        Listed::Events(events) => {
            let next_cursor = events.last().map_or(after, Cursor::of).to_string();
            Ok(Json(LogPage {
                data: events.into_iter().map(LogEvent::from).collect(),
                next_cursor,
            }))
        }
        Listed::Expired { purged_up_to } => Err(ApiError::Gone(format!(
            "events after cursor {after} are no longer kept (deleted up to {purged_up_to}): \
             reload the current state and read on from a newer cursor"
        ))),
    }
}

/// A comma-separated `types` parameter (`notification.sent,message.received`), split.
pub fn split_types(text: Option<&str>) -> Vec<String> {
    text.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Each of `types` the log has no events of, as an error at `field`.
pub fn check_types(field: &str, types: &[String], errors: &mut Vec<FieldError>) {
    for unknown in types.iter().filter(|t| !TYPES.iter().any(|k| k.name == *t)) {
        errors.push(FieldError::new(
            field,
            format!("unknown event type `{unknown}` (see GET /v1/event-types)"),
        ));
    }
}

/// One kind of event, with the JSON schema of its `data` and an example.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEventType {
    #[serde(rename = "type")]
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
    pub example: Value,
}

/// Every type of event the log holds, with the schema of its `data` and an example.
#[utoipa::path(
    get, path = "/v1/event-types", tag = "events",
    responses((status = 200, description = "The event types", body = Vec<LogEventType>)),
    security(("api_key" = ["read"]))
)]
pub async fn types(_tenant: Authorized<CanRead>) -> Json<Vec<LogEventType>> {
    Json(
        TYPES
            .iter()
            .map(|t| {
                let (schema, example) = described(t);
                LogEventType {
                    name: t.name,
                    description: t.description,
                    schema,
                    example: json!({
                        "id": "evt_42",
                        "cursor": "42",
                        "type": t.name,
                        "occurred_at": "2026-12-06T10:00:00Z",
                        "data": example,
                    }),
                }
            })
            .collect(),
    )
}

/// The JSON schema of a type's `data`, and an example of it.
fn described(t: &EventType) -> (Value, Value) {
    const EXAMPLE_ID: &str = "0193a4c2-7b1e-7c3d-9f00-5e6a7b8c9d0e";
    let mut properties = serde_json::Map::new();
    let mut example = serde_json::Map::new();
    for (field, kind) in t.fields {
        let (schema, value) = match *kind {
            "uuid" => (
                json!({"type": "string", "format": "uuid"}),
                json!(EXAMPLE_ID),
            ),
            "uuid|null" => (
                json!({"type": ["string", "null"], "format": "uuid"}),
                Value::Null,
            ),
            _ => (json!({"type": "string"}), json!(example_word(t.name))),
        };
        properties.insert((*field).into(), schema);
        example.insert((*field).into(), value);
    }
    let required: Vec<&str> = t.fields.iter().map(|(f, _)| *f).collect();
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
    });
    (schema, Value::Object(example))
}

/// An example `data` of the event type `name` (what a webhook endpoint's test sends);
/// `None` for a type the log does not have.
pub fn example_data(name: &str) -> Option<Value> {
    TYPES
        .iter()
        .find(|t| t.name == name)
        .map(|t| described(t).1)
}

/// The status word an example of `event` carries.
fn example_word(event: &str) -> &'static str {
    match event {
        "notification.accepted" => "pending",
        "notification.sent" => "sent",
        "notification.delivered" | "notification.fallback" => "delivered",
        "notification.read" => "read",
        "notification.failed" => "failed",
        "notification.cancelled" => "cancelled",
        "notification.skipped" => "skipped",
        "notification.opened" | "notification.clicked" => "read",
        "message.updated" => "edited",
        "conversation.closed" => "closed",
        "batch.completed" => "completed",
        "instance.connection_updated" => "connected",
        "instance.qrcode_updated" => "pairing",
        "endpoint.disabled" => "disabled",
        "hub.message.forwarded" => "delivered",
        "hub.message.failed" => "failed",
        "hub.platform.down" => "down",
        "hub.platform.up" => "up",
        _ => "open",
    }
}
