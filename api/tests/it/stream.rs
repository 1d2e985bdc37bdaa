//! The live event stream: a WebSocket client and an SSE client get a tenant's events as they
//! happen, in log order; one that reconnects with its cursor (or `Last-Event-ID`) gets
//! exactly what it missed, across a restart of the API and from another API process; tokens
//! are checked (forged, expired, widened, another tenant's filters); a client that stops
//! reading is closed and resumes without a gap.

use std::{collections::HashSet, time::Duration};

use futures::{SinkExt, StreamExt};
use pombo_store::{entities::event_log, event_log::Cursor};
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};
use uuid::Uuid;

use crate::support::{
    ApiProcess, AppOptions, TestApp, email_request, spawn_app, spawn_app_with, unique_email,
};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// `ws://` for an `http://` base.
fn ws_url(base: &str, query: &str) -> String {
    format!("{}/v1/stream?{query}", base.replacen("http", "ws", 1))
}

async fn connect(base: &str, key: &str, query: &str) -> Ws {
    let mut request = ws_url(base, query).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next JSON message, skipping pings; `None` once the server closed.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s");
        match message {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Messages until one of type `ready`, which is returned last.
async fn until_ready(ws: &mut Ws) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let message = next(ws).await.expect("the stream is open");
        let ready = message["type"] == "ready";
        got.push(message);
        if ready {
            return got;
        }
    }
}

/// Events until `done` holds of them.
async fn events_until(ws: &mut Ws, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut got = Vec::new();
    while !done(&got) {
        let message = next(ws).await.expect("the stream is open");
        got.push(message);
    }
    got
}

/// Events until `notification` is sent.
async fn until_sent(ws: &mut Ws, notification: &str) -> Vec<Value> {
    events_until(ws, |got| {
        types_about(got, notification).contains(&"notification.sent".to_owned())
    })
    .await
}

fn types_about(events: &[Value], notification: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["data"]["notification_id"] == notification)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn cursor(event: &Value) -> Cursor {
    event["cursor"].as_str().unwrap().parse().unwrap()
}

