//! Rules for files, whoever brings them (a tenant's upload, a person's message): which
//! content types storage accepts, and the file name that is kept.

/// The type and subtype of `content_type`, lower-cased, without its parameters
/// (`Image/PNG; charset=binary` → `image/png`).
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether `content_type` is in `allowed` (exactly, or as `type/*`).
pub fn accepts(allowed: &[String], content_type: &str) -> bool {
    let essence = essence(content_type);
    let Some((kind, _)) = essence.split_once('/') else {
        return false;
    };
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        a == essence || a.strip_suffix("/*") == Some(kind)
    })
}

/// `raw` without any directories or control characters, at most `max_chars`; `fallback`
/// when nothing is left.
pub fn clean_filename(raw: &str, max_chars: usize, fallback: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        fallback.into()
    } else {
        cleaned.to_owned()
    }
}
