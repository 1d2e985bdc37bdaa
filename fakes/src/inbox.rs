//! What the fakes received, and the faults queued for them.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, request::Parts},
    response::{Html, IntoResponse},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Shared by every fake: the inbox, the queued faults, and the server's own base URL.
#[derive(Clone)]
pub struct FakeState {
    pub inbox: Inbox,
    pub faults: Faults,
    /// Files people sent, served by each provider's fake (`crate::media`).
    pub media: crate::media::MediaStore,
    /// `http://127.0.0.1:<port>`: fakes that hand out URLs (media, callbacks) use it.
    pub base_url: String,
}

impl FakeState {
    pub fn new(base_url: String) -> Self {
        FakeState {
            inbox: Inbox::default(),
            faults: Faults::default(),
            media: Default::default(),
            base_url,
        }
    }
}

/// One request as a fake received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub provider: String,
    pub method: String,
    /// Path below the provider's prefix, as the real service would see it.
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub at: DateTime<Utc>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as `application/x-www-form-urlencoded` pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }

    pub fn form_value(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Requests>>);

/// What the fakes received, and how many per provider (so that numbering a request and
/// counting a provider's do not read them all: a benchmark records tens of thousands).
#[derive(Default)]
struct Requests {
    all: Vec<Recorded>,
    counts: std::collections::HashMap<String, usize>,
}

/// A request's place among those its provider's fake received (1-based), fixed as it was
/// recorded: the fakes that number their answers use it, so that requests answered at once
/// get distinct numbers in the order [`Inbox::of`] lists them.
#[derive(Debug, Clone, Copy)]
pub struct Position(pub usize);

impl Inbox {
    pub fn record(&self, provider: &str, parts: &Parts, body: &[u8]) -> Position {
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let mut requests = self.0.lock().expect("inbox lock");
        let count = requests.counts.entry(provider.to_owned()).or_default();
        *count += 1;
        let position = Position(*count);
        requests.all.push(Recorded {
            provider: provider.to_owned(),
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: String::from_utf8_lossy(body).into_owned(),
            at: Utc::now(),
        });
        position
    }

    pub fn of(&self, provider: &str) -> Vec<Recorded> {
        // Only this provider's copied: the others may be many.
        let requests = self.0.lock().expect("inbox lock");
        requests
            .all
            .iter()
            .filter(|r| r.provider == provider)
            .cloned()
            .collect()
    }

    /// How many requests `provider`'s fake received, without copying them.
    pub fn count_of(&self, provider: &str) -> usize {
        let requests = self.0.lock().expect("inbox lock");
        requests.counts.get(provider).copied().unwrap_or(0)
    }

    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().expect("inbox lock").all.clone()
    }

    pub fn clear(&self) {
        let mut requests = self.0.lock().expect("inbox lock");
        requests.all.clear();
        requests.counts.clear();
    }
}

/// A canned failure answered instead of the fake's normal reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub status: u16,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    #[serde(default = "Fault::default_message")]
    pub message: String,
    /// Wait this long before answering (a slow provider).
    #[serde(default, with = "millis")]
    pub delay: Option<Duration>,
    /// Answer this instead of the provider's error shape: something in front of the
    /// provider, or in its place (a proxy's page, an internal service's answer).
    #[serde(default)]
    pub foreign: Option<Foreign>,
}

/// An answer that does not come from the provider: its content type and body, as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Foreign {
    pub content_type: String,
    pub body: String,
}

impl Fault {
    fn default_message() -> String {
        "injected fault".into()
    }

    pub fn status(status: u16) -> Fault {
        Fault {
            status,
            retry_after_secs: None,
            message: Self::default_message(),
            delay: None,
            foreign: None,
        }
    }

    /// `status` with `body` as `content_type`, not the provider's error shape.
    pub fn foreign(status: u16, content_type: &str, body: &str) -> Fault {
        Fault {
            foreign: Some(Foreign {
                content_type: content_type.into(),
                body: body.into(),
            }),
            ..Fault::status(status)
        }
    }

    /// A 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Fault {
        Fault {
            retry_after_secs: Some(secs),
            ..Fault::status(429)
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<String, VecDeque<Fault>>>>);

impl Faults {
    pub fn push(&self, provider: &str, times: usize, fault: Fault) {
        let mut map = self.0.lock().expect("faults lock");
        let queue = map.entry(provider.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    pub fn take(&self, provider: &str) -> Option<Fault> {
        self.0
            .lock()
            .expect("faults lock")
            .get_mut(provider)?
            .pop_front()
    }
}

#[derive(Deserialize)]
struct Filter {
    provider: Option<String>,
}

#[derive(Deserialize)]
struct FaultRequest {
    provider: String,
    #[serde(default = "one")]
    times: usize,
    #[serde(flatten)]
    fault: Fault,
}

fn one() -> usize {
    1
}

pub(crate) fn routes() -> Router<FakeState> {
    Router::new()
        .route("/", get(page))
        .route("/_fake/requests", get(list).delete(clear))
        .route("/_fake/faults", post(add_fault))
}

async fn list(State(state): State<FakeState>, Query(f): Query<Filter>) -> Json<Vec<Recorded>> {
    Json(match f.provider {
        Some(p) => state.inbox.of(&p),
        None => state.inbox.all(),
    })
}

async fn clear(State(state): State<FakeState>) -> StatusCode {
    state.inbox.clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(state): State<FakeState>, Json(req): Json<FaultRequest>) -> StatusCode {
    state.faults.push(&req.provider, req.times, req.fault);
    StatusCode::NO_CONTENT
}

/// What arrived, newest first: a way for people trying `make run` to see what was "sent".
async fn page(State(state): State<FakeState>) -> impl IntoResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut rows = String::new();
    for r in state.inbox.all().iter().rev().take(200) {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td><pre>{}</pre></td></tr>",
            r.at.format("%H:%M:%S%.3f"),
            escape(&r.provider),
            escape(&r.method),
            escape(&r.path),
            escape(&r.body),
        ));
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Pombo provider fakes</title>\
         <style>body{{font-family:sans-serif}}td{{vertical-align:top;border-top:1px solid #ddd;padding:4px}}\
         pre{{white-space:pre-wrap;max-width:70em;margin:0}}</style>\
         <h1>Requests received by the provider fakes</h1>\
         <p>JSON: <a href=/_fake/requests>/_fake/requests</a>. Newest first.</p>\
         <table><tr><th>time</th><th>provider</th><th>request</th><th>body</th></tr>{rows}</table>"
    ))
}
