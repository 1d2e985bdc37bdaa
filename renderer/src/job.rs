//! What a render child is asked to do, and what it answers: one JSON line each way.
//!
//! [`Job::run`] is the whole of the child's work, pure and in this module so the parent's
//! types and the child's cannot drift; it is also what [`crate::Renderer::in_process`]
//! runs (fuzzing, unit tests).

use pombo_contract::{
    Channel,
    content::Content,
    render::{self, Budget, RenderError},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message to render: its channel, its stored content and its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub channel: Channel,
    pub content: Value,
    pub data: Option<Value>,
}

impl Item {
    pub fn new(content: &Content, data: Option<&Value>) -> Item {
        Item {
            channel: content.channel(),
            content: content.to_value(),
            data: data.cloned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Each message within its own budget (`render::Budget::message`); the rendered content
    /// of each comes back.
    Messages { items: Vec<Item> },
    /// A batch's content with each recipient's data, within the batch's shared budget: only
    /// the problems come back, per recipient (a batch is checked, not sent, at accept).
    BatchProblems {
        channel: Channel,
        content: Value,
        data: Vec<Option<Value>>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Per item, in order: the rendered content (as stored: `Content::to_value`) or why not.
    Messages(Vec<Result<Value, RenderError>>),
    /// Per recipient, in order: `field: reason` lines, empty when it renders.
    BatchProblems(Vec<Vec<String>>),
}

impl Job {
    pub fn run(self) -> Answer {
        match self {
            Job::Messages { items } => {
                Answer::Messages(items.into_iter().map(render_item).collect())
            }
            Job::BatchProblems {
                channel,
                content,
                data,
            } => Answer::BatchProblems(match Content::parse(channel, &content) {
                Ok(content) => batch_problems(&content, &data),
                Err(e) => vec![vec![format!("{}: {}", e.field, e.reason)]; data.len()],
            }),
        }
    }
}

fn render_item(item: Item) -> Result<Value, RenderError> {
    let content = Content::parse(item.channel, &item.content).map_err(|e| RenderError {
        field: e.field,
        reason: e.reason,
    })?;
    render::render(&content, item.data.as_ref()).map(|c| c.to_value())
}

/// The problems of rendering `content` with each recipient's data (none for data that is not
/// an object: that is refused on its own). The renders share a batch's budget
/// (`render::BATCH_FUEL`), each message still held to its own; once it is spent the rest
/// is not rendered.
fn batch_problems(content: &Content, data: &[Option<Value>]) -> Vec<Vec<String>> {
    let mut budget = Budget::batch();
    let mut problems = vec![Vec::new(); data.len()];
    for (data, found) in data.iter().zip(&mut problems) {
        if data.as_ref().is_some_and(|d| !d.is_object()) {
            continue;
        }
        if budget.exhausted() {
            break;
        }
        match render::render_within(content, data.as_ref(), &mut budget) {
            Err(e) if budget.exhausted() => found.push(format!(
                "{}: {}; the recipients after this one were not rendered",
                e.field, e.reason
            )),
            Err(e) => found.push(format!("{}: {}", e.field, e.reason)),
            Ok(rendered) => found.extend(
                rendered
                    .check()
                    .into_iter()
                    .map(|e| format!("{}: after rendering: {}", e.field, e.reason)),
            ),
        }
    }
    problems
}