/// Every event of the log after `after`, as `GET /v1/events` reads them.
async fn log_after(base: &str, key: &str, after: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut events = Vec::new();
    let mut after = after.to_owned();
    loop {
        let page: Value = client
            .get(format!("{base}/v1/events?after={after}&limit=200"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            return events;
        }
        events.extend(data.iter().cloned());
        after = page["next_cursor"].as_str().unwrap().to_owned();
    }
}

fn assert_in_order_each_once(events: &[Value]) {
    let cursors: Vec<Cursor> = events.iter().map(cursor).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "out of order or repeated: {cursors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_client_gets_the_events_of_a_notification_sent_elsewhere_in_order() {
    let app = spawn_app().await;
    let mut ws = connect(&app.address, &app.api_key, "").await;
    let ready = until_ready(&mut ws).await;
    assert_eq!(
        ready.len(),
        1,
        "nothing before `ready` without a cursor: {ready:?}"
    );

    // Sent over HTTP by another client; the stream sees it happen.
    let id = app.send(&email_request(&unique_email("stream"))).await;
    let events = until_sent(&mut ws, &id).await;
    assert_eq!(
        types_about(&events, &id),
        ["notification.accepted", "notification.sent"]
    );
    assert_in_order_each_once(&events);
    assert_eq!(events[0]["data"]["status"], "pending");
    // The same JSON as the log's.
    let logged = log_after(&app.address, &app.api_key, "0").await;
    let first = logged
        .iter()
        .find(|e| e["cursor"] == events[0]["cursor"])
        .unwrap();
    assert_eq!(first, &events[0]);

    // Filters: only `sent`, only of SMS: an email's accepted/sent do not come.
    let mut sms_only = connect(&app.address, &app.api_key, "channel=sms").await;
    until_ready(&mut sms_only).await;
    let mut sent_only = connect(&app.address, &app.api_key, "types=notification.sent").await;
    until_ready(&mut sent_only).await;
    let second = app.send(&email_request(&unique_email("stream"))).await;
    let events = events_until(&mut sent_only, |got| !got.is_empty()).await;
    assert_eq!(types_about(&events, &second), ["notification.sent"]);
    let sms = json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "oi"}});
    let third = app.send(&sms).await;
    let events = events_until(&mut sms_only, |got| !got.is_empty()).await;
    assert_eq!(
        events[0]["data"]["notification_id"],
        third.as_str(),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_resuming_with_its_cursor_gets_exactly_what_it_missed_across_an_api_restart() {
    let app = spawn_app().await;
    let first = ApiProcess::start(&app.config).await;
    let mut ws = connect(&first.base, &app.api_key, "").await;
    until_ready(&mut ws).await;
    let a = app.send(&email_request(&unique_email("resume"))).await;
    let mut seen = until_sent(&mut ws, &a).await;
    drop(ws);

    // Missed while away, and the API restarted meanwhile.
    let b = app.send(&email_request(&unique_email("resume"))).await;
    drop(first);
    let c = app.send(&email_request(&unique_email("resume"))).await;
    app.wait_for_status(&c, "sent", Duration::from_secs(30))
        .await;
    app.wait_for_status(&b, "sent", Duration::from_secs(30))
        .await;
    let second = ApiProcess::start(&app.config).await;
    let last = seen.last().unwrap()["cursor"].as_str().unwrap().to_owned();
    let mut ws = connect(&second.base, &app.api_key, &format!("after={last}")).await;
    let mut missed = until_ready(&mut ws).await;
    missed.pop();
    // Events of the log being readable a moment after commit (PostgreSQL), wait for both.
    let more = events_until(&mut ws, |got| {
        let all: Vec<Value> = missed.iter().chain(got).cloned().collect();
        types_about(&all, &b).len() == 2 && types_about(&all, &c).len() == 2
    })
    .await;
    missed.extend(more);
    assert!(types_about(&missed, &a).is_empty(), "{missed:?}");
    seen.extend(missed);
    assert_in_order_each_once(&seen);
    // Exactly the log: none missed, none twice.
    let logged = log_after(&second.base, &app.api_key, "0").await;
    let end = cursor(seen.last().unwrap());
    let logged: Vec<&Value> = logged.iter().filter(|e| cursor(e) <= end).collect();
    let first_seen = cursor(&seen[0]);
    let logged: Vec<&Value> = logged
        .into_iter()
        .filter(|e| cursor(e) >= first_seen)
        .collect();
    assert_eq!(logged, seen.iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn events_made_through_one_api_process_reach_a_client_of_another() {
    let app = spawn_app().await;
    let other = ApiProcess::start(&app.config).await;
    let mut ws = connect(&other.base, &app.api_key, "").await;
    until_ready(&mut ws).await;
    let id = app.send(&email_request(&unique_email("elsewhere"))).await;
    let events = until_sent(&mut ws, &id).await;
    assert_eq!(
        types_about(&events, &id),
        ["notification.accepted", "notification.sent"]
    );
}

/// One SSE event: its name, id and data.
#[derive(Debug)]
pub(crate) struct Sse {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) data: Value,
}

/// Reads SSE events from a response body.
pub(crate) struct SseReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl SseReader {
    pub(crate) fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            buffer: String::new(),
        }
    }

    pub(crate) async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                // A comment (the heartbeat) has neither.
                if let Some(name) = name {
                    return Sse {
                        name,
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("an SSE event within 20 s")
                .expect("the stream is open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    pub(crate) async fn until_ready(&mut self) -> Vec<Sse> {
        let mut got = Vec::new();
        loop {
            let event = self.next().await;
            if event.name == "ready" {
                return got;
            }
            got.push(event);
        }
    }
}

async fn sse(app: &TestApp, query: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(app.url(&format!("/v1/stream/sse?{query}")))
        .bearer_auth(&app.api_key);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sse_client_resumes_with_last_event_id_and_misses_nothing() {
    let app = spawn_app().await;
    let response = sse(&app, "", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut reader = SseReader::new(response);
    reader.until_ready().await;
    let a = app.send(&email_request(&unique_email("sse"))).await;
    let mut seen = Vec::new();
    while !types_about(&seen, &a).contains(&"notification.sent".to_owned()) {
        let event = reader.next().await;
        assert_eq!(event.id.as_deref(), event.data["cursor"].as_str());
        assert_eq!(event.name, event.data["type"].as_str().unwrap());
        seen.push(event.data);
    }
    drop(reader);

    let b = app.send(&email_request(&unique_email("sse"))).await;
    app.wait_for_status(&b, "sent", Duration::from_secs(30))
        .await;
    let last = seen.last().unwrap()["cursor"].as_str().unwrap().to_owned();
    // As a browser's EventSource reconnects: the URL it had, and the last id it saw.
    let mut reader = SseReader::new(sse(&app, "after=0", Some(&last)).await);
    let mut missed: Vec<Value> = reader
        .until_ready()
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    while types_about(&missed, &b).len() < 2 {
        missed.push(reader.next().await.data);
    }
    assert_eq!(
        types_about(&missed, &b),
        ["notification.accepted", "notification.sent"]
    );
    assert!(types_about(&missed, &a).is_empty());
    seen.extend(missed);
    assert_in_order_each_once(&seen);

    // A cursor retention went past gets `reset`, never a silent gap.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    pombo_store::event_log::purge(&app.db, later).await.unwrap();
    let mut reader = SseReader::new(sse(&app, "", Some("1")).await);
    let reset = reader.next().await;
    assert_eq!(reset.name, "reset", "{reset:?}");
    assert!(reset.data["purged_up_to"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_tokens_allow_what_they_say_and_nothing_else() {
    let app = spawn_app().await;
    let (code, token) = app
        .call(
            "POST",
            "/v1/stream/tokens",
            Some(&json!({"types": ["notification.sent"], "expires_in": 600})),
        )
        .await;
    assert_eq!(code, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();

    // A browser: the token in the URL, no key.
    let url = |query: &str| app.url(&format!("/v1/stream/sse?{query}"));
    let client = reqwest::Client::new();
    let response = client
        .get(url(&format!("token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = SseReader::new(response);
    reader.until_ready().await;
    let id = app.send(&email_request(&unique_email("token"))).await;
    let event = reader.next().await;
    assert_eq!(
        (
            event.name.as_str(),
            event.data["data"]["notification_id"].as_str()
        ),
        ("notification.sent", Some(id.as_str())),
        "the token's filter applies: no `accepted`"
    );

    // Or as a WebSocket's first message.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&app.address, ""))
        .await
        .unwrap();
    ws.send(Message::text(json!({"token": token}).to_string()))
        .await
        .unwrap();
    assert_eq!(until_ready(&mut ws).await.len(), 1);

    // Wider than the token: refused, naming what.
    let response = client
        .get(url(&format!("token={token}&types=notification.accepted")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("types"),
        "{problem}"
    );

    // Forged: the same claims signed with another key.
    let mut parts = token.split('.');
    let (header, claims) = (parts.next().unwrap(), parts.next().unwrap());
    let forged = format!("{header}.{claims}.c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ");
    let response = client
        .get(url(&format!("token={forged}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Expired.
    let (code, short) = app
        .call("POST", "/v1/stream/tokens", Some(&json!({"expires_in": 1})))
        .await;
    assert_eq!(code, 201);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = client
        .get(url(&format!("token={}", short["token"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    // No credentials at all.
    assert_eq!(client.get(url("")).send().await.unwrap().status(), 401);
    // A WebSocket route asked without the handshake says so.
    let response = client
        .get(app.url("/v1/stream"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 426);

    // Another tenant's conversation, or nonsense, as a filter: refused, naming each.
    let other = app.other_tenant_key().await;
    let foreign = Uuid::now_v7();
    let (code, problem) = app
        .call_as(
            &other,
            "POST",
            "/v1/stream/tokens",
            Some(&json!({"conversation": foreign, "types": ["notification.teleported"], "expires_in": 7200})),
        )
        .await;
    assert_eq!(code, 422, "{problem}");
    let fields = crate::support::problem_fields(&problem);
    assert_eq!(fields, ["expires_in", "types", "conversation"]);
    let response = client
        .get(url(&format!("conversation={foreign}&channel=pigeon")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    // The other tenant's stream never carries this tenant's events.
    let mut theirs = connect(&app.address, &other, "").await;
    until_ready(&mut theirs).await;
    let mut ours = connect(&app.address, &app.api_key, "").await;
    until_ready(&mut ours).await;
    let id = app.send(&email_request(&unique_email("token"))).await;
    until_sent(&mut ours, &id).await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), next(&mut theirs)).await;
    assert!(quiet.is_err(), "another tenant's events leaked: {quiet:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_closed_and_resumes_without_a_gap() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        stream: Some(pombo_contract::config::StreamConfig {
            queue: 16,
            heartbeat_secs: 1,
            ..Default::default()
        }),
        ..AppOptions::default()
    })
    .await;
    // A client with a small receive window, so that what it does not read backs up to us.
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let mut request = ws_url(&app.address, "").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.api_key).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    until_ready(&mut ws).await;

    // Far more than the socket buffers hold (the kernel's at most 4 MiB), straight into the
    // log, while the client reads nothing.
    let tenant = pombo_store::tenants::by_api_key(&app.db, &app.api_key)
        .await
        .unwrap()
        .unwrap()
        .id;
    const EVENTS: usize = 30_000;
    for chunk in 0..EVENTS / 1000 {
        let rows = (0..1000).map(|n| event_log::ActiveModel {
            tenant_id: Set(tenant),
            event_type: Set("notification.accepted".into()),
            subject_id: Set(Uuid::now_v7()),
            related_id: Set(None),
            status: Set(Some(format!("pending {}", chunk * 1000 + n))),
            occurred_at: Set(chrono::Utc::now()),
            ..Default::default()
        });
        event_log::Entity::insert_many(rows)
            .exec(&app.db)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Now it reads: what was on its way, then the end.
    let mut seen = Vec::new();
    let mut closing = None;
    while let Some(message) = next(&mut ws).await {
        if message["type"] == "closing" {
            closing = Some(message);
            break;
        }
        seen.push(message);
    }
    assert!(
        seen.len() < EVENTS,
        "the server kept writing to a client that read nothing: {} events",
        seen.len()
    );
    if let Some(closing) = &closing {
        assert_eq!(closing["reason"], "too_slow");
    }
    // Resumes from the last it got (the `closing` cursor, when it got that far, is the same).
    let last = seen
        .last()
        .map_or("0".to_owned(), |e| e["cursor"].as_str().unwrap().to_owned());
    let mut ws = connect(&app.address, &app.api_key, &format!("after={last}")).await;
    let mut rest = until_ready(&mut ws).await;
    rest.pop();
    seen.extend(rest);
    assert_eq!(seen.len(), EVENTS);
    assert_in_order_each_once(&seen);
    let statuses: HashSet<&str> = seen
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), EVENTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_holds_at_most_its_connections_and_gets_them_back_when_they_close() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        stream: Some(pombo_contract::config::StreamConfig {
            max_connections_per_tenant: 2,
            ..Default::default()
        }),
        ..AppOptions::default()
    })
    .await;
    let first = sse(&app, "", None).await;
    let mut second = SseReader::new(sse(&app, "", None).await);
    second.until_ready().await;
    let third = sse(&app, "", None).await;
    assert_eq!(third.status(), 429);
    let mut ws = connect_refused(&app).await;
    assert_eq!(ws.take().map(|r| r.status().as_u16()), Some(429));
    // Another tenant is not counted with this one.
    let other = app.other_tenant_key().await;
    let theirs = reqwest::Client::new()
        .get(app.url("/v1/stream/sse"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200);
    drop(first);
    // The slot comes back once the server sees the connection gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = sse(&app, "", None).await;
        if again.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A WebSocket handshake the server refuses: its HTTP answer.
async fn connect_refused(
    app: &TestApp,
) -> Option<tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>> {
    let mut request = ws_url(&app.address, "").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", app.api_key).parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Some(*response),
        Err(e) => panic!("{e}"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_ends_when_its_token_expires() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (code, token) = app
        .call("POST", "/v1/stream/tokens", Some(&json!({"expires_in": 2})))
        .await;
    assert_eq!(code, 201, "{token}");
    let response = reqwest::Client::new()
        .get(app.url(&format!(
            "/v1/stream/sse?token={}",
            token["token"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    let mut reader = SseReader::new(response);
    reader.until_ready().await;
    let closing = reader.next().await;
    assert_eq!(closing.name, "closing", "{closing:?}");
    assert_eq!(closing.data["reason"], "token_expired");
}
