//! STOP and START by message: a person who sends one of the tenant's opt-out words alone
//! (STOP, PARAR, SAIR, UNSUBSCRIBE…; `keywords` in `PUT /v1/preferences`) to a tenant's SMS
//! or WhatsApp number gets their number on the suppression list for that channel (reason
//! `unsubscribed`), so nothing more reaches it there, alerts included, as carriers require;
//! START (VOLTAR…) lifts that entry again, and only that one (a bounce stays). The message
//! itself is stored in the conversation like any other.

use pombo_contract::{
    Channel,
    conversation::InboundMessage,
    preferences::{self, Keyword},
};
use pombo_store::{StoreError, suppressions};
use uuid::Uuid;

use crate::state::AppState;

/// Acts on `message` if it is a keyword of the tenant on `channel`.
pub async fn heard(
    state: &AppState,
    tenant_id: Uuid,
    channel: Channel,
    message: &InboundMessage,
) -> Result<(), StoreError> {
    if !matches!(channel, Channel::Sms | Channel::Whatsapp) {
        return Ok(());
    }
    let Some(text) = message.text.as_deref() else {
        return Ok(());
    };
    // Cheap first: a word of at most a few letters, before reading the tenant's lists.
    if text.trim().chars().count() > 32 {
        return Ok(());
    }
    let defaults = pombo_store::preferences::defaults(&state.db, tenant_id).await?;
    match preferences::keyword(text, defaults.keywords.as_ref()) {
        Some(Keyword::Stop) => {
            let added = suppressions::add(
                &state.db,
                tenant_id,
                channel,
                &message.from,
                suppressions::reasons::UNSUBSCRIBED,
                Some(format!("they sent `{}`", text.trim())),
                None,
            )
            .await?;
            tracing::info!(%channel, added, "an opt-out keyword suppressed a number");
        }
        Some(Keyword::Start) => {
            let lifted = suppressions::remove_address(
                &state.db,
                tenant_id,
                channel,
                &message.from,
                suppressions::reasons::UNSUBSCRIBED,
            )
            .await?;
            tracing::info!(%channel, lifted, "an opt-in keyword lifted a number's opt-out");
        }
        None => {}
    }
    Ok(())
}
