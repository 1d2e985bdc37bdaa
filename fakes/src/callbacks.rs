//! Callbacks the fakes build as their providers send them (signed), for tests to POST to
//! Pombo's `/v1/callbacks/…` endpoints.

/// One HTTP callback request: `POST` with this content type, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCallback {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}
