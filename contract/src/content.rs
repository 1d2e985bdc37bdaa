//! Message content as callers give it and as providers receive it after rendering.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Inline email content. Every field may use MiniJinja placeholders (`{{ name }}`) filled
/// from the notification's `data`; a placeholder without a value is an error, never blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// What a provider sends, after rendering. Kept in our database, never in workflow history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Longest subject we accept; mail servers fold longer ones and clients truncate them.
pub const MAX_SUBJECT_CHARS: usize = 998;
