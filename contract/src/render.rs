//! Rendering of content placeholders with MiniJinja: strict about missing values (an
//! error naming the variable, never a blank), and HTML-escaping values in HTML parts.
//!
//! Pure and deterministic, so the API can refuse bad data at request time and the worker's
//! render activity produces exactly what the API checked.
//!
//! Templates are tenant input, so rendering is bounded (one place, here): MiniJinja's fuel
//! caps the instructions a message's templates run ([`MESSAGE_FUEL`], [`BATCH_FUEL`] across
//! a batch's recipients), and the rendered text is capped ([`MAX_OUTPUT_BYTES`] per message,
//! checked while it is written, not after). What neither sees, the memory of the values a
//! template builds, is bounded by where the API and the worker run this: `pombo-renderer`'s
//! child processes, each with an address-space limit and killed past [`DEADLINE`].
//! Recursion needs no knob of ours: this build has no macros or includes (MiniJinja features
//! off), its parser refuses nesting deeper than 150 levels and its VM more than 500 frames.

use std::{cell::Cell, io};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::content::{
    AttachmentRef, ChatContent, Content, EmailContent, InAppContent, PushContent, TextContent,
    WebhookContent,
};

/// MiniJinja instructions the templates of one message may run, all fields together.
/// Measured: a 10 KiB text with a placeholder per line costs under 1,000, a loop over 5,000
/// items printing three fields and a separator 95,000 (about 19 an item, 3 for an empty
/// iteration). Ten times the large loop leaves room for richer ones, and runs out in about
/// 100 ms in a debug build (the nested `range(10000)` loop from the security review ran for
/// 29.6 s of CPU before this).
pub const MESSAGE_FUEL: u64 = 1_000_000;

/// Instructions for all the recipients of one batch together: each recipient's message
/// still has [`MESSAGE_FUEL`], but 10,000 recipients (`batch::MAX_RECIPIENTS`) each just
/// under it would hold a core for minutes. Ten messages' worth is 1,000 for each of 10,000
/// recipients (a message with a dozen placeholders costs under 100) or 10,000 for each of
/// 1,000 (a loop over 500 items), and about a second of CPU in a debug build.
pub const BATCH_FUEL: u64 = 10 * MESSAGE_FUEL;

/// Bytes a message may render to, all fields together. Far above any provider's limit (the
/// largest, an email body, is refused by providers past a few MiB with attachments, and the
/// channel checks after rendering refuse what is too long for their channel), yet small
/// enough that a cheap loop or `"x" * n` cannot fill the memory of the API or the worker.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// The wall-clock backstop of a render (enforced by `pombo-renderer`, which kills the child
/// past it): fuel is the real bound (a message's fuel runs out in about 0.1 s), the deadline
/// catches what fuel does not count, such as a single instruction working on a huge string.
/// Wall-clock time also counts a busy CPU, so running past it says the server is
/// overloaded, not that the template is bad: callers answer 503 (API) or retry (worker),
/// never refuse the content for it.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{field}: {reason}")]
pub struct RenderError {
    /// Which part of the content failed (`content.subject`, `content.html`, …).
    pub field: String,
    pub reason: String,
}

/// What rendering may still spend: one message's ([`Budget::message`]), or a batch's shared by
/// its recipients ([`Budget::batch`], each message still held to its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    fuel: u64,
    output: usize,
    /// Whether this is a batch's budget, for the reason given when it runs out.
    shared: bool,
    /// Whether a render ran out of fuel.
    ran_out: bool,
}

impl Budget {
    pub const fn message() -> Self {
        Budget {
            fuel: MESSAGE_FUEL,
            output: MAX_OUTPUT_BYTES,
            shared: false,
            ran_out: false,
        }
    }

    pub const fn batch() -> Self {
        Budget {
            fuel: BATCH_FUEL,
            output: usize::MAX,
            shared: true,
            ran_out: false,
        }
    }

    /// Whether nothing is left to render with: a batch stops checking its recipients then.
    pub fn exhausted(&self) -> bool {
        self.fuel == 0
    }

