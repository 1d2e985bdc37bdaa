//! The instance itself, on the Evolution API server (`apikey`: the server's global key):
//! - create: `POST /instance/create` with `{"instanceName","integration":"WHATSAPP-BAILEYS",
//!   "qrcode":true}`, answered `201 {"instance":{"instanceName","status"},"hash",…}`; a
//!   name in use is `403 … "This name \"x\" is already in use."`, which Pombo reads as
//!   created already (so a retried create is harmless);
//! - state: `GET /instance/connectionState/{instance}`, `{"instance":{"state":"open"|
//!   "connecting"|"close"}}`;
//! - pairing: `GET /instance/connect/{instance}`, `{"pairingCode","code","base64","count"}`
//!   (`code` is the QR's text, `base64` its image);
//! - delete: `DELETE /instance/logout/{instance}` (refused when it is not connected: fine),
//!   then `DELETE /instance/delete/{instance}`.
//!
//! Source: github.com/EvolutionAPI/evolution-api, `src/api/routes/instance.router.ts`;
//! <https://doc.evolution-api.com/v2/api-reference/instance-controller/create-instance-basic>.

use serde_json::{Value, json};

use super::send::{Evolution, PROVIDER, error_from};
use crate::{
    DeliveryError,
    gateway::{Connection, Instance, InstanceOp, Pairing},
    http::transport_error,
};

impl Evolution {
    pub async fn instance(&self, op: InstanceOp) -> Result<Option<Instance>, DeliveryError> {
        match op {
            InstanceOp::Create => {
                let body = json!({
                    "instanceName": self.instance_name(),
                    "integration": "WHATSAPP-BAILEYS",
                    "qrcode": true,
                });
                match self
                    .call(
                        self.http
                            .post(self.url_of(&["instance", "create"]))
                            .json(&body),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err((403, e)) if e.to_string().contains("already in use") => {}
                    Err((_, e)) => return Err(e),
                }
                self.state().await.map(Some)
            }
            InstanceOp::Read => self.state().await.map(Some),
            InstanceOp::Delete => {
                // Logging out an instance that is not connected is refused: nothing to undo.
                let _ = self
                    .call(self.http.delete(self.endpoint_in("instance", "logout")))
                    .await;
                self.call(self.http.delete(self.endpoint_in("instance", "delete")))
                    .await
                    .map_err(|(_, e)| e)?;
                Ok(None)
            }
        }
    }

    pub async fn pairing(&self) -> Result<Pairing, DeliveryError> {
        let answer = self
            .call(self.http.get(self.endpoint_in("instance", "connect")))
            .await
            .map_err(|(_, e)| e)?;
        let text = |name: &str| {
            answer[name]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Ok(Pairing {
            qr: text("code"),
            image: text("base64"),
            pairing_code: text("pairingCode"),
        })
    }

    async fn state(&self) -> Result<Instance, DeliveryError> {
        let answer = self
            .call(
                self.http
                    .get(self.endpoint_in("instance", "connectionState")),
            )
            .await
            .map_err(|(_, e)| e)?;
        let state = answer
            .pointer("/instance/state")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        Ok(Instance {
            name: self.instance_name().to_owned(),
            connection: connection_of(&state),
            gateway_state: state,
        })
    }

    /// One call with the API key (every call of `instance.rs` and `callbacks.rs`): the
    /// answer's JSON, or the refusal with its HTTP status (0 when there was no answer), for
    /// the caller to tell one refusal from another.
    pub(super) async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, (u16, DeliveryError)> {
        let response = request
            .header("apikey", self.api_key.expose())
            .send()
            .await
            .map_err(|e| (0, transport_error(PROVIDER, e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response)
            .await
            .map_err(|e| (0, e))?;
        if !status.is_success() {
            return Err((status.as_u16(), error_from(status, &headers, &body)));
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Evolution's word for an instance's state (`open`, `connecting`, `close`) as a
/// [`Connection`].
pub(super) fn connection_of(state: &str) -> Connection {
    match state {
        "open" => Connection::Connected,
        // Waiting for its QR code, or reconnecting.
        "connecting" => Connection::Pairing,
        _ => Connection::Disconnected,
    }
}
