//! Email engagement, opted into per notification or template: an open pixel and tracked
//! links in an email's HTML. Pure: where the links of an HTML body are, how the body is
//! rewritten at send time, and which link a click means. A click's target is read back
//! from the notification's own stored content by its position, never from the URL, so a
//! tracked link cannot be made into an open redirect.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an email tracks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tracking {
    /// A 1×1 image that records the first time the email is shown (`opened`).
    #[serde(default)]
    pub opens: bool,
    /// Every http(s) link of the HTML goes through Pombo, which records the click
    /// (`clicked`, with the link's position) and redirects.
    #[serde(default)]
    pub clicks: bool,
}

/// The byte range of each http(s) `href` value of `html`, in order.
fn link_spans(html: &str) -> Vec<(usize, usize)> {
    let lower = html.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find("href") {
        let at = from + found;
        from = at + 4;
        // `href`, spaces, `=`, spaces, a quote.
        let rest = &lower[from..];
        let trimmed = rest.trim_start();
        let Some(after_eq) = trimmed.strip_prefix('=') else {
            continue;
        };
        let value = after_eq.trim_start();
        let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let start = html.len() - value.len() + 1;
        let Some(len) = lower[start..].find(quote) else {
            break;
        };
        let target = &lower[start..start + len];
        if target.starts_with("http://") || target.starts_with("https://") {
            spans.push((start, start + len));
        }
        from = start + len;
    }
    spans
}

/// The `position`-th tracked link of `html` (0-based), as a browser would follow it (the
/// HTML character references an attribute may hold decoded).
pub fn link_at(html: &str, position: usize) -> Option<String> {
    let (start, end) = *link_spans(html).get(position)?;
    let url = html[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then_some(url)
}

/// `html` with each tracked link replaced by `link(position)` (when `clicks`) and the
/// `pixel` image added before `</body>` or at the end (when given).
pub fn rewrite(
    html: &str,
    clicks: bool,
    link: impl Fn(usize) -> String,
    pixel: Option<&str>,
) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut last = 0;
    if clicks {
        for (position, (start, end)) in link_spans(html).into_iter().enumerate() {
            out.push_str(&html[last..start]);
            out.push_str(&link(position));
            last = end;
        }
    }
    out.push_str(&html[last..]);
    if let Some(src) = pixel {
        let image = format!(
            "<img src=\"{src}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">"
        );
        match out.to_ascii_lowercase().rfind("</body>") {
            Some(at) => out.insert_str(at, &image),
            None => out.push_str(&image),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: &str = r##"<html><body><p>Hi <a href="https://shop.example/a?x=1&amp;y=2">A</a>,
<a HREF = 'http://b.example/'>B</a> <a href="mailto:x@example.com">mail</a>
<a href="#top">top</a> <a href="HTTPS://C.example/c">C</a></p></body></html>"##;

    #[test]
    fn http_links_are_found_in_order_and_others_left_alone() {
        assert_eq!(
            link_at(HTML, 0).as_deref(),
            Some("https://shop.example/a?x=1&y=2")
        );
        assert_eq!(link_at(HTML, 1).as_deref(), Some("http://b.example/"));
        assert_eq!(link_at(HTML, 2).as_deref(), Some("HTTPS://C.example/c"));
        assert_eq!(link_at(HTML, 3), None);
        assert_eq!(link_at("<a href=\"https://unterminated", 0), None);
    }

    #[test]
    fn links_become_tracked_and_the_pixel_goes_before_the_body_ends() {
        let out = rewrite(
            HTML,
            true,
            |i| format!("https://pombo.test/c/{i}"),
            Some("https://pombo.test/o.gif"),
        );
        assert!(
            out.contains(r#"<a href="https://pombo.test/c/0">A</a>"#),
            "{out}"
        );
        assert!(
            out.contains("<a HREF = 'https://pombo.test/c/1'>B</a>"),
            "{out}"
        );
        assert!(out.contains("href=\"mailto:x@example.com\""), "{out}");
        assert!(out.contains("href=\"#top\""), "{out}");
        assert!(out.contains("https://pombo.test/c/2"), "{out}");
        assert!(out.ends_with("<img src=\"https://pombo.test/o.gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\"></body></html>"), "{out}");
        // Opens only: the links stay.
        let opens = rewrite(HTML, false, |_| unreachable!(), Some("p"));
        assert!(opens.contains("https://shop.example/a?x=1&amp;y=2"));
        assert_eq!(
            rewrite("plain", false, |_| String::new(), Some("p")),
            "plain<img src=\"p\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">"
        );
    }
}