    /// One message's part of this budget.
    fn for_message(&self) -> Budget {
        Budget {
            fuel: self.fuel.min(MESSAGE_FUEL),
            output: self.output.min(MAX_OUTPUT_BYTES),
            shared: self.shared && self.fuel < MESSAGE_FUEL,
            ran_out: false,
        }
    }
}

/// Fills the placeholders of every text field of `content`; the shape stays the same. Within
/// one message's [`Budget`].
pub fn render(content: &Content, data: Option<&Value>) -> Result<Content, RenderError> {
    render_within(content, data, &mut Budget::message())
}

/// [`render`], spending from `budget` (a batch's, shared by its recipients).
pub fn render_within(
    content: &Content,
    data: Option<&Value>,
    budget: &mut Budget,
) -> Result<Content, RenderError> {
    let empty = Value::Object(Default::default());
    let data = data.unwrap_or(&empty);
    let before = budget.for_message();
    // A `Cell`: every field's render spends from it, and the closures below share it.
    let message = Cell::new(before);
    let rendered = render_message(content, data, &message);
    let after = message.get();
    budget.fuel -= before.fuel - after.fuel;
    if after.ran_out {
        // The batch is refused anyway, and its other recipients share the template that
        // ran out: rendering them would only spend a message's fuel each to say so again.
        budget.fuel = 0;
    }
    budget.output -= before.output - after.output;
    rendered
}

fn render_message(
    content: &Content,
    data: &Value,
    budget: &Cell<Budget>,
) -> Result<Content, RenderError> {
    let text = |field: &str, s: &str| render_one(field, s, data, false, budget);
    let opt = |field: &str, s: &Option<String>| s.as_deref().map(|s| text(field, s)).transpose();
    Ok(match content {
        Content::Email(c) => Content::Email(render_email(c, data, budget)?),
        Content::Sms(c) => Content::Sms(TextContent {
            text: text("content.text", &c.text)?,
        }),
        Content::Telegram(c) => Content::Telegram(TextContent {
            text: text("content.text", &c.text)?,
        }),
        Content::Push(c) => Content::Push(PushContent {
            title: text("content.title", &c.title)?,
            body: text("content.body", &c.body)?,
            data: c
                .data
                .iter()
                .map(|(k, v)| Ok((k.clone(), text(&format!("content.data.{k}"), v)?)))
                .collect::<Result<_, RenderError>>()?,
            image_url: opt("content.image_url", &c.image_url)?,
        }),
        Content::Whatsapp(c) => Content::Whatsapp(render_chat(c, data, budget)?),
        Content::Instagram(c) => Content::Instagram(render_chat(c, data, budget)?),
        Content::Webhook(c) => Content::Webhook(WebhookContent {
            event_type: text("content.type", &c.event_type)?,
            payload: render_json("content.payload", &c.payload, data, budget)?,
        }),
        Content::InApp(c) => Content::InApp(InAppContent {
            title: opt("content.title", &c.title)?,
            body: text("content.body", &c.body)?,
            url: opt("content.url", &c.url)?,
            data: c
                .data
                .as_ref()
                .map(|d| render_json("content.data", d, data, budget))
                .transpose()?,
        }),
    })
}

