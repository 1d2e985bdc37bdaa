//! Read receipts: `POST /{version}/{phone_number_id}/messages` with
//! `{"messaging_product":"whatsapp","status":"read","message_id":"wamid…"}`, answered
//! `{"success":true}`. It marks that message and every earlier one of the chat read, so
//! only the newest is sent. Errors are the send's (Graph API error objects).
//!
//! Source: <https://developers.facebook.com/docs/whatsapp/cloud-api/guides/mark-message-as-read>.

use serde::Deserialize;
use serde_json::json;

use super::send::{PROVIDER, WhatsappCloud, graph_send};
use crate::{DeliveryError, Read, Receipt};

#[derive(Deserialize)]
struct ReadAnswer {
    #[serde(default)]
    success: bool,
}

impl WhatsappCloud {
    pub async fn mark_read(&self, read: Read<'_>) -> Result<Receipt, DeliveryError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": read.newest(),
        });
        let answer: ReadAnswer = graph_send(
            PROVIDER,
            &self.http,
            &self.url,
            &self.access_token,
            &body,
            &[],
        )
        .await?;
        if answer.success {
            Ok(Receipt::Sent)
        } else {
            Err(DeliveryError::permanent(format!(
                "{PROVIDER}: the read receipt was answered without `success: true`"
            )))
        }
    }
}
