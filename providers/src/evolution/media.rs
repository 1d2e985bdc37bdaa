//! Files people send: a `messages.upsert` names the message by its key; `POST
//! /chat/getBase64FromMediaMessage/{instance}` with `{"message":{"key":{"id"}},
//! "convertToMp4":false}` decrypts it from WhatsApp's CDN and answers `{"mediaType",
//! "fileName", "mimetype", "base64", …}` (the CDN's own URL in the webhook is encrypted
//! and useless without the message's keys). Errors are the send's.
//!
//! Source: github.com/EvolutionAPI/evolution-api, `src/api/routes/chat.router.ts`
//! (`getBase64FromMediaMessage`), `whatsapp.baileys.service.ts`
//! (`getBase64FromMediaMessage`).

use serde::Deserialize;
use serde_json::json;

use super::send::{Evolution, PROVIDER, error_from};
use crate::{
    DeliveryError,
    http::transport_error,
    media::{Fetch, Fetched, from_base64, read},
};

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    mimetype: Option<String>,
}

impl Evolution {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let response = self
            .http
            .post(self.endpoint_in("chat", "getBase64FromMediaMessage"))
            .header("apikey", self.api_key.expose())
            .json(&json!({
                "message": {"key": {"id": fetch.reference}},
                "convertToMp4": false,
            }))
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = crate::http::body(PROVIDER, response).await?;
            return Err(error_from(status, &headers, &body));
        }
        // Base64 is a third larger than the file, plus the JSON around it.
        let cap = fetch.limit.saturating_mul(4) / 3 + 64 * 1024;
        let answer = read(PROVIDER, response, cap).await?;
        let answer: Answer = serde_json::from_slice(&answer.bytes).map_err(|_| {
            DeliveryError::retryable(format!(
                "{PROVIDER}: answered {status} with a body that is not a file"
            ))
        })?;
        let Some(encoded) = answer.base64.filter(|b| !b.is_empty()) else {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: answered without the file's base64"
            )));
        };
        from_base64(PROVIDER, &encoded, answer.mimetype, fetch.limit)
    }
}
