//! WAHA's webhook events: the catalogue a session's webhook chooses from, with what Pombo
//! does with each, and `session.status` (`payload.status`: `STARTING`, `SCAN_QR_CODE`,
//! `WORKING`, `FAILED`, `STOPPED`), which says where the session stands.
//!
//! Source: <https://waha.devlike.pro/docs/how-to/events/>.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::report::envelope;
use crate::{
    WahaSettings,
    gateway::{GatewayEvent, InstanceUpdate},
    report::{CallbackError, CallbackRequest},
};

const MESSAGES: &str = "a person's message, stored in their conversation (files fetched after)";

/// Every event; `pombo`: what Pombo does with it.
pub const CATALOGUE: &[GatewayEvent] = &[
    GatewayEvent::read(
        "session.status",
        "the session's status changed",
        "the instance's state, kept (`GET /v1/providers/{id}/instance`)",
    ),
    GatewayEvent::read("message", "a message received", MESSAGES),
    GatewayEvent::read(
        "message.reaction",
        "a reaction to a message",
        "stored as a reaction in the person's conversation",
    ),
    GatewayEvent::skipped("message.any", "every message, received or sent"),
    GatewayEvent::read(
        "message.ack",
        "a message's status changed",
        "delivery reports of the messages Pombo sent (sent, delivered, read)",
    ),
    GatewayEvent::skipped("message.waiting", "a message waits for its decryption keys"),
    GatewayEvent::read(
        "message.revoked",
        "a message was deleted for everyone",
        "the person's message loses its text and file (`revoked_at`)",
    ),
    GatewayEvent::read(
        "message.edited",
        "a message was edited",
        "the person's message shows its new text (`edited_at`)",
    ),
    GatewayEvent::skipped("state.change", "the engine's state changed (deprecated)"),
    GatewayEvent::skipped("group.join", "the session joined a group (deprecated)"),
    GatewayEvent::skipped("group.leave", "the session left a group (deprecated)"),
    GatewayEvent::skipped("group.v2.join", "the session joined a group"),
    GatewayEvent::skipped("group.v2.leave", "the session left a group"),
    GatewayEvent::skipped("group.v2.update", "a group's subject or settings changed"),
    GatewayEvent::skipped("group.v2.participants", "people joined or left a group"),
    GatewayEvent::skipped("presence.update", "a contact is online or typing"),
    GatewayEvent::skipped("poll.vote", "a vote in a poll"),
    GatewayEvent::skipped("poll.vote.failed", "a vote that could not be decrypted"),
    GatewayEvent::skipped("chat.archive", "a chat was archived or unarchived"),
    GatewayEvent::skipped("call.received", "a call came in"),
    GatewayEvent::skipped("call.accepted", "a call was accepted"),
    GatewayEvent::skipped("call.rejected", "a call was rejected"),
    GatewayEvent::skipped("label.upsert", "a label was created or changed"),
    GatewayEvent::skipped("label.deleted", "a label was deleted"),
    GatewayEvent::skipped("label.chat.added", "a label was put on a chat"),
    GatewayEvent::skipped("label.chat.deleted", "a label was taken off a chat"),
    GatewayEvent::skipped("event.response", "an answer to an event invitation"),
    GatewayEvent::skipped(
        "event.response.failed",
        "an answer that could not be decrypted",
    ),
    GatewayEvent::skipped("engine.event", "the engine's internal events (debugging)"),
];

/// What a `session.status` of the account's session says of it.
pub fn instance_updates(
    req: &CallbackRequest<'_>,
    settings: &WahaSettings,
) -> Result<Vec<InstanceUpdate>, CallbackError> {
    let Some(envelope) = envelope(req, settings, &["session.status"])? else {
        return Ok(Vec::new());
    };
    let status = envelope
        .payload
        .get("status")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CallbackError::Malformed("no `payload.status` in the event".into()))?;
    // WAHA stamps events in milliseconds.
    let occurred_at = envelope
        .timestamp
        .as_ref()
        .and_then(Value::as_i64)
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    Ok(vec![InstanceUpdate {
        connection: super::instance::connection_of(status),
        gateway_state: status.to_owned(),
        occurred_at,
    }])
}
