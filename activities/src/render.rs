//! Rendering per channel, on what the database holds for a notification. In
//! `pombo-renderer`'s child processes and within the limits of `pombo_contract::render`: a
//! template over them fails the notification for good (the same content fails the same way
//! on every attempt), while a render that could not run (past the wall-clock deadline on a
//! busy worker, a crashed child) is retried.

use pombo_contract::{Channel, content::Content, render::RenderError};
use pombo_renderer::{Item, Renderer, Unavailable};
use pombo_store::notifications::Notification;

/// Why a notification's content did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    /// The content cannot render with its data: no attempt can.
    #[error(transparent)]
    Invalid(#[from] RenderError),
    /// Not rendered (past the deadline on an overloaded worker, a crashed child): worth
    /// another attempt.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Renders the stored content of `n` for its channel into the JSON stored as `rendered`.
/// The rendered content is checked again: a placeholder can make a field too long or empty.
pub async fn render(
    renderer: &Renderer,
    n: &Notification,
) -> Result<serde_json::Value, RenderFailure> {
    let mut out = render_many(renderer, &[n]).await?;
    out.pop().expect("one answer per notification")
}

/// [`render`] for several notifications, in as few jobs of the renderer as it allows (a
/// batch chunk's members); the answers in order. `Err` only when none could be rendered.
pub async fn render_many(
    renderer: &Renderer,
    notifications: &[&Notification],
) -> Result<Vec<Result<serde_json::Value, RenderFailure>>, Unavailable> {
    // Those whose stored row cannot even be read are answered without the renderer.
    let mut out: Vec<Option<Result<serde_json::Value, RenderFailure>>> = Vec::new();
    let mut items = Vec::new();
    for n in notifications {
        match stored_content(n) {
            Ok(content) => {
                items.push(Item::new(&content, n.data.as_ref()));
                out.push(None);
            }
            Err(e) => out.push(Some(Err(e.into()))),
        }
    }
    let mut rendered = renderer.render_many(items).await?.into_iter();
    Ok(out
        .into_iter()
        .map(|done| {
            done.unwrap_or_else(|| {
                let content = rendered.next().expect("one answer per item")?;
                if let Some(e) = content.check().into_iter().next() {
                    return Err(RenderError {
                        field: e.field,
                        reason: format!("after rendering: {}", e.reason),
                    }
                    .into());
                }
                Ok(content.to_value())
            })
        })
        .collect())
}

fn stored_content(n: &Notification) -> Result<Content, RenderError> {
    Content::parse(*n.channel, &n.content).map_err(|e| RenderError {
        field: e.field,
        reason: e.reason,
    })
}

/// Reads back what [`render`] stored.
pub fn rendered(n: &Notification) -> Result<Content, String> {
    let channel: Channel = *n.channel;
    let value = n
        .rendered
        .as_ref()
        .ok_or("notification has no rendered content: render must run first")?;
    Content::parse(channel, value).map_err(|e| format!("rendered content: {e}"))
}
