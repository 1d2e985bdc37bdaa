//! Rendering per channel, on what the database holds for a notification.

use pombo_contract::{Channel, content::EmailContent, render::RenderError};
use pombo_store::notifications::Notification;

/// Renders the stored content of `n` for its channel into the JSON stored as `rendered`.
pub fn render(n: &Notification) -> Result<serde_json::Value, RenderError> {
    let channel: Channel = n.channel.parse().map_err(|reason| RenderError {
        field: "channel".into(),
        reason,
    })?;
    match channel {
        Channel::Email => {
            let content: EmailContent =
                serde_json::from_value(n.content.clone()).map_err(|e| RenderError {
                    field: "content".into(),
                    reason: e.to_string(),
                })?;
            let rendered = pombo_contract::render::render_email(&content, n.data.as_ref())?;
            Ok(serde_json::to_value(rendered).expect("rendered email serialises"))
        }
        other => Err(RenderError {
            field: "channel".into(),
            reason: format!("no renderer for channel `{other}` yet"),
        }),
    }
}
