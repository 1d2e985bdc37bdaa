//! Rendering per channel, on what the database holds for a notification.

use pombo_contract::{Channel, content::Content, render::RenderError};
use pombo_store::notifications::Notification;

/// Renders the stored content of `n` for its channel into the JSON stored as `rendered`.
/// The rendered content is checked again: a placeholder can make a field too long or empty.
pub fn render(n: &Notification) -> Result<serde_json::Value, RenderError> {
    let channel: Channel = n.channel.parse().map_err(|reason| RenderError {
        field: "channel".into(),
        reason,
    })?;
    let content = Content::parse(channel, &n.content).map_err(|e| RenderError {
        field: e.field,
        reason: e.reason,
    })?;
    let rendered = pombo_contract::render::render(&content, n.data.as_ref())?;
    if let Some(e) = rendered.check().into_iter().next() {
        return Err(RenderError {
            field: e.field,
            reason: format!("after rendering: {}", e.reason),
        });
    }
    Ok(rendered.to_value())
}

/// Reads back what [`render`] stored.
pub fn rendered(n: &Notification) -> Result<Content, String> {
    let channel: Channel = n.channel.parse()?;
    let value = n
        .rendered
        .as_ref()
        .ok_or("notification has no rendered content: render must run first")?;
    Content::parse(channel, value).map_err(|e| format!("rendered content: {e}"))
}