/// Checks the placeholder syntax of every field [`render`] fills, without data: for
/// content saved now and rendered later (stored templates). Errors name the field
/// (`content.subject`) and the syntax problem.
pub fn check_syntax(content: &Content) -> Vec<RenderError> {
    let mut fields: Vec<(String, &str)> = Vec::new();
    fn opt<'a>(fields: &mut Vec<(String, &'a str)>, name: &str, value: &'a Option<String>) {
        if let Some(v) = value {
            fields.push((name.to_owned(), v));
        }
    }
    fn json<'a>(fields: &mut Vec<(String, &'a str)>, name: String, value: &'a Value) {
        match value {
            Value::String(s) => fields.push((name, s)),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    json(fields, format!("{name}[{i}]"), v);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    json(fields, format!("{name}.{k}"), v);
                }
            }
            _ => {}
        }
    }
    match content {
        Content::Email(c) => {
            fields.push(("content.subject".into(), &c.subject));
            opt(&mut fields, "content.text", &c.text);
            opt(&mut fields, "content.html", &c.html);
            for (i, a) in c.attachments.iter().enumerate() {
                opt(
                    &mut fields,
                    &format!("content.attachments[{i}].filename"),
                    &a.filename,
                );
            }
        }
        Content::Sms(c) | Content::Telegram(c) => fields.push(("content.text".into(), &c.text)),
        Content::Push(c) => {
            fields.push(("content.title".into(), &c.title));
            fields.push(("content.body".into(), &c.body));
            for (k, v) in &c.data {
                fields.push((format!("content.data.{k}"), v));
            }
            opt(&mut fields, "content.image_url", &c.image_url);
        }
        Content::Whatsapp(c) | Content::Instagram(c) => {
            opt(&mut fields, "content.text", &c.text);
            if let Some(media) = &c.media {
                fields.push(("content.media.url".into(), &media.url));
                opt(&mut fields, "content.media.caption", &media.caption);
                opt(&mut fields, "content.media.filename", &media.filename);
            }
            if let Some(t) = &c.template {
                for (i, p) in t.parameters.iter().enumerate() {
                    fields.push((format!("content.template.parameters[{i}]"), p));
                }
            }
        }
        Content::Webhook(c) => {
            fields.push(("content.type".into(), &c.event_type));
            json(&mut fields, "content.payload".into(), &c.payload);
        }
        Content::InApp(c) => {
            opt(&mut fields, "content.title", &c.title);
            fields.push(("content.body".into(), &c.body));
            opt(&mut fields, "content.url", &c.url);
            if let Some(d) = &c.data {
                json(&mut fields, "content.data".into(), d);
            }
        }
    }
    let env = Environment::new();
    fields
        .into_iter()
        .filter_map(|(field, source)| {
            env.template_from_str(source).err().map(|e| RenderError {
                reason: describe(&e, source),
                field,
            })
        })
        .collect()
}

fn render_chat(
    c: &ChatContent,
    data: &Value,
    budget: &Cell<Budget>,
) -> Result<ChatContent, RenderError> {
    let text = |field: &str, s: &str| render_one(field, s, data, false, budget);
    let opt = |field: &str, s: &Option<String>| s.as_deref().map(|s| text(field, s)).transpose();
    let mut out = c.clone();
    out.text = opt("content.text", &c.text)?;
    if let (Some(media), Some(src)) = (out.media.as_mut(), c.media.as_ref()) {
        media.url = text("content.media.url", &src.url)?;
        media.caption = opt("content.media.caption", &src.caption)?;
        media.filename = opt("content.media.filename", &src.filename)?;
    }
    if let (Some(t), Some(src)) = (out.template.as_mut(), c.template.as_ref()) {
        t.parameters = src
            .parameters
            .iter()
            .enumerate()
            .map(|(i, p)| text(&format!("content.template.parameters[{i}]"), p))
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// Renders the string leaves of a JSON value, keeping numbers, booleans and structure.
fn render_json(
    field: &str,
    value: &Value,
    data: &Value,
    budget: &Cell<Budget>,
) -> Result<Value, RenderError> {
    Ok(match value {
        Value::String(s) => Value::String(render_one(field, s, data, false, budget)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_json(&format!("{field}[{i}]"), v, data, budget))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        render_json(&format!("{field}.{k}"), v, data, budget)?,
                    ))
                })
                .collect::<Result<_, RenderError>>()?,
        ),
        other => other.clone(),
    })
}

fn render_email(
    content: &EmailContent,
    data: &Value,
    budget: &Cell<Budget>,
) -> Result<EmailContent, RenderError> {
    let subject = render_one("content.subject", &content.subject, data, false, budget)?;
    if subject.contains(['\r', '\n']) {
        return Err(RenderError {
            field: "content.subject".into(),
            reason: "the rendered subject contains a line break".into(),
        });
    }
    Ok(EmailContent {
        subject,
        text: content
            .text
            .as_deref()
            .map(|t| render_one("content.text", t, data, false, budget))
            .transpose()?,
        html: content
            .html
            .as_deref()
            .map(|t| render_one("content.html", t, data, true, budget))
            .transpose()?,
        attachments: content
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let field = format!("content.attachments[{i}].filename");
                Ok(AttachmentRef {
                    file_id: a.file_id,
                    filename: a
                        .filename
                        .as_deref()
                        .map(|f| render_one(&field, f, data, false, budget))
                        .transpose()?,
                })
            })
            .collect::<Result<_, RenderError>>()?,
    })
}

