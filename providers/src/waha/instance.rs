//! The session itself, on the WAHA server (`X-Api-Key` when it has one):
//! - create: `POST /api/sessions` with `{"name","start":true}`, answered `201` with the
//!   session; a name in use is `422 … "Session 'x' already exists"`, which Pombo reads as
//!   created already (so a retried create is harmless);
//! - state: `GET /api/sessions/{session}`, whose `status` is `STARTING`, `SCAN_QR_CODE`,
//!   `WORKING`, `STOPPED` or `FAILED`;
//! - pairing: `GET /api/{session}/auth/qr?format=raw`, `{"value":"2@…"}` (the QR's text);
//! - delete: `POST /api/sessions/{session}/logout` (refused when it is not paired: fine),
//!   then `DELETE /api/sessions/{session}`.
//!
//! Source: <https://waha.devlike.pro/docs/how-to/sessions/> (sessions, statuses, QR).

use serde_json::{Value, json};

use super::send::{PROVIDER, Waha, error_from};
use crate::{
    DeliveryError,
    gateway::{Connection, Instance, InstanceOp, Pairing},
    http::transport_error,
};

impl Waha {
    pub async fn instance(&self, op: InstanceOp) -> Result<Option<Instance>, DeliveryError> {
        let session_url = format!("{}/api/sessions/{}", self.base, self.session);
        match op {
            InstanceOp::Create => {
                let body = json!({ "name": self.session, "start": true });
                let create = self
                    .http
                    .post(format!("{}/api/sessions", self.base))
                    .json(&body);
                match self.call(create).await {
                    Ok(_) => {}
                    Err((422, e)) if e.to_string().contains("already exists") => {}
                    Err((_, e)) => return Err(e),
                }
                self.state(&session_url).await.map(Some)
            }
            InstanceOp::Read => self.state(&session_url).await.map(Some),
            InstanceOp::Delete => {
                // Logging out a session that is not paired is refused: nothing to undo.
                let _ = self
                    .call(self.http.post(format!("{session_url}/logout")))
                    .await;
                self.call(self.http.delete(&session_url))
                    .await
                    .map_err(|(_, e)| e)?;
                Ok(None)
            }
        }
    }

    pub async fn pairing(&self) -> Result<Pairing, DeliveryError> {
        let url = format!("{}/api/{}/auth/qr?format=raw", self.base, self.session);
        let answer = self.call(self.http.get(url)).await.map_err(|(_, e)| e)?;
        Ok(Pairing {
            qr: answer["value"]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            image: None,
            pairing_code: None,
        })
    }

    async fn state(&self, session_url: &str) -> Result<Instance, DeliveryError> {
        let session = self
            .call(self.http.get(session_url))
            .await
            .map_err(|(_, e)| e)?;
        let status = session["status"].as_str().unwrap_or("UNKNOWN").to_owned();
        Ok(Instance {
            name: self.session.clone(),
            connection: connection_of(&status),
            gateway_state: status,
        })
    }

    /// One call with the API key (every call of `instance.rs` and `callbacks.rs`): the
    /// answer's JSON, or the refusal with its HTTP status (0 when there was no answer), for
    /// the caller to tell one refusal from another.
    pub(super) async fn call(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> Result<Value, (u16, DeliveryError)> {
        if let Some(key) = &self.api_key {
            request = request.header("X-Api-Key", key.expose());
        }
        let response = request
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

/// WAHA's status of a session (`WORKING`, `SCAN_QR_CODE`, `STARTING`, `FAILED`, `STOPPED`)
/// as a [`Connection`].
pub(super) fn connection_of(status: &str) -> Connection {
    match status {
        "WORKING" => Connection::Connected,
        "SCAN_QR_CODE" => Connection::Pairing,
        "STARTING" => Connection::Connecting,
        _ => Connection::Disconnected,
    }
}
