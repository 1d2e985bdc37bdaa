//! Instagram Direct messages through Meta's Graph API (Messenger Platform for Instagram,
//! or the Instagram API with Instagram Login: same request, different host).
//!
//! `POST {base_url}/{api_version}/{account_id}/messages` with
//! `Authorization: Bearer <access_token>` and a JSON body:
//! - text: `{"recipient":{"id":"<IGSID>"},"message":{"text":…}}`
//! - media by URL: `{"recipient":…,"message":{"attachment":{"type":"image"|"video"|"audio"|
//!   "file","payload":{"url":…}}}}` (our `document` is Instagram's `file`, PDF only).
//!
//! Success is `{"recipient_id":"<IGSID>","message_id":"<mid>"}`: the `mid` is what the
//! messaging webhooks (`message_reads`, echoes) name later. Errors are Graph API errors
//! (`{"error":{"message","type","code","error_subcode","fbtrace_id"}}`), classified by code:
//! rate limits (`4`, `17`, `32`, `613`, `80002`, `80006`) and temporary failures (`1`, `2`,
//! `1200`) are retried; `551` (person unavailable), `10` (permission, or subcode `2534022`:
//! outside the 24-hour window), `100` (invalid parameter, e.g. no such user, text over 1000
//! bytes), `190` (token) and the rest are final.
//!
//! Instagram has no message templates, and attachments have no caption: a media message's
//! `caption` and `filename` are not sent (Instagram would not show them).
//!
//! Docs:
//! - <https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message>
//! - <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api>
//! - <https://developers.facebook.com/docs/messenger-platform/instagram/features/attachment-upload>
//! - <https://developers.facebook.com/docs/messenger-platform/error-codes>

use crate::InstagramSettings;
use pombo_contract::{
    config::Secret,
    content::{ChatContent, MediaKind},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Accepted, DeliveryError, SetupError,
    whatsapp_cloud::send::{graph_send, graph_url},
};

pub const PROVIDER: &str = "graph_api";

/// Meta error codes worth another attempt on the Messenger Platform: `1`/`2` (unknown or
/// temporary), `4`/`17`/`32`/`613` (application, user, page and call rate limits),
/// `1200` (temporary send failure), `80002`/`80006` (Instagram and Messenger business use
/// case rate limits).
pub(super) const RETRYABLE_CODES: &[i64] = &[1, 2, 4, 17, 32, 613, 1200, 80002, 80006];

pub struct Instagram {
    pub(super) http: reqwest::Client,
    /// `…/{account_id}/messages`: sends, and sender actions (`read.rs`).
    pub(super) url: String,
    pub(super) access_token: Secret,
}

impl Instagram {
    pub fn new(settings: &InstagramSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let account_id = settings.account_id.trim();
        if account_id.is_empty() || !account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(SetupError::at(
                "account_id",
                "instagram: `account_id` must be the numeric id of the Instagram professional \
                 account (or of its Facebook page)",
            ));
        }
        if settings.access_token.expose().trim().is_empty() {
            return Err(SetupError::at(
                "access_token",
                "instagram: `access_token` is empty",
            ));
        }
        let url = graph_url(
            &settings.base_url,
            &settings.api_version,
            account_id,
            "messages",
        )
        .map_err(|(field, e)| SetupError::at(field, format!("instagram: {e}")))?;
        Ok(Instagram {
            http,
            url,
            access_token: settings.access_token.clone(),
        })
    }

    pub async fn send(
        &self,
        _notification_id: Uuid,
        to: &str,
        content: &ChatContent,
    ) -> Result<Accepted, DeliveryError> {
        let body = message_body(to, content)?;
        let answer: SendAnswer = graph_send(
            PROVIDER,
            &self.http,
            &self.url,
            &self.access_token,
            &body,
            RETRYABLE_CODES,
        )
        .await?;
        let id = answer.message_id.filter(|id| !id.is_empty());
        if id.is_none() {
            tracing::warn!(
                provider = PROVIDER,
                "Instagram accepted a message without a message_id"
            );
        }
        Ok(Accepted {
            provider_message_id: id,
        })
    }
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    message_id: Option<String>,
}

/// The Send API body for `content`, to the Instagram-scoped user id `to`.
fn message_body(to: &str, content: &ChatContent) -> Result<Value, DeliveryError> {
    let message = match (&content.text, &content.media, &content.template) {
        (Some(text), None, None) => json!({ "text": text }),
        (None, Some(media), None) => {
            let kind = match media.kind {
                MediaKind::Image => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "audio",
                MediaKind::Document => "file",
            };
            json!({ "attachment": { "type": kind, "payload": { "url": media.url } } })
        }
        (None, None, Some(_)) => {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: Instagram has no message templates; send `text` or `media`"
            )));
        }
        _ => {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: the content must have exactly one of `text` or `media`"
            )));
        }
    };
    Ok(json!({ "recipient": { "id": to }, "message": message }))
}

#[cfg(test)]
mod tests {
    use pombo_contract::content::{ChatTemplate, Media};

    use super::*;

    #[test]
    fn documents_are_files_and_captions_are_not_sent() {
        let content = ChatContent {
            text: None,
            media: Some(Media {
                url: "https://cdn.example.com/a.pdf".into(),
                kind: MediaKind::Document,
                caption: Some("your invoice".into()),
                filename: Some("a.pdf".into()),
            }),
            template: None,
        };
        assert_eq!(
            message_body("17841400000000001", &content).unwrap(),
            json!({
                "recipient": { "id": "17841400000000001" },
                "message": { "attachment": { "type": "file",
                    "payload": { "url": "https://cdn.example.com/a.pdf" } } }
            })
        );
    }

    #[test]
    fn templates_are_refused() {
        let content = ChatContent {
            text: None,
            media: None,
            template: Some(ChatTemplate {
                name: "t".into(),
                language: "en".into(),
                parameters: vec![],
            }),
        };
        let e = message_body("1", &content).unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(e.code(), None);
    }
}
