//! Read receipts: the `mark_seen` sender action, `POST /{version}/{account_id}/messages`
//! with `{"recipient":{"id":"<IGSID>"},"sender_action":"mark_seen"}`, answered
//! `{"recipient_id":"<IGSID>"}`. It names no message: the conversation is seen up to now.
//! Errors are the send's.
//!
//! Source: <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/sender-actions>.

use serde_json::{Value, json};

use super::send::{Instagram, PROVIDER, RETRYABLE_CODES};
use crate::{DeliveryError, Read, Receipt, whatsapp_cloud::send::graph_send};

impl Instagram {
    pub async fn mark_read(&self, read: Read<'_>) -> Result<Receipt, DeliveryError> {
        let body = json!({
            "recipient": { "id": read.contact },
            "sender_action": "mark_seen",
        });
        let _: Value = graph_send(
            PROVIDER,
            &self.http,
            &self.url,
            &self.access_token,
            &body,
            RETRYABLE_CODES,
        )
        .await?;
        Ok(Receipt::Sent)
    }
}
