//! `POST /_fake/inbound`: a person writes to one of the fakes' accounts. The fake builds the
//! webhook its provider would send, signed with the account's secret from
//! [`crate::accounts`], and posts it to `callback_url` (Pombo's callback route for that
//! account), answering with what Pombo answered (its status and body). So `make run` shows a conversation without
//! a phone: `{"provider": "whatsapp_cloud" | "twilio" | "evolution" | "waha",
//! "callback_url": "http://127.0.0.1:8080/v1/callbacks/whatsapp_cloud/whatsapp-cloud",
//! "from": "+5511987650001", "name": "Ana", "text": "Oi"}`, optionally with a file
//! (`"file": {"content_type": "image/png", "base64": "…"}`, WhatsApp Cloud), which the
//! fake keeps and serves as Meta's media endpoints do.

use axum::{Json, http::StatusCode, response::IntoResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{FakeCallback, evolution, twilio, waha, whatsapp_cloud};

#[derive(Debug, Deserialize)]
pub struct Writes {
    pub provider: String,
    pub callback_url: String,
    /// The person's number, E.164.
    pub from: String,
    #[serde(default)]
    pub name: Option<String>,
    pub text: String,
    /// A file the person sends with it (WhatsApp Cloud only): kept by the fake, which sends
    /// its media id as Meta does, `text` becoming its caption.
    #[serde(default)]
    pub file: Option<PersonFile>,
}

/// A file a person sends: `{"content_type": "image/jpeg", "base64": "…"}`.
#[derive(Debug, Deserialize)]
pub struct PersonFile {
    pub content_type: String,
    pub base64: String,
}

/// The webhook `provider` sends when `writes.from` writes, and the URL it goes to; a file
/// is named by `media_id` (kept by the fake).
pub fn webhook(writes: &Writes, media_id: Option<&str>) -> Result<(String, FakeCallback), String> {
    let digits = writes.from.trim_start_matches('+');
    let name = writes.name.as_deref().unwrap_or("Someone");
    let now = chrono::Utc::now();
    let id = format!("{:x}", now.timestamp_nanos_opt().unwrap_or_default());
    let url = writes.callback_url.clone();
    Ok(match writes.provider.as_str() {
        "whatsapp_cloud" => (
            url,
            whatsapp_cloud::inbound_webhook(
                Some(crate::accounts::WHATSAPP_APP_SECRET),
                crate::accounts::WHATSAPP_PHONE_NUMBER_ID,
                (digits, name),
                &format!("wamid.fake{id}"),
                now.timestamp(),
                match (media_id, &writes.file) {
                    (Some(media_id), Some(file)) => {
                        let kind = file
                            .content_type
                            .split('/')
                            .next()
                            .filter(|k| matches!(*k, "image" | "video" | "audio"))
                            .unwrap_or("document");
                        (
                            kind,
                            json!({"id": media_id, "mime_type": file.content_type,
                                   "caption": writes.text}),
                        )
                    }
                    _ => ("text", json!({"body": writes.text})),
                },
            ),
        ),
        "twilio" => {
            let callback = twilio::inbound_message(
                crate::accounts::TWILIO_AUTH_TOKEN,
                &url,
                crate::accounts::TWILIO_ACCOUNT_SID,
                &format!("SM{:0>32}", &id[id.len().saturating_sub(32)..]),
                (&writes.from, crate::accounts::TWILIO_FROM),
                &writes.text,
                &[],
            );
            (url, callback)
        }
        "evolution" => (
            evolution::webhook_url(&url, Some(crate::accounts::EVOLUTION_WEBHOOK_SECRET)),
            evolution::messages_upsert(
                "pombo",
                &format!("3EB0{}", id.to_uppercase()),
                (digits, name),
                ("conversation", json!({"conversation": writes.text})),
                now.timestamp(),
            ),
        ),
        "waha" => (
            url,
            waha::message_event(
                Some(crate::accounts::WAHA_WEBHOOK_SECRET),
                "default",
                (&format!("{digits}@c.us"), name),
                &id.to_uppercase(),
                &writes.text,
                None,
                now.timestamp(),
            ),
        ),
        other => {
            return Err(format!(
                "no person can write through `{other}` here: whatsapp_cloud, twilio, evolution or waha"
            ));
        }
    })
}

pub async fn writes(
    axum::extract::State(state): axum::extract::State<crate::FakeState>,
    Json(writes): Json<Writes>,
) -> impl IntoResponse {
    let refuse = |reason: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": reason})),
        )
    };
    let media_id = match &writes.file {
        None => None,
        Some(_) if writes.provider != "whatsapp_cloud" => {
            return refuse("a person sends files through `whatsapp_cloud` only here".into());
        }
        Some(file) => {
            use base64::Engine;
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(file.base64.trim())
            else {
                return refuse("`file.base64` is not base64".into());
            };
            let id = format!("{}", chrono::Utc::now().timestamp_micros());
            state.media.put(&id, bytes, &file.content_type);
            Some(id)
        }
    };
    let (url, callback) = match webhook(&writes, media_id.as_deref()) {
        Ok(built) => built,
        Err(reason) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": reason})),
            );
        }
    };
    let client = reqwest::Client::new();
    let mut request = client
        .post(&url)
        .header("content-type", &callback.content_type)
        .body(callback.body);
    for (name, value) in &callback.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        // Pombo's own answer, status and body, as the provider would have seen it.
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = response.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            (status, Json(body))
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": format!("posting to {url}: {e}")})),
        ),
    }
}
