//! Rendering per channel, on what the database holds for a notification. Off the async
//! runtime and within the limits of `pombo_contract::render`: a template over them fails
//! the notification for good (the same content fails the same way on every attempt), while
//! a render that ran past the wall-clock deadline (a busy worker) is retried.

use pombo_contract::{
    Channel,
    content::Content,
    render::{Overtime, RenderError},
};
use pombo_store::notifications::Notification;

/// Why a notification's content did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    /// The content cannot render with its data: no attempt can.
    #[error(transparent)]
    Invalid(#[from] RenderError),
    /// Past the deadline: an overloaded worker, worth another attempt.
    #[error(transparent)]
    Overtime(#[from] Overtime),
}

/// Renders the stored content of `n` for its channel into the JSON stored as `rendered`.
/// The rendered content is checked again: a placeholder can make a field too long or empty.
pub async fn render(n: &Notification) -> Result<serde_json::Value, RenderFailure> {
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
    .await??;
    if let Some(e) = rendered.check().into_iter().next() {
        return Err(RenderError {
            field: e.field,
            reason: format!("after rendering: {}", e.reason),
        }
        .into());
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
