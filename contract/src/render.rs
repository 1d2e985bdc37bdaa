//! Rendering of content placeholders with MiniJinja: strict about missing values (an
//! error naming the variable, never a blank), and HTML-escaping values in HTML parts.
//!
//! Pure and deterministic, so the API can refuse bad data at request time and the worker's
//! render activity produces exactly what the API checked.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::content::{EmailContent, RenderedEmail};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct RenderError {
    /// Which part of the content failed (`content.subject`, `content.html`, …).
    pub field: String,
    pub reason: String,
}

pub fn render_email(
    content: &EmailContent,
    data: Option<&Value>,
) -> Result<RenderedEmail, RenderError> {
    let empty = Value::Object(Default::default());
    let data = data.unwrap_or(&empty);
    let subject = render_one("content.subject", &content.subject, data, false)?;
    if subject.contains(['\r', '\n']) {
        return Err(RenderError {
            field: "content.subject".into(),
            reason: "the rendered subject contains a line break".into(),
        });
    }
    Ok(RenderedEmail {
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
    fn syntax_errors_and_header_injection_are_refused() {
        assert!(render_email(&content("{{ oops", None, None), None).is_err());
        let c = content("{{ s }}", None, None);
        let err = render_email(&c, Some(&json!({"s": "a\r\nBcc: x@y.z"}))).unwrap_err();
        assert!(err.reason.contains("line break"));
    }
}
