//! `POST /v1/notifications/batch`: the request body and its validation. Everything is
//! checked before anything is stored, and every problem is reported at once (up to
//! [`MAX_ERRORS`]), each with its path: `content.subject`, `recipients[17].to`,
//! `recipients[3].data` (a placeholder without a value in that recipient's data).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel, NotificationType, Priority, batch::MAX_RECIPIENTS, config::DeliveryConfig,
    content::Content, outbound::OutboundPolicy, recipient, render,
};
use pombo_renderer::Renderer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, FieldError},
    notifications::request::{self, RetryRequest},
};

/// Problems listed in one answer; past that, one more entry says how many were left out.
pub const MAX_ERRORS: usize = 100;

/// One message to many recipients, each with its own data.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatch {
    pub channel: Channel,
    /// The message, shaped per channel as in `POST /v1/notifications`; its placeholders
    /// are filled from each recipient's `data`. Give `content` or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    /// A stored template instead of inline `content` (one locale for the whole batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::templates::TemplateRef>,
    /// `high`, `medium` (default) or `low`. Overrides the priority implied by `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `alert` (high), `confirmation` (medium) or `promo` (low).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<NotificationType>,
    /// Every recipient's retry rule (attempts per provider account, and the wait between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryRequest>,
    /// When to send the batch (RFC 3339), up to 366 days ahead; a time already past sends
    /// at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<String>,
    /// Repeating a request with the same key returns the first batch and sends nothing
    /// again. Also accepted as the `Idempotency-Key` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// 1 to 10,000 recipients.
    #[schema(min_items = 1, max_items = 10000)]
    pub recipients: Vec<BatchRecipient>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRecipient {
    /// The recipient in the channel's format (as `to` of `POST /v1/notifications`).
    pub to: String,
    /// Values for the content's placeholders, for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// This recipient's own idempotency key (unique per tenant, like a notification's): a
    /// recipient whose key was already used is left out of the batch, not sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A batch that passed validation, ready to store.
#[derive(Debug)]
pub struct ValidBatch {
    pub channel: Channel,
    pub content: Value,
    pub priority: Priority,
    pub notification_type: Option<NotificationType>,
    pub max_attempts: u32,
    pub retry_interval_secs: u64,
    pub send_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of the whole request, to tell a retried request from another reusing
    /// its idempotency key.
    pub request_hash: String,
    pub recipients: Vec<ValidRecipient>,
}

#[derive(Debug)]
pub struct ValidRecipient {
    pub to: String,
    pub data: Option<Value>,
    pub idempotency_key: Option<String>,
    /// Fingerprint of this recipient's part of the request.
    pub request_hash: String,
}

/// Collects field errors, keeping the first [`MAX_ERRORS`] and counting the rest.
#[derive(Default)]
struct Errors {
    list: Vec<FieldError>,
    more: usize,
}

impl Errors {
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(FieldError::new(field, reason));
        } else {
            self.more += 1;
        }
    }

    fn into_result(mut self) -> Result<(), ApiError> {
        if self.list.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            self.list.push(FieldError::new(
                "recipients",
                format!("{} more problems not listed", self.more),
            ));
        }
        Err(ApiError::Validation(self.list))
    }
}

