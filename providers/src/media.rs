//! Files people send in, fetched from where the provider keeps them: WhatsApp Cloud's media
//! id (→ a short-lived URL, downloaded with the token), Telegram's `getFile`, Twilio's
//! `MediaUrlN`, a gateway's file URL or base64, Instagram's and Callbell's attachment URLs.
//! Each provider's `media.rs` makes the request(s) with its own credentials through the
//! account's guarded client (a tenant's account may only reach public addresses, redirects
//! included); [`download`] reads the answer with a size cap. Errors are [`DeliveryError`]s,
//! classified as a send's: a 5xx or a timeout is retried by the fetch's workflow, a 404 or a
//! refused target is final (the message keeps a media error).

use reqwest::StatusCode;

use crate::{
    DeliveryError,
    http::{is_transient, transport_error},
};

/// One file to fetch, as the inbound message named it.
#[derive(Debug, Clone, Copy)]
pub struct Fetch<'a> {
    /// The provider's media id, file id, message key or URL (`InboundMedia::reference`).
    pub reference: &'a str,
    pub content_type: Option<&'a str>,
    /// Most bytes taken (`storage.max_file_bytes`): a larger file is refused, never read
    /// past the cap.
    pub limit: u64,
}

/// A fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// What the provider says it is, when it says.
    pub content_type: Option<String>,
}

/// Reads a download's answer: the body up to `limit` bytes (more is a permanent refusal),
/// and its content type. A failed answer is classified by its status alone (the body of a
/// CDN's error page says nothing useful, and may echo a signed URL).
pub async fn download(
    provider: &str,
    request: reqwest::RequestBuilder,
    limit: u64,
) -> Result<Fetched, DeliveryError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    read(provider, response, limit).await
}

/// [`download`] of an answer already in hand.
pub async fn read(
    provider: &str,
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Fetched, DeliveryError> {
    let status = response.status();
    if !status.is_success() {
        return Err(failed(provider, status));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large(provider, limit));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, e))?
    {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large(provider, limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        bytes,
        content_type,
    })
}

/// A download answered `status`: transient answers are retried, the rest are final.
pub fn failed(provider: &str, status: StatusCode) -> DeliveryError {
    let message = format!("{provider}: the file's download answered {status}");
    if is_transient(status) {
        DeliveryError::retryable(message)
    } else {
        DeliveryError::permanent(message).with_code(status.as_u16().to_string())
    }
}

fn too_large(provider: &str, limit: u64) -> DeliveryError {
    DeliveryError::permanent(format!(
        "{provider}: the file is larger than storage.max_file_bytes ({limit} bytes)"
    ))
    .with_code("too_large")
}

/// Decodes a file a gateway hands over as base64 (with or without a `data:` prefix),
/// refusing one past `limit` before decoding it.
pub fn from_base64(
    provider: &str,
    encoded: &str,
    content_type: Option<String>,
    limit: u64,
) -> Result<Fetched, DeliveryError> {
    use base64::Engine;
    let encoded = match encoded.split_once(";base64,") {
        Some((_, data)) if encoded.starts_with("data:") => data,
        _ => encoded,
    };
    let encoded = encoded.trim();
    if (encoded.len() as u64 / 4) * 3 > limit.saturating_add(3) {
        return Err(too_large(provider, limit));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| {
            DeliveryError::permanent(format!(
                "{provider}: the file's base64 does not decode: {e}"
            ))
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(provider, limit));
    }
    Ok(Fetched {
        bytes,
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_files_decode_with_or_without_a_data_prefix_and_within_the_cap() {
        let plain = from_base64("g", "aGVsbG8=", None, 10).unwrap();
        assert_eq!(plain.bytes, b"hello");
        let data = from_base64("g", "data:image/png;base64,aGVsbG8=", None, 10).unwrap();
        assert_eq!(data.bytes, b"hello");
        let big = from_base64("g", "aGVsbG8gd29ybGQ=", None, 5).unwrap_err();
        assert_eq!(big.code(), Some("too_large"));
        assert!(
            from_base64("g", "not base64!", None, 100)
                .unwrap_err()
                .is_permanent()
        );
    }

    #[test]
    fn a_failed_download_is_retried_only_when_the_status_says_transient() {
        assert!(!failed("g", StatusCode::SERVICE_UNAVAILABLE).is_permanent());
        assert!(!failed("g", StatusCode::TOO_MANY_REQUESTS).is_permanent());
        assert!(failed("g", StatusCode::NOT_FOUND).is_permanent());
        assert!(failed("g", StatusCode::FORBIDDEN).is_permanent());
    }
}

/// Whether `url` is on the same origin (scheme, host, port) as `base`: a provider's own
/// credentials go only there, never to wherever a webhook's URL points.
pub fn same_origin(url: &str, base: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(base)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// A file a webhook gave as a URL: an http(s) URL, or a permanent refusal.
pub fn url_of<'a>(provider: &str, reference: &'a str) -> Result<&'a str, DeliveryError> {
    match url::Url::parse(reference) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(reference),
        _ => Err(DeliveryError::permanent(format!(
            "{provider}: the file's URL is not an http(s) URL"
        ))),
    }
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_providers_own_origin() {
        assert!(same_origin(
            "https://api.twilio.com/2010-04-01/x",
            "https://api.twilio.com"
        ));
        assert!(!same_origin(
            "https://evil.example/x",
            "https://api.twilio.com"
        ));
        assert!(!same_origin(
            "http://api.twilio.com/x",
            "https://api.twilio.com"
        ));
        assert!(!same_origin(
            "https://api.twilio.com:8443/x",
            "https://api.twilio.com"
        ));
        assert!(url_of("p", "file:///etc/passwd").is_err());
    }
}
