//! `POST /v1/notifications`: the request body and its validation. Every problem found is
//! reported at once, each with the path of its field.

use pombo_contract::{
    Channel, NotificationType, Priority, content::Content, outbound::OutboundPolicy, recipient,
};
use pombo_renderer::{Renderer, Unavailable};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};

/// A notification to send.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNotification {
    /// The channel. Leave it out to let the tenant's routing rules (`/v1/routing-rules`)
    /// choose among `channels`, or among every channel (a 422 when no rule applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Without `channel`: the channels routing rules may choose from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
    /// Recipient in the channel's format: an email address (`email`), an E.164 phone
    /// number (`sms`, `whatsapp`), an FCM or APNs device token (`push`), an
    /// Instagram-scoped user id (`instagram`), a chat id or `@channel` (`telegram`), an
    /// https URL (`webhook`). Give `to` or `recipient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A stored recipient profile (`/v1/recipients`) instead of `to`: the channel takes the
    /// profile's address for it (sms: `phone`; whatsapp: `whatsapp`, else `phone`; push: the
    /// first token a provider can reach; …), copied onto the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<crate::recipients::RecipientRef>,
    /// The message, shaped per channel:
    /// `email` `{"subject", "text"?, "html"?, "attachments"?: [{"file_id", "filename"?}]}`;
    /// `sms`, `telegram` `{"text"}`;
    /// `push` `{"title", "body", "data"?, "image_url"? or "image_file_id"?}`;
    /// `whatsapp`, `instagram` one of `{"text"}`, `{"media": {"url" or "file_id", "kind",
    /// "caption"?, "filename"?}}`, `{"template": {"name", "language", "parameters"?}}`
    /// (WhatsApp); `webhook` `{"type", "payload"}`. A `file_id` is a file uploaded with
    /// `POST /v1/files` (the tenant's own, of a type that suits its use).
    /// Text fields may hold placeholders such as `{{ name }}`, filled from `data`.
    /// Give `content` or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// A stored template (`/v1/templates`) instead of inline `content`: its variant for
    /// this channel in the best locale (`pt-BR` → `pt` → the template's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::templates::TemplateRef>,
    /// Values for the content's placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// `high`, `medium` (default) or `low`. Overrides the priority implied by `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `alert` (high), `confirmation` (medium) or `promo` (low).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<NotificationType>,
    /// What kind of message this is for the recipient's preferences (`newsletter`,
    /// `billing`; 1 to 64 of a-z, 0-9, `_`, `-`, `.`). Default: the template's category,
    /// else `type`, else what the priority stands for (`alert`, `confirmation`, `promo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Email only: an open pixel and tracked links (`{"opens": true, "clicks": true}`);
    /// default: the template's, else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    /// Repeating a request with the same key returns the first notification and sends
    /// nothing again. Also accepted as the `Idempotency-Key` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Override of the server's retry rule for this notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryRequest>,
    /// Another channel to use, once, if this notification is not delivered within its
    /// channel's confirmation timeout or fails (e.g. WhatsApp not delivered in 10 min → SMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackRequest>,
    /// When to send it (RFC 3339, e.g. `2026-11-24T10:00:00Z`), up to 366 days ahead; a
    /// time already past sends at once. Until then it stays `pending` and can be cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackRequest {
    pub channel: Channel,
    /// Recipient in the fallback channel's format.
    pub to: String,
    /// Content in the fallback channel's shape; placeholders filled from the same `data`.
    #[schema(value_type = Object)]
    pub content: Value,
    /// What spares the fallback: `delivered` (the default) or `read` (in-app first, email
    /// if not read within the hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(delivered|read)$")]
    pub unless: Option<String>,
    /// How long to wait for that, in seconds (1 to 604800): instead of the channel's
    /// confirmation timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Send attempts in all, first included: 1 to 10.
    pub max_attempts: Option<u32>,
    /// Seconds between attempts: 1 to 86400.
    pub interval_secs: Option<u64>,
}

const MAX_IDEMPOTENCY_KEY: usize = 255;
/// How far ahead a send may be scheduled.
const MAX_SCHEDULE_DAYS: i64 = 366;

/// A request that passed validation, ready to store.
#[derive(Debug)]
pub struct Validated {
    pub channel: Channel,
    pub to: String,
    pub content: Value,
    pub data: Option<Value>,
    pub priority: Priority,
    pub notification_type: Option<NotificationType>,
    /// As asked (the template's and the type's are added when stored).
    pub category: Option<String>,
    /// As asked (the template's is used when absent).
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    pub idempotency_key: Option<String>,
    pub max_attempts: u32,
    pub retry_interval_secs: u64,
    /// `{channel, to, content}` of the fallback.
    pub fallback: Option<Value>,
    /// Not sent before this time.
    pub send_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Fingerprint of what was asked, to tell a retried request from a different one that
    /// reuses its idempotency key.
    pub request_hash: String,
}