fn hash(value: &Value) -> String {
    // serde_json's maps are sorted, so equal requests serialise to equal bytes.
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

impl CreateBatch {
    /// `content` is the request's own content or the template's, resolved by the caller.
    /// Renders it for every recipient through `renderer`, within a batch's budget
    /// (`render::BATCH_FUEL`, each message still held to its own).
    pub async fn validate(
        self,
        renderer: &Renderer,
        header_key: Option<String>,
        content: Option<Value>,
        defaults: &DeliveryConfig,
        rules: &OutboundPolicy,
    ) -> Result<ValidBatch, ApiError> {
        let mut errors = Errors::default();
        if self.channel == Channel::InApp {
            // Each in-app recipient is a profile to look up; a batch takes addresses.
            errors.push(
                "channel",
                "in_app is not sent in batches: send each recipient's in-app message with POST /v1/notifications",
            );
        }

        // The checks a single notification's request has too, in the same order.
        let mut found = Vec::new();
        let idempotency_key =
            request::idempotency_key(header_key, self.idempotency_key.clone(), &mut found);
        let (max_attempts, retry_interval_secs) =
            request::retry_rule(self.retry, defaults, &mut found);
        let send_at = self
            .send_at
            .as_deref()
            .and_then(|at| request::check_send_at(at, &mut found));
        for e in found {
            errors.push(e.field, e.reason);
        }

        // The content's shape once; its placeholders per recipient, with that one's data.
        let parsed = match &content {
            None => {
                errors.push("content", "give `content` or `template`");
                None
            }
            Some(content) => match Content::parse(self.channel, content) {
                Err(e) => {
                    errors.push(e.field, e.reason);
                    None
                }
                Ok(parsed) => {
                    let found = parsed.check();
                    let syntax = render::check_syntax(&parsed);
                    for e in &found {
                        errors.push(e.field.clone(), e.reason.clone());
                    }
                    for e in &syntax {
                        errors.push(e.field.clone(), e.reason.clone());
                    }
                    (found.is_empty() && syntax.is_empty()).then_some(parsed)
                }
            },
        };

        if self.recipients.is_empty() || self.recipients.len() > MAX_RECIPIENTS {
            errors.push(
                "recipients",
                format!(
                    "give 1 to {MAX_RECIPIENTS} recipients (got {})",
                    self.recipients.len()
                ),
            );
            return Err(errors.into_result().expect_err("an error was just pushed"));
        }
        // Every recipient's render at once, off the runtime; its problems are listed below
        // with the recipient's others, in order.
        let mut render_problems = match &parsed {
            None => Vec::new(),
            Some(parsed) => {
                let data: Vec<Option<Value>> =
                    self.recipients.iter().map(|r| r.data.clone()).collect();
                match renderer.batch_problems(parsed, data).await? {
                    Ok(problems) => problems,
                    Err(e) => {
                        errors.push(e.field, e.reason);
                        Vec::new()
                    }
                }
            }
        };
        render_problems.resize(self.recipients.len(), Vec::new());
        let mut keys: HashMap<&str, usize> = HashMap::new();
        for (i, r) in self.recipients.iter().enumerate() {
            let at = |field: &str| format!("recipients[{i}].{field}");
            if let Err(e) = recipient::validate(self.channel, &r.to, rules) {
                errors.push(at("to"), e.0);
            }
            if r.data.as_ref().is_some_and(|d| !d.is_object()) {
                errors.push(at("data"), "must be a JSON object");
            }
            if let Some(key) = &r.idempotency_key {
                if !request::valid_idempotency_key(key) {
                    errors.push(at("idempotency_key"), request::idempotency_key_rule());
                } else if let Some(first) = keys.insert(key, i) {
                    errors.push(
                        at("idempotency_key"),
                        format!("repeats the key of recipients[{first}]"),
                    );
                }
            }
            for reason in std::mem::take(&mut render_problems[i]) {
                errors.push(at("data"), reason);
            }
        }
        errors.into_result()?;

        let priority = self
            .priority
            .or(self.notification_type.map(NotificationType::priority))
            .unwrap_or_default();
        // A template request is fingerprinted by its reference, not the content it resolved
        // to now: a retried request stays the same request after the template changes.
        let asked_content = match &self.template {
            Some(template) => serde_json::json!({"template": template}),
            None => content.clone().unwrap_or(Value::Null),
        };
        let shared = serde_json::json!({
            "channel": self.channel,
            "content": asked_content,
            "priority": priority,
            "type": self.notification_type,
            "max_attempts": max_attempts,
            "retry_interval_secs": retry_interval_secs,
            "send_at": self.send_at,
        });
        let recipients: Vec<ValidRecipient> = self
            .recipients
            .into_iter()
            .map(|r| {
                let request_hash = hash(&serde_json::json!({
                    "batch": shared,
                    "to": r.to,
                    "data": r.data,
                }));
                ValidRecipient {
                    to: r.to,
                    data: r.data,
                    idempotency_key: r.idempotency_key,
                    request_hash,
                }
            })
            .collect();
        let mut whole = Sha256::new();
        whole.update(shared.to_string().as_bytes());
        for r in &recipients {
            whole.update(r.request_hash.as_bytes());
            whole.update(r.idempotency_key.as_deref().unwrap_or("").as_bytes());
            whole.update([0]);
        }
        Ok(ValidBatch {
            channel: self.channel,
            content: content.unwrap_or(Value::Null),
            priority,
            notification_type: self.notification_type,
            max_attempts,
            retry_interval_secs,
            send_at,
            idempotency_key,
            request_hash: hex::encode(whole.finalize()),
            recipients,
        })
    }
}
