//! Read receipts: `POST /api/sendSeen` with `X-Api-Key` (when the server has one) and
//! `{"session":"default","chatId":"5511…@c.us","messageIds":["false_5511…@c.us_AAA…"]}`
//! (the ids the `message` events gave), answered `201`. Errors are the send's.
//!
//! Source: <https://waha.devlike.pro/docs/how-to/chats/> ("Send seen"), OpenAPI schema
//! `SendSeenRequest`.

use serde_json::json;

use super::send::{PROVIDER, Waha, error_from};
use crate::{DeliveryError, Read, Receipt, http::transport_error, whatsapp_jid::chat_id};

impl Waha {
    pub async fn mark_read(&self, read: Read<'_>) -> Result<Receipt, DeliveryError> {
        let body = json!({
            "session": self.session,
            "chatId": chat_id(read.contact, "c.us"),
            "messageIds": read.message_ids,
        });
        let mut request = self
            .http
            .post(format!("{}/api/sendSeen", self.base))
            .json(&body);
        if let Some(key) = &self.api_key {
            request = request.header("X-Api-Key", key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;
        if !status.is_success() {
            return Err(error_from(status, &headers, &body));
        }
        Ok(Receipt::Sent)
    }
}
