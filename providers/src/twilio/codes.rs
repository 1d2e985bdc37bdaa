//! Twilio's error codes, in one table: the 2xxxx a Create Message answers with (which decide
//! a retry over the HTTP status) and the 3xxxx of status callbacks (delivery errors, shown
//! with Twilio's words). <https://www.twilio.com/docs/api/errors>

use reqwest::StatusCode;

use crate::http;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Retryable,
    Permanent,
}

/// Whether an error answer is worth another attempt, from its HTTP status and Twilio's
/// error code (which wins where Twilio documents it).
pub(crate) fn classify(status: StatusCode, code: Option<i64>) -> Class {
    match code {
        // Too Many Requests (account concurrency / rate limit).
        Some(20429) => return Class::Retryable,
        // The `From` number's outgoing queue is full: it drains.
        Some(21611) => return Class::Retryable,
        // Internal error / service unavailable.
        Some(20500 | 20503) => return Class::Retryable,
        // Authenticate (bad Account SID / Auth Token): no retry fixes credentials.
        Some(20003) => return Class::Permanent,
        // Recipient problems: invalid `To` (21211), region not enabled (21408),
        // unsubscribed (21610), unroutable (21612), not SMS-capable (21614), and sender
        // or request problems: invalid `From` (21212), `From` not owned (21606),
        // missing Body/From/To (21602/21603/21604), body too long (21617).
        Some(
            21211 | 21408 | 21610 | 21612 | 21614 | 21212 | 21606 | 21602 | 21603 | 21604 | 21617,
        ) => return Class::Permanent,
        _ => {}
    }
    if http::is_transient(status) {
        Class::Retryable
    } else {
        Class::Permanent
    }
}

/// Twilio's words for the delivery errors of status callbacks.
pub(crate) fn describe(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow",
        "30002" => "Account suspended",
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Message filtered",
        "30008" => "Unknown error",
        "30009" => "Missing inbound segment",
        "30010" => "Message price exceeds max price",
        "30034" => "Message from an unregistered number",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_codes_decide_over_http_status() {
        let bad = StatusCode::BAD_REQUEST;
        for code in [21211, 21408, 21610, 21612, 21614, 21212, 21606, 21604] {
            assert_eq!(classify(bad, Some(code)), Class::Permanent, "{code}");
        }
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, Some(20003)),
            Class::Permanent
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(20429)),
            Class::Retryable
        );
        // A 400 whose code says "queue full" is transient.
        assert_eq!(classify(bad, Some(21611)), Class::Retryable);
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None),
            Class::Retryable
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, None),
            Class::Retryable
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, Some(20500)),
            Class::Retryable
        );
        assert_eq!(
            classify(StatusCode::NOT_FOUND, Some(20404)),
            Class::Permanent
        );
        assert_eq!(classify(bad, None), Class::Permanent);
    }
}