impl CreateNotification {
    /// The fields a request must have whatever else it says (`to` or `recipient`, `content`
    /// or `template`), all reported together before anything is looked up: an empty body
    /// hears of both at once.
    pub fn required_fields(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.to.is_none() && self.recipient.is_none() {
            errors.push(FieldError::new(
                "to",
                "give `to` (an address) or `recipient` (a stored profile)",
            ));
        }
        if self.content.is_none() && self.template.is_none() {
            errors.push(FieldError::new("content", "give `content` or `template`"));
        }
        errors
    }

    /// Renders the content (and the fallback's) through `renderer`, within the limits of
    /// `pombo_contract::render`.
    pub async fn validate(
        self,
        renderer: &Renderer,
        header_key: Option<String>,
        defaults: &pombo_contract::config::DeliveryConfig,
        rules: &OutboundPolicy,
        target: &crate::routing_rules::Target,
    ) -> Result<Validated, ApiError> {
        let mut errors = Vec::new();
        let (channel, to) = (target.channel, target.to.clone());

        if let Err(e) = recipient::validate(channel, &to, rules) {
            let field = if self.recipient.is_some() {
                "recipient"
            } else {
                "to"
            };
            errors.push(FieldError::new(field, e.0));
        }

        if let Some(data) = &self.data
            && !data.is_object()
        {
            errors.push(FieldError::new("data", "must be a JSON object"));
        }

        let content = match (&self.content, &self.template) {
            (Some(content), _) => content.clone(),
            (None, _) => {
                errors.push(FieldError::new("content", "give `content` or `template`"));
                Value::Null
            }
        };
        if !content.is_null() {
            let mut found = Vec::new();
            check_content(renderer, channel, &content, self.data.as_ref(), &mut found).await?;
            // Content written for another channel than the one routing chose reads as a
            // wrong field unless the answer says who chose the channel.
            if let (None, Some(rule)) = (self.channel, target.routing.rule_id) {
                for e in &mut found {
                    e.reason = format!(
                        "{} (the channel `{channel}` was chosen by routing rule {rule}: give `channel`, or content for `{channel}`)",
                        e.reason
                    );
                }
            }
            errors.extend(found);
        }

        if let Some(fallback) = &self.fallback {
            if !matches!(
                fallback.unless.as_deref(),
                None | Some("delivered" | "read")
            ) {
                errors.push(FieldError::new(
                    "fallback.unless",
                    "must be `delivered` or `read`",
                ));
            }
            if fallback
                .after_secs
                .is_some_and(|s| !(1..=604_800).contains(&s))
            {
                errors.push(FieldError::new(
                    "fallback.after_secs",
                    "must be 1 to 604800 seconds (a week)",
                ));
            }
            if fallback.channel == Channel::InApp {
                errors.push(FieldError::new(
                    "fallback.channel",
                    "in_app cannot be a fallback: send it first, with a fallback to another channel",
                ));
            }
            if fallback.channel == channel && fallback.to == to {
                errors.push(FieldError::new(
                    "fallback",
                    "must differ from the notification itself (another channel or recipient)",
                ));
            }
            if let Err(e) = recipient::validate(fallback.channel, &fallback.to, rules) {
                errors.push(FieldError::new("fallback.to", e.0));
            }
            let mut found = Vec::new();
            check_content(
                renderer,
                fallback.channel,
                &fallback.content,
                self.data.as_ref(),
                &mut found,
            )
            .await?;
            errors.extend(found.into_iter().map(|mut e| {
                e.field = format!("fallback.{}", e.field);
                e
            }));
        }

        let idempotency_key =
            idempotency_key(header_key, self.idempotency_key.clone(), &mut errors);
        let (max_attempts, retry_interval_secs) = retry_rule(self.retry, defaults, &mut errors);

        let send_at = self
            .send_at
            .as_deref()
            .and_then(|at| check_send_at(at, &mut errors));
        if self.tracking.is_some_and(|t| t.opens || t.clicks) && channel != Channel::Email {
            errors.push(FieldError::new(
                "tracking",
                "only emails track opens and clicks",
            ));
        }
        if let Some(category) = &self.category
            && !pombo_contract::preferences::valid_category(category)
        {
            errors.push(FieldError::new(
                "category",
                "1 to 64 characters of a-z, 0-9, `_`, `-`, `.`",
            ));
        }

        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }

