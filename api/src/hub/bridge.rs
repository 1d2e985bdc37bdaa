//! Conversations bridged into the hub's rooms (`pombo_store::hub::bridge`): a room's
//! message goes out to each bridged person as a reply in their conversation, through the
//! notification pipeline (so it has the channel's retries, failover and delivery reports),
//! with the idempotency key `hub-forward-<forward id>`: sending one forward twice (the
//! poster's request and the sweep racing, a crash between the notification and the
//! forward's record) makes one notification. `POST /v1/hub/rooms/{id}/conversations`
//! bridges a conversation; what the person writes comes into the room as it is stored.

use axum::{extract::State, http::StatusCode};
use pombo_store::{
    conversations,
    hub::{
        bridge,
        forwards::{self, Forward, Outcome},
        rooms,
    },
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanManage},
    error::{ApiError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

/// Forwards to conversations sent by one sweep at most.
const SWEEP_BATCH: u64 = 100;
/// How old a forward to a conversation is before the sweep takes it (the poster's own
/// request sends it first).
const SWEEP_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The text a bridged person receives: who wrote, on which platform, and what.
fn reply_text(body: &serde_json::Value) -> String {
    let platform = body["platform"].as_str().unwrap_or("hub");
    let sender = match body["senderName"].as_str() {
        Some(name) => name.to_owned(),
        None => format!("#{}", body["senderId"]),
    };
    let text = body["text"].as_str().unwrap_or_default();
    format!("[{platform}] {sender}: {text}")
}

/// Sends each forward (to a bridged conversation) as a reply and records it: delivered
/// once its notification is accepted (the notification carries the rest), refused when the
/// conversation cannot take it (gone, outside the channel's reply window).
pub(crate) async fn send(state: &AppState, pending: Vec<Forward>) {
    for forward in pending {
        let outcome = send_one(state, &forward).await;
        let recorded = match &outcome {
            Ok(()) => forwards::record(&state.db, forward.id, Outcome::Delivered).await,
            Err(ApiError::Validation(_) | ApiError::NotFound(_)) => {
                let error = outcome
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let detail = match outcome {
                    Err(ApiError::Validation(errors)) => errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => error,
                };
                forwards::record(&state.db, forward.id, Outcome::Refused(&detail)).await
            }
            Err(e) => {
                // The database or the notification's acceptance failed now: the sweep
                // sends it again (the idempotency key makes that one notification).
                tracing::warn!(forward = %forward.id, error = %e, "hub forward to a conversation not sent; the sweep retries");
                forwards::record(&state.db, forward.id, Outcome::Retry(&e.to_string())).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(forward = %forward.id, error = %e, "hub forward's outcome not recorded; the sweep retries");
        }
    }
}

async fn send_one(state: &AppState, forward: &Forward) -> Result<(), ApiError> {
    let conversation = conversations::get(&state.db, forward.tenant_id, forward.platform_id)
        .await
        .map_err(ApiError::unless_found("conversation"))?;
    let mut text = reply_text(&forward.body);
    if let Some(file_id) = forward.body[pombo_contract::hub::FILE_ID_FIELD]
        .as_str()
        .and_then(|id| id.parse::<Uuid>().ok())
    {
        let file = pombo_store::files::get_for_tenant(&state.db, forward.tenant_id, file_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("file {file_id} no longer exists")))?;
        let link = state
            .object_store
            .presign_get(&file.object_key)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        text = format!("{text}\n{}", link.url);
    }
    let reply = crate::conversations::Reply {
        content: Some(json!({"text": text})),
        template: None,
        data: None,
        idempotency_key: Some(format!("hub-forward-{}", forward.id)),
    };
    crate::conversations::send_reply(state, &conversation, reply).await?;
    Ok(())
}

/// Sends, in the background, the forwards `ids` (those a post just made).
pub(crate) fn send_in_background(state: &AppState, ids: Vec<Uuid>) {
    if ids.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        match bridge::pending_to_conversations(&state.db, Some(ids), SWEEP_AFTER, SWEEP_BATCH).await
        {
            Ok(pending) => send(&state, pending).await,
            Err(e) => {
                tracing::warn!(error = %e, "hub forwards to conversations not read; the sweep sends them")
            }
        }
    });
}

/// A person's new message in `conversation_id` was stored (and, if the conversation is
/// bridged, with its room message and forwards): wakes the forwarders of the platforms it
/// goes to and sends what other bridged conversations are owed. Best effort: the
/// forwarders' own sweep and this module's [`sweep`] make up for anything missed.
pub(crate) async fn inbound_received(state: &AppState, tenant_id: Uuid, conversation_id: Uuid) {
    match bridge::platforms_reached(&state.db, conversation_id).await {
        Ok(platforms) if !platforms.is_empty() => {
            super::wake(
                state,
                tenant_id,
                platforms,
                pombo_contract::hub::Wake::Forward,
            );
            let state = state.clone();
            tokio::spawn(async move {
                let _ = send_pending(&state, std::time::Duration::ZERO).await;
            });
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(%conversation_id, error = %e, "hub forwarders not woken; their sweep will")
        }
    }
}

/// Forwards to conversations pending for `age` or more, sent (at most [`SWEEP_BATCH`]).
async fn send_pending(state: &AppState, age: std::time::Duration) -> anyhow::Result<usize> {
    let pending = bridge::pending_to_conversations(&state.db, None, age, SWEEP_BATCH).await?;
    let count = pending.len();
    send(state, pending).await;
    Ok(count)
}

/// The sweep: forwards to conversations left pending (a process that died, a failure),
/// sent again. Run beside the API's other sweeps.
pub(crate) async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    send_pending(state, SWEEP_AFTER).await
}

/// A conversation to bridge into a room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeConversation {
    /// A conversation of the tenant's (`GET /v1/conversations`).
    pub conversation_id: Uuid,
}

/// Bridge a conversation (a WhatsApp contact, a Telegram chat, …) into a room: what the
/// person writes comes into the room and on to its platforms; the room's messages go out
/// to the person as replies (`[platform] sender: text`).
#[utoipa::path(
    post, path = "/v1/hub/rooms/{id}/conversations", tag = "hub",
    params(("id" = Uuid, Path, description = "Room id")),
    request_body = BridgeConversation,
    responses(
        (status = 204, description = "Bridged (bridging it again changes nothing)"),
        (status = 404, description = "No such room, or no such conversation, for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn bridge_conversation(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<BridgeConversation>,
) -> Result<StatusCode, ApiError> {
    let room_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("no such room".into()))?;
    let room = rooms::get(&state.db, tenant.id, room_id)
        .await
        .map_err(ApiError::unless_found("room"))?;
    conversations::get(&state.db, tenant.id, body.conversation_id)
        .await
        .map_err(ApiError::unless_found("conversation"))?;
    bridge::link(&state.db, tenant.id, room.id, body.conversation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
