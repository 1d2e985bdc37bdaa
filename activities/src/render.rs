//! Rendering per channel, on what the database holds for a notification. Off the async
//! runtime and within the limits of `pombo_contract::render`: a template over them fails
//! the notification for good (the same content fails the same way on every attempt).

use pombo_contract::{Channel, content::Content, render::RenderError};
use pombo_store::notifications::Notification;

/// Renders the stored content of `n` for its channel into the JSON stored as `rendered`.
/// The rendered content is checked again: a placeholder can make a field too long or empty.
pub async fn render(n: &Notification) -> Result<serde_json::Value, RenderError> {
    let channel: Channel = n.channel.parse().map_err(|reason| RenderError {
        field: "channel".into(),
        reason,
    })?;
    let content = Content::parse(channel, &n.content).map_err(|e| RenderError {
        field: e.field,
        reason: e.reason,
    })?;
    let data = n.data.clone();
    let rendered = pombo_contract::render::off_runtime(move || {
        pombo_contract::render::render(&content, data.as_ref())
    })
    .await
    .map_err(|e| RenderError {
        field: "content".into(),
        reason: e.to_string(),
    })??;
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