        let priority = self
            .priority
            .or(self.notification_type.map(NotificationType::priority))
            .unwrap_or_default();
        // A template request is fingerprinted by its reference, not the content it resolved
        // to now: a retried request stays the same request after the template changes.
        let asked_content = match &self.template {
            Some(template) => serde_json::json!({"template": template}),
            None => content.clone(),
        };
        let mut fingerprint = serde_json::json!({
            "channel": self.channel,
            "to": self.to,
            "content": asked_content,
            "data": self.data,
            "priority": priority,
            "type": self.notification_type,
            "max_attempts": max_attempts,
            "retry_interval_secs": retry_interval_secs,
            "fallback": self.fallback,
        });
        // Only when given: the fingerprints of requests without them stay what they were.
        if let (Some(at), Some(map)) = (&self.send_at, fingerprint.as_object_mut()) {
            map.insert("send_at".into(), Value::String(at.clone()));
        }
        if let (Some(category), Some(map)) = (&self.category, fingerprint.as_object_mut()) {
            map.insert("category".into(), Value::String(category.clone()));
        }
        if let (Some(tracking), Some(map)) = (&self.tracking, fingerprint.as_object_mut()) {
            map.insert("tracking".into(), serde_json::json!(tracking));
        }
        // Who and which channels, as asked (not the address or channel they resolved to):
        // a retried request stays the same request after the profile or the rules change.
        for (key, value) in [
            ("recipient", serde_json::to_value(&self.recipient)),
            ("channels", serde_json::to_value(&self.channels)),
        ] {
            if let (Ok(value @ (Value::Object(_) | Value::Array(_))), Some(map)) =
                (value, fingerprint.as_object_mut())
            {
                map.insert(key.into(), value);
            }
        }
        // serde_json's maps are sorted, so equal requests serialise to equal bytes.
        let request_hash = hex::encode(Sha256::digest(fingerprint.to_string().as_bytes()));
        Ok(Validated {
            channel,
            to,
            content,
            data: self.data,
            priority,
            notification_type: self.notification_type,
            category: self.category,
            tracking: self.tracking,
            idempotency_key,
            max_attempts,
            retry_interval_secs,
            fallback: self.fallback.map(|f| {
                serde_json::json!({
                    "channel": f.channel,
                    "to": f.to,
                    "content": f.content,
                    "unless": f.unless.unwrap_or_else(|| "delivered".into()),
                    "after_secs": f.after_secs,
                })
            }),
            request_hash,
            send_at,
        })
    }
}

/// The request's idempotency key: the `Idempotency-Key` header or the body's
/// `idempotency_key` (both only if equal), checked with [`valid_idempotency_key`].
pub(crate) fn idempotency_key(
    header: Option<String>,
    body: Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let key = match (header, body) {
        (Some(h), Some(b)) if h != b => {
            errors.push(FieldError::new(
                "idempotency_key",
                "differs from the Idempotency-Key header; send one or make them equal",
            ));
            None
        }
        (h, b) => h.or(b),
    };
    if let Some(key) = &key
        && !valid_idempotency_key(key)
    {
        errors.push(FieldError::new("idempotency_key", idempotency_key_rule()));
    }
    key
}

/// What [`valid_idempotency_key`] asks for, as a field error's reason.
pub(crate) fn idempotency_key_rule() -> String {
    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters")
}

pub(crate) fn valid_idempotency_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY && !key.chars().any(|c| c.is_control())
}

/// The retry rule asked for (`retry`), or the server's defaults: `(max_attempts,
/// interval_secs)`, checked by the delivery policy (`pombo_contract::retry`).
pub(crate) fn retry_rule(
    retry: Option<RetryRequest>,
    defaults: &pombo_contract::config::DeliveryConfig,
    errors: &mut Vec<FieldError>,
) -> (u32, u64) {
    let (rule, problems) = pombo_contract::retry::RetrySettings::resolve(
        retry.and_then(|r| r.max_attempts),
        retry.and_then(|r| r.interval_secs),
        defaults,
    );
    errors.extend(
        problems
            .into_iter()
            .map(|(field, reason)| FieldError::new(field, reason)),
    );
    (rule.max_attempts, rule.interval_secs)
}

/// `send_at`: an RFC 3339 time no more than [`MAX_SCHEDULE_DAYS`] ahead. One already past
/// is kept as asked; its notification goes out at once.
pub(crate) fn check_send_at(
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
        errors.push(FieldError::new(
            "send_at",
            "an RFC 3339 time with its offset, e.g. 2026-11-24T10:00:00Z",
        ));
        return None;
    };
    let at = at.with_timezone(&chrono::Utc);
    if at > chrono::Utc::now() + chrono::Duration::days(MAX_SCHEDULE_DAYS) {
        errors.push(FieldError::new(
            "send_at",
            format!("at most {MAX_SCHEDULE_DAYS} days ahead"),
        ));
        return None;
    }
    Some(at)
}

/// The content must have the channel's shape, and render with the given data: a
/// placeholder without a value, or a template over the render limits, is refused now, not
/// discovered by the worker.
async fn check_content(
    renderer: &Renderer,
    channel: Channel,
    content: &Value,
    data: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Result<(), Unavailable> {
    let parsed = match Content::parse(channel, content) {
        Ok(c) => c,
        Err(e) => {
            errors.push(FieldError::new(e.field, e.reason));
            return Ok(());
        }
    };
    let found = parsed.check();
    if !found.is_empty() {
        errors.extend(
            found
                .into_iter()
                .map(|e| FieldError::new(e.field, e.reason)),
        );
        return Ok(());
    }
    if !errors.is_empty() {
        return Ok(());
    }
    let data = data.filter(|d| d.is_object());
    match renderer.render(&parsed, data).await? {
        Err(e) => errors.push(FieldError::new(e.field, e.reason)),
        Ok(rendered) => errors.extend(
            rendered
                .check()
                .into_iter()
                .map(|e| FieldError::new(e.field, format!("after rendering: {}", e.reason))),
        ),
    }
    Ok(())
}