/// Renders one field within what `budget` has left, and takes what it used from it.
fn render_one(
    field: &str,
    source: &str,
    data: &Value,
    html: bool,
    budget: &Cell<Budget>,
) -> Result<String, RenderError> {
    let left = budget.get();
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| {
        if html {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_fuel(Some(left.fuel));
    let fail = |reason: String| RenderError {
        field: field.to_owned(),
        reason,
    };
    let template = env
        .template_from_str(source)
        .map_err(|e| fail(describe(&e, source)))?;
    let mut out = Bounded {
        buf: Vec::new(),
        limit: left.output,
        overflowed: false,
    };
    let captured = template.render_captured_to(data, &mut out);
    // MiniJinja does not say what a failed render used: charge all it could have, so a
    // batch's recipients cannot each spend a message's fuel and then fail for free.
    let spent = match &captured {
        Ok(c) => c.state().fuel_levels().map_or(0, |(consumed, _)| consumed),
        Err(_) => left.fuel,
    };
    budget.set(Budget {
        fuel: left.fuel.saturating_sub(spent),
        output: left.output - out.buf.len(),
        ..left
    });
    match captured {
        Ok(_) => {}
        Err(_) if out.overflowed => {
            return Err(fail(format!(
                "renders to more than {} bytes{}",
                left.output,
                if left.output < MAX_OUTPUT_BYTES {
                    " (what the message's other fields left of its limit)"
                } else {
                    ""
                }
            )));
        }
        Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
            budget.set(Budget {
                ran_out: true,
                ..budget.get()
            });
            return Err(fail(if left.shared {
                "the batch's templates together do more work than allowed (fuel exhausted)".into()
            } else {
                "the template does more work than allowed (fuel exhausted)".into()
            }));
        }
        Err(e) => return Err(fail(describe(&e, source))),
    }
    String::from_utf8(out.buf).map_err(|_| fail("rendered to invalid UTF-8".into()))
}

/// The rendered text, refusing to grow past `limit`: the cap holds while the template runs,
/// so a huge output is never held whole.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl io::Write for Bounded {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        if self.buf.len() + chunk.len() > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("output limit"));
        }
        self.buf.extend_from_slice(chunk);
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// MiniJinja says "undefined value" without the name; point at the expression instead.
fn describe(e: &minijinja::Error, source: &str) -> String {
    let mut reason = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "a placeholder has no value in `data`".to_owned(),
        minijinja::ErrorKind::SyntaxError => {
            format!("template syntax error: {}", e.detail().unwrap_or("invalid"))
        }
        _ => e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| e.kind().to_string()),
    };
    if let Some(span) = e.range().and_then(|r| source.get(r))
        && !span.is_empty()
    {
        reason.push_str(&format!(" (at `{span}`)"));
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render_email(c: &EmailContent, data: Option<&Value>) -> Result<EmailContent, RenderError> {
        match render(&Content::Email(c.clone()), data)? {
            Content::Email(e) => Ok(e),
            _ => unreachable!("email stays email"),
        }
    }

    fn content(subject: &str, text: Option<&str>, html: Option<&str>) -> EmailContent {
        EmailContent {
            subject: subject.into(),
            text: text.map(Into::into),
            html: html.map(Into::into),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn fills_placeholders_and_escapes_html_only() {
        let c = content(
            "Hi {{ name }}",
            Some("Code {{ code }}"),
            Some("<p>{{ name }}</p>"),
        );
        let r = render_email(&c, Some(&json!({"name": "<Ana>", "code": 42}))).unwrap();
        assert_eq!(r.subject, "Hi <Ana>");
        assert_eq!(r.text.as_deref(), Some("Code 42"));
        assert_eq!(r.html.as_deref(), Some("<p>&lt;Ana&gt;</p>"));
    }

    #[test]
    fn a_missing_value_is_an_error_naming_the_field_and_placeholder() {
        let c = content("Hi {{ name }}", Some("ok"), None);
        let err = render_email(&c, Some(&json!({}))).unwrap_err();
        assert_eq!(err.field, "content.subject");
        assert!(err.reason.contains("name"), "{}", err.reason);
    }

    #[test]
    fn every_channel_renders_its_text_fields_and_keeps_the_shape() {
        use crate::{Channel, content::Content};
        let data = json!({"name": "Ana", "n": 3});
        let push = Content::parse(
            Channel::Push,
            &json!({"title": "Hi {{ name }}", "body": "{{ n }} new", "data": {"k": "{{ name }}"}}),
        )
        .unwrap();
        let Content::Push(p) = render(&push, Some(&data)).unwrap() else {
            panic!("push stays push")
        };
        assert_eq!((p.title.as_str(), p.body.as_str()), ("Hi Ana", "3 new"));
        assert_eq!(p.data["k"], "Ana");

        let hook = Content::parse(
            Channel::Webhook,
            &json!({"type": "order.shipped", "payload": {"who": "{{ name }}", "n": 7, "l": ["{{ n }}"]}}),
        )
        .unwrap();
        let Content::Webhook(w) = render(&hook, Some(&data)).unwrap() else {
            panic!("webhook stays webhook")
        };
        assert_eq!(w.payload, json!({"who": "Ana", "n": 7, "l": ["3"]}));

        let chat = Content::parse(
            Channel::Whatsapp,
            &json!({"template": {"name": "order", "language": "pt_BR", "parameters": ["{{ missing }}"]}}),
        )
        .unwrap();
        let err = render(&chat, Some(&data)).unwrap_err();
        assert_eq!(err.field, "content.template.parameters[0]");
    }

    #[test]
    fn syntax_is_checked_without_data_in_every_rendered_field() {
        use crate::{Channel, content::Content};
        let ok = Content::Email(content("Hi {{ name }}", Some("{{ missing }}"), None));
        assert_eq!(check_syntax(&ok), []);
        let bad = Content::Email(content("Hi", Some("ok"), Some("<p>{{ name </p>")));
        let errors = check_syntax(&bad);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "content.html");
        assert!(errors[0].reason.contains("syntax"), "{}", errors[0].reason);
        let hook = Content::parse(
            Channel::Webhook,
            &json!({"type": "t", "payload": {"a": [1, "{% if %}"]}}),
        )
        .unwrap();
        let errors = check_syntax(&hook);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "content.payload.a[1]");
    }

    #[test]
    fn attachment_names_are_rendered_and_the_files_kept() {
        use crate::content::AttachmentRef;
        let id = uuid::Uuid::now_v7();
        let mut c = content("s", Some("t"), None);
        c.attachments = vec![
            AttachmentRef {
                file_id: id,
                filename: Some("invoice-{{ order }}.pdf".into()),
            },
            AttachmentRef {
                file_id: id,
                filename: None,
            },
        ];
        let r = render_email(&c, Some(&json!({"order": "A-42"}))).unwrap();
        assert_eq!(
            r.attachments[0].filename.as_deref(),
            Some("invoice-A-42.pdf")
        );
        assert_eq!(r.attachments[1], c.attachments[1]);
        let err = render_email(&c, Some(&json!({}))).unwrap_err();
        assert_eq!(err.field, "content.attachments[0].filename");
    }

    #[test]
    fn syntax_errors_and_header_injection_are_refused() {
        assert!(render_email(&content("{{ oops", None, None), None).is_err());
        let c = content("{{ s }}", None, None);
        let err = render_email(&c, Some(&json!({"s": "a\r\nBcc: x@y.z"}))).unwrap_err();
        assert!(err.reason.contains("line break"));
    }

    fn sms(text: &str) -> Content {
        Content::Sms(TextContent { text: text.into() })
    }

    /// The nested loop from the security review: 10^8 iterations, 29.6 s of CPU unbounded.
    const NESTED: &str =
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}";

    #[test]
    fn a_template_that_works_too_long_runs_out_of_fuel_fast() {
        let started = std::time::Instant::now();
        let err = render(&sms(NESTED), None).unwrap_err();
        assert_eq!(err.field, "content.text");
        assert!(err.reason.contains("fuel exhausted"), "{}", err.reason);
        // Debug builds run MiniJinja several times slower than release; still far from 29.6 s.
        assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
    }

    #[test]
    fn ordinary_templates_stay_well_within_the_fuel() {
        let items: Vec<_> = (0..5000)
            .map(|i| json!({"name": format!("item {i}"), "qty": i}))
            .collect();
        let data = json!({"items": items, "name": "Ana"});
        let list = "{% for i in items %}{{ loop.index }}. {{ i.name }} x{{ i.qty }}{% if not loop.last %}, {% endif %}{% endfor %}";
        let Content::Sms(out) = render(&sms(list), Some(&data)).unwrap() else {
            unreachable!()
        };
        assert!(out.text.ends_with("item 4999 x4999"));
        let long = "Hello {{ name }}, here is your receipt. ".repeat(300);
        assert!(long.len() > 10 * 1024);
        render(&sms(&long), Some(&data)).unwrap();
    }

    #[test]
    fn the_fuel_is_for_the_whole_message_not_each_field() {
        // Each field alone fits in a message's fuel; two of them together do not.
        let half = "{% for a in range(500) %}{% for b in range(500) %}{% endfor %}{% endfor %}";
        render(&sms(half), None).unwrap();
        let push = Content::Push(PushContent {
            title: half.into(),
            body: half.into(),
            data: Default::default(),
            image_url: None,
        });
        let err = render(&push, None).unwrap_err();
        assert_eq!(err.field, "content.body");
        assert!(err.reason.contains("fuel exhausted"), "{}", err.reason);
    }

    #[test]
    fn output_past_the_cap_is_refused_while_it_is_written() {
        // One instruction, 2 MiB: fuel cannot see it, the output cap does.
        let err = render(&sms("{{ 'x' * 2097152 }}"), None).unwrap_err();
        assert_eq!(err.field, "content.text");
        assert!(
            err.reason
                .contains(&format!("more than {MAX_OUTPUT_BYTES} bytes")),
            "{}",
            err.reason
        );
        let err = render(
            &sms("{% for i in range(20000) %}{{ 'y' * 100 }}{% endfor %}"),
            None,
        )
        .unwrap_err();
        assert!(err.reason.contains("bytes"), "{}", err.reason);
        // Up to the cap is fine, and the cap is for the message: a second field gets the rest.
        let full = format!("{{{{ 'x' * {MAX_OUTPUT_BYTES} }}}}");
        render(&sms(&full), None).unwrap();
        let push = Content::Push(PushContent {
            title: full.clone(),
            body: "{{ 'y' }}".into(),
            data: Default::default(),
            image_url: None,
        });
        let err = render(&push, None).unwrap_err();
        assert_eq!(err.field, "content.body");
    }

    #[test]
    fn a_batch_shares_its_fuel_and_each_message_keeps_its_own() {
        let mut batch = Budget::batch();
        let heavy = "{% for a in range(500) %}{% for b in range(500) %}{% endfor %}{% endfor %}";
        let mut ok = 0;
        let err = loop {
            assert!(ok < 100, "the batch's fuel never ran out");
            match render_within(&sms(heavy), None, &mut batch) {
                Ok(_) => ok += 1,
                Err(e) => break e,
            }
        };
        // 500 × 500 iterations cost about 750,000: the batch has room for 13 of them.
        assert!((10..=13).contains(&ok), "{ok}");
        assert!(err.reason.contains("batch"), "{}", err.reason);
        assert!(batch.exhausted());
        // A message alone still stops at its own fuel, and ends the batch's: the batch is
        // refused, and its other recipients share the template.
        let mut batch = Budget::batch();
        let err = render_within(&sms(NESTED), None, &mut batch).unwrap_err();
        assert!(!err.reason.contains("batch"), "{}", err.reason);
        assert!(batch.exhausted());
        // Other failures cost the batch a message's fuel, no more.
        let mut batch = Budget::batch();
        render_within(&sms("{{ missing }}"), None, &mut batch).unwrap_err();
        assert!(!batch.exhausted());
    }

    #[test]
    #[ignore = "a measurement, not a check: cargo test -p pombo-contract fuel_rate -- --ignored --nocapture"]
    fn fuel_rate() {
        let started = std::time::Instant::now();
        render(&sms(NESTED), None).unwrap_err();
        println!("{MESSAGE_FUEL} fuel in {:?}", started.elapsed());
    }
}
