//! Rendering of content placeholders with MiniJinja: strict about missing values (an
//! error naming the variable, never a blank), and HTML-escaping values in HTML parts.
//!
//! Pure and deterministic, so the API can refuse bad data at request time and the worker's
//! render activity produces exactly what the API checked.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::content::{
    AttachmentRef, ChatContent, Content, EmailContent, PushContent, TextContent, WebhookContent,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RenderError {
    /// Which part of the content failed (`content.subject`, `content.html`, …).
    pub field: String,
    pub reason: String,
}

/// Fills the placeholders of every text field of `content`; the shape stays the same.
pub fn render(content: &Content, data: Option<&Value>) -> Result<Content, RenderError> {
    let empty = Value::Object(Default::default());
    let data = data.unwrap_or(&empty);
    let text = |field: &str, s: &str| render_one(field, s, data, false);
    let opt = |field: &str, s: &Option<String>| s.as_deref().map(|s| text(field, s)).transpose();
    Ok(match content {
        Content::Email(c) => Content::Email(render_email(c, Some(data))?),
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
        Content::Whatsapp(c) => Content::Whatsapp(render_chat(c, data)?),
        Content::Instagram(c) => Content::Instagram(render_chat(c, data)?),
        Content::Webhook(c) => Content::Webhook(WebhookContent {
            event_type: text("content.type", &c.event_type)?,
            payload: render_json("content.payload", &c.payload, data)?,
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

fn render_chat(c: &ChatContent, data: &Value) -> Result<ChatContent, RenderError> {
    let text = |field: &str, s: &str| render_one(field, s, data, false);
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
fn render_json(field: &str, value: &Value, data: &Value) -> Result<Value, RenderError> {
    Ok(match value {
        Value::String(s) => Value::String(render_one(field, s, data, false)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_json(&format!("{field}[{i}]"), v, data))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(&format!("{field}.{k}"), v, data)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
        other => other.clone(),
    })
}

pub fn render_email(
    content: &EmailContent,
    data: Option<&Value>,
) -> Result<EmailContent, RenderError> {
    let empty = Value::Object(Default::default());
    let data = data.unwrap_or(&empty);
    let subject = render_one("content.subject", &content.subject, data, false)?;
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
            .map(|t| render_one("content.text", t, data, false))
            .transpose()?,
        html: content
            .html
            .as_deref()
            .map(|t| render_one("content.html", t, data, true))
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
                        .map(|f| render_one(&field, f, data, false))
                        .transpose()?,
                })
            })
            .collect::<Result<_, RenderError>>()?,
    })
}

fn render_one(field: &str, source: &str, data: &Value, html: bool) -> Result<String, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| {
        if html {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let fail = |e: minijinja::Error| RenderError {
        field: field.to_owned(),
        reason: describe(&e, source),
    };
    let template = env.template_from_str(source).map_err(fail)?;
    template.render(data).map_err(fail)
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
}
