//! Telegram through the Bot API: one `POST /bot<token>/sendMessage`.
//!
//! - Making requests, the `{ok, result}` / `{ok, error_code, description, parameters}`
//!   answers and `ResponseParameters.retry_after` (flood control) and
//!   `migrate_to_chat_id`: <https://core.telegram.org/bots/api#making-requests> and
//!   <https://core.telegram.org/bots/api#responseparameters>.
//! - sendMessage (`chat_id`: Integer or String `@channelusername`; `text`: 1-4096
//!   characters; answers the sent Message): <https://core.telegram.org/bots/api#sendmessage>
//! - Message ids are unique within their chat only: <https://core.telegram.org/bots/api#message>
//! - Broadcast limits and 429s: <https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this>
//!
//! The bot token is a path segment: it lives in a [`Secret`] and never reaches an error
//! (transport errors drop the URL, see [`http::transport_error`]).

use std::time::Duration;

use crate::TelegramSettings;
use pombo_contract::{config::Secret, content::TextContent};
use reqwest::{StatusCode, header::HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Accepted, DeliveryError, SetupError, http};

pub const PROVIDER: &str = "bot_api";

/// How this provider names itself in error messages.
pub(super) const NAME: &str = "telegram";

pub struct Telegram {
    pub(super) http: reqwest::Client,
    /// `{base_url}/bot{token}/sendMessage`: secret, since it holds the token.
    send_message_url: Secret,
    /// `{base_url}/bot{token}`, for the other methods (`callbacks.rs`).
    pub(super) bot_url: Secret,
    /// `{base_url}/file/bot{token}`, where `getFile`'s paths are downloaded (`media.rs`).
    pub(super) file_url: Secret,
    /// What Telegram is to send with each update (`X-Telegram-Bot-Api-Secret-Token`).
    pub(super) secret_token: Option<Secret>,
}

impl Telegram {
    pub fn new(settings: &TelegramSettings, http: reqwest::Client) -> Result<Self, SetupError> {
        let token = settings.bot_token.expose().trim();
        if !is_token(token) {
            // Never echo the token, even a malformed one.
            return Err(SetupError::at(
                "bot_token",
                "telegram: bot_token must look like `123456789:AA…` (the bot id, a colon, \
                 then letters, digits, `_` or `-`), as BotFather gives it",
            ));
        }
        let base = settings.base_url.trim_end_matches('/');
        Ok(Telegram {
            http,
            send_message_url: Secret::new(format!("{base}/bot{token}/sendMessage")),
            bot_url: Secret::new(format!("{base}/bot{token}")),
            file_url: Secret::new(format!("{base}/file/bot{token}")),
            secret_token: settings
                .secret_token
                .clone()
                .filter(|s| !s.expose().trim().is_empty()),
        })
    }

