//! Read receipts: `POST /chat/markMessageAsRead/{instance}` with `apikey` and
//! `{"readMessages":[{"remoteJid":"5511…@s.whatsapp.net","fromMe":false,"id":"3EB0…"}]}`
//! (the keys of the messages read, as `messages.upsert` gave them), answered
//! `201 {"message":"Read messages","read":"success"}`. Errors are the send's.
//!
//! Source: github.com/EvolutionAPI/evolution-api, `src/api/routes/chat.router.ts`
//! (`markMessageAsRead`, `ReadMessageDto`), <https://doc.evolution-api.com/v2/api-reference/chat-controller/mark-as-read>.

use serde_json::{Value, json};

use super::send::{Evolution, PROVIDER, error_from};
use crate::{DeliveryError, Read, Receipt, http::transport_error, whatsapp_jid::chat_id};

impl Evolution {
    pub async fn mark_read(&self, read: Read<'_>) -> Result<Receipt, DeliveryError> {
        let jid = chat_id(read.contact, "s.whatsapp.net");
        let keys: Vec<Value> = read
            .message_ids
            .iter()
            .map(|id| json!({ "remoteJid": jid, "fromMe": false, "id": id }))
            .collect();
        let response = self
            .http
            .post(self.endpoint_in("chat", "markMessageAsRead"))
            .header("apikey", self.api_key.expose())
            .json(&json!({ "readMessages": keys }))
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
