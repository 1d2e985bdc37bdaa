//! Evolution's webhook events: the catalogue an instance's webhook chooses from (its
//! `Events` enum), with what Pombo does with each, and the two that say where the instance
//! stands. `connection.update` has `data.state` (`open`, `connecting`, `close`, with
//! `statusReason`); `qrcode.updated` means a new QR code waits to be scanned (pairing).
//!
//! Source: github.com/EvolutionAPI/evolution-api, `src/api/types/wa.types.ts` (`Events`),
//! `whatsapp.baileys.service.ts` (`connection.update`, `qrcode.updated`);
//! <https://doc.evolution-api.com/v2/en/configuration/webhooks>.

use serde_json::Value;

use super::report::{date_time, envelope};
use crate::{
    EvolutionSettings,
    gateway::{GatewayEvent, InstanceUpdate},
    report::{CallbackError, CallbackRequest},
};

const REPORTS: &str = "delivery reports of the messages Pombo sent (sent, delivered, read, failed)";
const MESSAGES: &str = "a person's message, stored in their conversation (files fetched after)";
const STATE: &str = "the instance's state, kept (`GET /v1/providers/{id}/instance`)";

/// Every event, in the configuration's spelling; `pombo`: what Pombo does with it.
pub const CATALOGUE: &[GatewayEvent] = &[
    GatewayEvent::skipped("APPLICATION_STARTUP", "the Evolution server started"),
    GatewayEvent::read(
        "QRCODE_UPDATED",
        "a new QR code to pair the instance",
        STATE,
    ),
    GatewayEvent::skipped("MESSAGES_SET", "the message history loaded after pairing"),
    GatewayEvent::read(
        "MESSAGES_UPSERT",
        "a message received (or sent from the phone)",
        MESSAGES,
    ),
    GatewayEvent::read(
        "MESSAGES_EDITED",
        "a message was edited",
        "the person's message shows its new text (`edited_at`)",
    ),
    GatewayEvent::read("MESSAGES_UPDATE", "a message's status changed", REPORTS),
    GatewayEvent::read(
        "MESSAGES_DELETE",
        "a message was deleted for everyone",
        "the person's message loses its text and file (`revoked_at`)",
    ),
    GatewayEvent::skipped("SEND_MESSAGE", "the instance sent a message"),
    GatewayEvent::skipped("CONTACTS_SET", "the contacts loaded after pairing"),
    GatewayEvent::skipped("CONTACTS_UPSERT", "contacts added"),
    GatewayEvent::skipped("CONTACTS_UPDATE", "contacts changed"),
    GatewayEvent::skipped(
        "PRESENCE_UPDATE",
        "a contact is online, typing or recording",
    ),
    GatewayEvent::skipped("CHATS_SET", "the chats loaded after pairing"),
    GatewayEvent::skipped("CHATS_UPSERT", "chats added"),
    GatewayEvent::skipped("CHATS_UPDATE", "chats changed"),
    GatewayEvent::skipped("CHATS_DELETE", "chats deleted"),
    GatewayEvent::skipped("GROUPS_UPSERT", "groups joined or created"),
    GatewayEvent::skipped("GROUP_UPDATE", "a group's subject or settings changed"),
    GatewayEvent::skipped("GROUP_PARTICIPANTS_UPDATE", "people joined or left a group"),
    GatewayEvent::read(
        "CONNECTION_UPDATE",
        "the instance's connection to WhatsApp changed",
        STATE,
    ),
    GatewayEvent::skipped("LABELS_EDIT", "a label (WhatsApp Business) changed"),
    GatewayEvent::skipped(
        "LABELS_ASSOCIATION",
        "a label was put on or taken off a chat",
    ),
    GatewayEvent::skipped("CALL", "a call came in"),
    GatewayEvent::skipped("TYPEBOT_START", "a Typebot flow started"),
    GatewayEvent::skipped("TYPEBOT_CHANGE_STATUS", "a Typebot session changed"),
];

/// What a `connection.update` or `qrcode.updated` of the account's instance says of it.
pub fn instance_updates(
    req: &CallbackRequest<'_>,
    settings: &EvolutionSettings,
) -> Result<Vec<InstanceUpdate>, CallbackError> {
    let Some((event, body)) = envelope(req, settings, &["connection.update", "qrcode.updated"])?
    else {
        return Ok(Vec::new());
    };
    if event == "qrcode.updated" {
        return Ok(vec![InstanceUpdate {
            connection: crate::gateway::Connection::Pairing,
            gateway_state: "qrcode".into(),
            occurred_at: date_time(&body),
        }]);
    }
    let state = body
        .pointer("/data/state")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CallbackError::Malformed("no `data.state` in the update".into()))?;
    Ok(vec![InstanceUpdate {
        connection: super::instance::connection_of(state),
        gateway_state: state.to_owned(),
        occurred_at: date_time(&body),
    }])
}
