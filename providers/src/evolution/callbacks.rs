//! The instance's webhook: `POST /webhook/set/{instance}` with
//! `{"webhook":{"enabled":true,"url","headers":{},"byEvents":false,"base64":false,
//! "events":[…]}}` points its events at Pombo, and `GET /webhook/find/{instance}` reads it
//! back (`{"url","enabled","events",…}`, or `null` when none is set). Evolution signs
//! nothing, so the URL carries the account's `webhook_secret` (`?secret=`, which
//! `report.rs` checks). There is no delete: Pombo's webhook is turned off with
//! `enabled: false` (and its URL without the secret).
//!
//! Source: github.com/EvolutionAPI/evolution-api, `src/api/integrations/event/webhook/`
//! (`webhook.router.ts`, `WebhookDto`); <https://doc.evolution-api.com/v2/api-reference/webhook/set>.

use serde_json::json;

use super::send::{Evolution, PROVIDER};
use crate::{
    CallbackSetup, CallbackSetupError, Callbacks, DeliveryError, SetupError,
    callback_setup::{mask_query, strings},
};

/// The events Pombo reads (`events.rs`: the catalogue).
const EVENTS: &[&str] = &[
    "MESSAGES_UPSERT",
    "MESSAGES_UPDATE",
    "MESSAGES_EDITED",
    "MESSAGES_DELETE",
    "CONNECTION_UPDATE",
    "QRCODE_UPDATED",
];

impl Evolution {
    pub async fn callbacks(
        &self,
        setup: CallbackSetup<'_>,
    ) -> Result<Callbacks, CallbackSetupError> {
        let hook = match setup {
            CallbackSetup::Point { url } => {
                let Some(secret) = &self.webhook_secret else {
                    return Err(CallbackSetupError::Setting(SetupError::at(
                        "webhook_secret",
                        "evolution: set `webhook_secret` first: Evolution signs nothing, so \
                         Pombo refuses its calls that do not carry it",
                    )));
                };
                let mut with_secret = url::Url::parse(url).map_err(|e| {
                    DeliveryError::permanent(format!("{PROVIDER}: the callback URL: {e}"))
                })?;
                with_secret
                    .query_pairs_mut()
                    .append_pair("secret", secret.expose());
                self.set_webhook(true, with_secret.as_str()).await?
            }
            CallbackSetup::Read => self.find_webhook().await?,
            CallbackSetup::Remove { url } => {
                let hook = self.find_webhook().await?;
                // The instance has one webhook: disabled only when it is Pombo's (its URL is
                // the callback route, with the secret), and without the secret in it.
                let pointed = hook["url"]
                    .as_str()
                    .is_some_and(|u| u.split('?').next() == Some(url));
                if pointed {
                    self.set_webhook(false, url).await?
                } else {
                    hook
                }
            }
        };
        let enabled = hook["enabled"].as_bool().unwrap_or(false);
        Ok(Callbacks {
            url: hook["url"]
                .as_str()
                .filter(|u| enabled && !u.is_empty())
                .map(|u| mask_query(u, "secret")),
            events: strings(&hook["events"]),
            note: (!enabled && hook.get("url").is_some())
                .then(|| "the webhook is disabled".to_owned()),
        })
    }
}

impl Evolution {
    /// `webhook/find`: the instance's webhook, or `null`.
    async fn find_webhook(&self) -> Result<serde_json::Value, DeliveryError> {
        self.call(self.http.get(self.endpoint_in("webhook", "find")))
            .await
            .map_err(|(_, e)| e)
    }

    /// `webhook/set`: the instance's one webhook, to `url`, for the events Pombo reads.
    async fn set_webhook(
        &self,
        enabled: bool,
        url: &str,
    ) -> Result<serde_json::Value, DeliveryError> {
        let body = json!({
            "webhook": {
                "enabled": enabled,
                "url": url,
                "headers": {},
                "byEvents": false,
                "base64": false,
                "events": EVENTS,
            }
        });
        self.call(
            self.http
                .post(self.endpoint_in("webhook", "set"))
                .json(&body),
        )
        .await
        .map_err(|(_, e)| e)
    }
}
