//! The session's webhooks: `GET /api/sessions/{session}` reads its `config.webhooks`
//! (`[{"url","events","hmac":{"key"},"retries",…}]`), and `PUT /api/sessions/{session}` with
//! `{"config":…}` writes them back with Pombo's: its URL, the events `report.rs` and
//! `inbound.rs` read, the account's `webhook_secret` as the HMAC key (`X-Webhook-Hmac`,
//! SHA-512), and WAHA's retries, or without Pombo's to stop it. The rest of the session's
//! configuration and its other webhooks are kept. WAHA restarts the session to apply it (a few seconds offline; the
//! pairing stays).
//!
//! Source: <https://waha.devlike.pro/docs/how-to/webhooks/> ("Webhooks", "HMAC
//! authentication", "Retries"), <https://waha.devlike.pro/docs/how-to/sessions/> (`PUT`).

use serde_json::{Value, json};

use super::send::Waha;
use crate::{CallbackSetup, CallbackSetupError, Callbacks, SetupError, callback_setup::strings};

const EVENTS: &[&str] = &[
    "message",
    "message.ack",
    "message.reaction",
    "message.revoked",
    "message.edited",
    "session.status",
];

impl Waha {
    pub async fn callbacks(
        &self,
        setup: CallbackSetup<'_>,
    ) -> Result<Callbacks, CallbackSetupError> {
        let url = format!("{}/api/sessions/{}", self.base, self.session);
        let mut session = self.call(self.http.get(&url)).await.map_err(|(_, e)| e)?;
        let mut mine = None;
        if let CallbackSetup::Point { url: callback } | CallbackSetup::Remove { url: callback } =
            setup
        {
            let hook = match setup {
                CallbackSetup::Point { .. } => {
                    let Some(secret) = &self.webhook_secret else {
                        return Err(CallbackSetupError::Setting(SetupError::at(
                            "webhook_secret",
                            "waha: set `webhook_secret` first: it is the HMAC key Pombo checks \
                             the session's webhooks with",
                        )));
                    };
                    Some(json!({
                        "url": callback,
                        "events": EVENTS,
                        "hmac": { "key": secret.expose() },
                        "retries": { "policy": "exponential", "delaySeconds": 2, "attempts": 15 },
                    }))
                }
                _ => None,
            };
            let mut config = match session.get("config") {
                Some(c @ Value::Object(_)) => c.clone(),
                _ => json!({}),
            };
            // The session's other webhooks stay; Pombo's is replaced, or taken out.
            let mut hooks: Vec<Value> = config["webhooks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|h| h["url"] != callback)
                .collect();
            hooks.extend(hook);
            config["webhooks"] = Value::Array(hooks);
            session = self
                .call(self.http.put(&url).json(&json!({ "config": config })))
                .await
                .map_err(|(_, e)| e)?;
            mine = Some(callback.to_owned());
        }
        let hooks = session["config"]["webhooks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let shown = hooks
            .iter()
            .find(|h| mine.as_deref().is_none_or(|m| h["url"] == m))
            .cloned()
            .unwrap_or(Value::Null);
        let status = session["status"].as_str().unwrap_or("unknown");
        let others = hooks.len().saturating_sub(usize::from(!shown.is_null()));
        Ok(Callbacks {
            url: shown["url"].as_str().map(str::to_owned),
            events: strings(&shown["events"]),
            note: Some(match others {
                0 => format!("session {status}"),
                n => format!("session {status}; {n} other webhooks"),
            }),
        })
    }
}
