//! What every HTTP provider shares: classifying transport failures and status codes.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};

use super::DeliveryError;

/// A request that got no answer: connection refused, TLS failure, timeout. Worth retrying,
/// unless the outbound guard refused the target: that is final, and says which rule.
/// The URL is dropped from the message, since some providers put credentials in it
/// (Telegram's bot token is a path segment).
pub fn transport_error(provider: &str, e: reqwest::Error) -> DeliveryError {
    if let Some(refused) = super::outbound::refusal(&e) {
        return DeliveryError::permanent(format!("{provider}: {refused}"))
            .with_code("target_refused");
    }
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    DeliveryError::retryable(format!("{provider}: {what}: {e}"))
}

/// Classifies an HTTP error answer the way most providers document theirs: 408, 425, 429
/// and 5xx are transient (429 honours `Retry-After`); any other 4xx is final.
pub fn classify(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    detail: &str,
) -> DeliveryError {
    let message = format!("{provider} answered {status}: {detail}");
    let transient = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.as_u16() == 425;
    if transient {
        DeliveryError::retryable(message).with_retry_after(retry_after(headers))
    } else {
        DeliveryError::permanent(message)
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at an hour (a longer wait is better
/// served by the notification's own retry schedule than by one sleeping attempt).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(delay.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_split_into_transient_and_final() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let e = classify("x", StatusCode::TOO_MANY_REQUESTS, &headers, "slow down");
        assert_eq!(
            e,
            DeliveryError::Retryable {
                message: "x answered 429 Too Many Requests: slow down".into(),
                code: None,
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        assert!(!classify("x", StatusCode::BAD_GATEWAY, &HeaderMap::new(), "").is_permanent());
        assert!(classify("x", StatusCode::BAD_REQUEST, &HeaderMap::new(), "").is_permanent());
        assert!(classify("x", StatusCode::UNAUTHORIZED, &HeaderMap::new(), "").is_permanent());
    }

    #[test]
    fn retry_after_accepts_http_dates() {
        let mut headers = HeaderMap::new();
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        headers.insert("retry-after", at.to_rfc2822().parse().unwrap());
        let d = retry_after(&headers).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
    }
}