    pub async fn send(
        &self,
        notification_id: Uuid,
        to: &str,
        content: &TextContent,
    ) -> Result<Accepted, DeliveryError> {
        let body = json!({
            "chat_id": chat_id(to),
            "text": content.text,
        });
        let response = self
            .http
            .post(self.send_message_url.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| http::transport_error(NAME, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = crate::http::body(NAME, response).await?;
        let answer = serde_json::from_slice::<Answer>(&bytes).ok();

        match answer {
            Some(Answer {
                ok: true,
                result: Some(message),
                ..
            }) if status.is_success() => {
                let chat = message
                    .chat
                    .and_then(|c| chat_id_string(&c.id))
                    .unwrap_or_else(|| to.to_owned());
                Ok(Accepted {
                    provider_message_id: Some(format!("{chat}:{}", message.message_id)),
                })
            }
            Some(Answer { ok: true, .. }) if status.is_success() => {
                tracing::warn!(%notification_id, "telegram answered ok without the sent message");
                Ok(Accepted {
                    provider_message_id: None,
                })
            }
            _ => Err(error(status, &bytes, &headers)),
        }
    }
}

/// `<bot id>:<secret>`, the shape BotFather hands out; anything else (a slash, a space)
/// would also break the URL.
fn is_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && !secret.is_empty()
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A numeric chat id goes as a JSON number, an `@channelusername` as a string.
fn chat_id(to: &str) -> Value {
    match to.parse::<i64>() {
        Ok(id) => Value::from(id),
        Err(_) => Value::from(to),
    }
}

fn chat_id_string(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    result: Option<SentMessage>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Debug, Deserialize)]
struct SentMessage {
    message_id: i64,
    chat: Option<Chat>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: Value,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseParameters {
    migrate_to_chat_id: Option<i64>,
    retry_after: Option<u64>,
}

/// Telegram's documented refusal, `{"ok":false,"error_code","description","parameters"}`.
struct Refusal {
    /// `error_code`, which mirrors the HTTP status (the status when it is missing).
    code: u16,
    description: String,
    parameters: ResponseParameters,
}

impl Refusal {
    fn parse(body: &[u8], status: StatusCode) -> Option<Refusal> {
        let answer = serde_json::from_slice::<Answer>(body).ok()?;
        if answer.ok {
            return None;
        }
        Some(Refusal {
            code: answer.error_code.unwrap_or(status.as_u16()),
            description: answer.description.unwrap_or_default(),
            parameters: answer.parameters.unwrap_or_default(),
        })
    }
}

impl http::DocumentedError for Refusal {
    fn code(&self) -> Option<String> {
        Some(self.code.to_string())
    }
    fn reason(&self) -> Option<String> {
        let mut reason = self.description.trim().to_owned();
        if let Some(new_id) = self.parameters.migrate_to_chat_id {
            reason.push_str(&format!(
                " (the group is now a supergroup: send to chat id {new_id})"
            ));
        }
        Some(reason)
    }
}

/// Classifies a failed answer. Telegram's `error_code` mirrors the HTTP status and decides;
/// `description` says what happened. Anything but Telegram's refusal is classified by its
/// HTTP status and quoted by nothing but that status.
pub(super) fn error(status: StatusCode, body: &[u8], headers: &HeaderMap) -> DeliveryError {
    let answer = http::failed_answer(NAME, status, body, |b| Refusal::parse(b, status));
    let Some(refusal) = &answer.parsed else {
        return answer.classify(headers);
    };
    let class = classify(refusal.code);
    let retry_after = refusal
        .parameters
        .retry_after
        .map(|secs| Duration::from_secs(secs).min(Duration::from_secs(3600)));
    match class {
        Class::Retryable => {
            let e = answer.retryable(headers);
            match retry_after {
                Some(delay) => e.with_retry_after(Some(delay)),
                None => e,
            }
        }
        Class::Permanent => answer.permanent(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Retryable,
    Permanent,
}

fn classify(error_code: u16) -> Class {
    match error_code {
        // Flood control (with `retry_after`), and Telegram's own failures.
        429 | 500..=599 => Class::Retryable,
        // 400 Bad Request (chat not found, text too long, group migrated…),
        // 401 Unauthorized (revoked token), 403 Forbidden (bot blocked, kicked, or not
        // allowed to write), 404 Not Found (malformed token): no retry changes them.
        _ => Class::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_control_and_server_errors_are_transient() {
        assert_eq!(classify(429), Class::Retryable);
        assert_eq!(classify(500), Class::Retryable);
        assert_eq!(classify(502), Class::Retryable);
        for code in [400, 401, 403, 404, 409] {
            assert_eq!(classify(code), Class::Permanent, "{code}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_body_parameters() {
        let answer = json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": { "retry_after": 7 }
        });
        let e = error(
            StatusCode::TOO_MANY_REQUESTS,
            answer.to_string().as_bytes(),
            &HeaderMap::new(),
        );
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message:
                    "telegram answered 429 Too Many Requests: Too Many Requests: retry after 7"
                        .into(),
                code: Some("429".into()),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
    }

    #[test]
    fn migrated_groups_say_where_they_went() {
        let answer = json!({
            "ok": false,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": { "migrate_to_chat_id": -1001234567890i64 }
        });
        let e = error(
            StatusCode::BAD_REQUEST,
            answer.to_string().as_bytes(),
            &HeaderMap::new(),
        );
        assert!(e.is_permanent());
        assert!(e.message().contains("-1001234567890"), "{}", e.message());
    }

    #[test]
    fn chat_ids_are_numbers_unless_usernames() {
        assert_eq!(chat_id("123456789"), json!(123456789));
        assert_eq!(chat_id("-1001234567890"), json!(-1001234567890i64));
        assert_eq!(chat_id("@pombo_news"), json!("@pombo_news"));
    }

    #[test]
    fn tokens_are_checked_without_being_echoed() {
        assert!(is_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!is_token("123456789"));
        assert!(!is_token("abc:def"));
        assert!(!is_token("123:abc/../x"));
        let settings = TelegramSettings {
            bot_token: Secret::new("not a token"),
            secret_token: None,
            base_url: TelegramSettings::default_base_url(),
        };
        let err = Telegram::new(&settings, reqwest::Client::new())
            .err()
            .unwrap();
        assert!(!err.message.contains("not a token"));
    }
}
