//! The bot's webhook: `setWebhook` with `{"url","secret_token","allowed_updates"}` points
//! updates at Pombo (Telegram then sends the token in `X-Telegram-Bot-Api-Secret-Token`,
//! which `inbound.rs` checks), `deleteWebhook` stops it, and `getWebhookInfo` reads it back: `{"url",
//! "pending_update_count","last_error_message","allowed_updates",…}`. Both answer
//! `{"ok":true,"result":…}`, or `{"ok":false,"error_code","description"}` (the send's
//! errors).
//!
//! Source: <https://core.telegram.org/bots/api#setwebhook>, `#deletewebhook`,
//! `#getwebhookinfo`.

use serde_json::{Value, json};

use super::send::{NAME, Telegram, error};
use crate::{
    CallbackSetup, CallbackSetupError, Callbacks, DeliveryError, SetupError,
    callback_setup::strings, http,
};

/// The updates `inbound.rs` reads.
const ALLOWED_UPDATES: &[&str] = &["message", "edited_message"];

impl Telegram {
    pub async fn callbacks(
        &self,
        setup: CallbackSetup<'_>,
    ) -> Result<Callbacks, CallbackSetupError> {
        if let CallbackSetup::Point { url } = setup {
            let Some(secret) = &self.secret_token else {
                return Err(CallbackSetupError::Setting(SetupError::at(
                    "secret_token",
                    "telegram: set `secret_token` first: Pombo refuses updates that do not carry it",
                )));
            };
            let body = json!({
                "url": url,
                "secret_token": secret.expose(),
                "allowed_updates": ALLOWED_UPDATES,
            });
            self.call("setWebhook", &body).await?;
        }
        if let CallbackSetup::Remove { .. } = setup {
            // A bot has one webhook: removing it is `deleteWebhook`, whatever it pointed at.
            self.call("deleteWebhook", &json!({})).await?;
        }
        let info = self.call("getWebhookInfo", &json!({})).await?;
        let text = |name: &str| {
            info.get(name)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let pending = info["pending_update_count"].as_u64().unwrap_or(0);
        let note = match text("last_error_message") {
            Some(last) => Some(format!("{pending} updates waiting; last error: {last}")),
            None if pending > 0 => Some(format!("{pending} updates waiting")),
            None => None,
        };
        Ok(Callbacks {
            url: text("url"),
            events: strings(&info["allowed_updates"]),
            note,
        })
    }

    /// Calls the Bot API method `method`; its `result`.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.bot_url.expose()))
            .json(body)
            .send()
            .await
            .map_err(|e| http::transport_error(NAME, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = http::body(NAME, response).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(answer) if status.is_success() && answer["ok"] == true => {
                Ok(answer["result"].clone())
            }
            _ => Err(error(status, &bytes, &headers)),
        }
    }
}
