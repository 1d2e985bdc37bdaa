//! `POST /v1/notifications`: the request body and its validation. Every problem found is
//! reported at once, each with the path of its field.

use pombo_contract::{
    Channel, NotificationType, Priority,
    content::{EmailContent, MAX_SUBJECT_CHARS},
    recipient, render,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};

/// A notification to send.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNotification {
    pub channel: Channel,
    /// Recipient in the channel's format (an email address for `email`).
    pub to: String,
    /// The message. For `email`: `{"subject", "text"?, "html"?}` (text or html required).
    /// Fields may hold placeholders such as `{{ name }}`, filled from `data`.
    #[schema(value_type = Object)]
    pub content: Value,
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
    /// Repeating a request with the same key returns the first notification and sends
    /// nothing again. Also accepted as the `Idempotency-Key` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Override of the server's retry rule for this notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryRequest>,
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

/// A request that passed validation, ready to store.
#[derive(Debug)]
pub struct Validated {
    pub channel: Channel,
    pub to: String,
    pub content: Value,
    pub data: Option<Value>,
    pub priority: Priority,
    pub notification_type: Option<NotificationType>,
    pub idempotency_key: Option<String>,
    pub max_attempts: u32,
    pub retry_interval_secs: u64,
    /// Fingerprint of what was asked, to tell a retried request from a different one that
    /// reuses its idempotency key.
    pub request_hash: String,
}

impl CreateNotification {
    pub fn validate(
        self,
        header_key: Option<String>,
        defaults: &pombo_contract::config::DeliveryConfig,
    ) -> Result<Validated, ApiError> {
        let mut errors = Vec::new();

        if !self.channel.is_enabled() {
            errors.push(FieldError::new(
                "channel",
                format!(
                    "channel `{}` has no provider in this build yet",
                    self.channel
                ),
            ));
        } else if let Err(e) = recipient::validate(self.channel, &self.to) {
            errors.push(FieldError::new("to", e.0));
        }

        if let Some(data) = &self.data
            && !data.is_object()
        {
            errors.push(FieldError::new("data", "must be a JSON object"));
        }

        if self.channel == Channel::Email {
            check_email_content(&self.content, self.data.as_ref(), &mut errors);
        }

        let idempotency_key = match (header_key, self.idempotency_key.clone()) {
            (Some(h), Some(b)) if h != b => {
                errors.push(FieldError::new(
                    "idempotency_key",
                    "differs from the Idempotency-Key header; send one or make them equal",
                ));
                None
            }
            (h, b) => h.or(b),
        };
        if let Some(key) = &idempotency_key
            && (key.is_empty()
                || key.len() > MAX_IDEMPOTENCY_KEY
                || key.chars().any(|c| c.is_control()))
        {
            errors.push(FieldError::new(
                "idempotency_key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"),
            ));
        }

        let max_attempts = self
            .retry
            .and_then(|r| r.max_attempts)
            .unwrap_or(defaults.max_attempts);
        if !(1..=10).contains(&max_attempts) {
            errors.push(FieldError::new(
                "retry.max_attempts",
                "must be between 1 and 10",
            ));
        }
        let retry_interval_secs = self
            .retry
            .and_then(|r| r.interval_secs)
            .unwrap_or(defaults.retry_interval_secs);
        if !(1..=86_400).contains(&retry_interval_secs) {
            errors.push(FieldError::new(
                "retry.interval_secs",
                "must be between 1 and 86400 seconds",
            ));
        }

        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }

        let priority = self
            .priority
            .or(self.notification_type.map(NotificationType::priority))
            .unwrap_or_default();
        let fingerprint = serde_json::json!({
            "channel": self.channel,
            "to": self.to,
            "content": self.content,
            "data": self.data,
            "priority": priority,
            "type": self.notification_type,
            "max_attempts": max_attempts,
            "retry_interval_secs": retry_interval_secs,
        });
        // serde_json's maps are sorted, so equal requests serialise to equal bytes.
        let request_hash = hex::encode(Sha256::digest(fingerprint.to_string().as_bytes()));
        Ok(Validated {
            channel: self.channel,
            to: self.to,
            content: self.content,
            data: self.data,
            priority,
            notification_type: self.notification_type,
            idempotency_key,
            max_attempts,
            retry_interval_secs,
            request_hash,
        })
    }
}

fn check_email_content(content: &Value, data: Option<&Value>, errors: &mut Vec<FieldError>) {
    let parsed: EmailContent = match serde_path_to_error::deserialize(content) {
        Ok(c) => c,
        Err(e) => {
            let path = e.path().to_string();
            let reason = e.into_inner().to_string();
            errors.push(FieldError::new(
                crate::extract::field_path("content", &path, &reason),
                reason,
            ));
            return;
        }
    };
    if parsed.subject.trim().is_empty() {
        errors.push(FieldError::new("content.subject", "must not be empty"));
    } else if parsed.subject.chars().count() > MAX_SUBJECT_CHARS {
        errors.push(FieldError::new(
            "content.subject",
            format!("must have at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&parsed.text) && blank(&parsed.html) {
        errors.push(FieldError::new("content", "give `text`, `html` or both"));
    }
    if errors.is_empty()
        && let Err(e) = render::render_email(&parsed, data.filter(|d| d.is_object()))
    {
        errors.push(FieldError::new(e.field, e.reason));
    }
}
