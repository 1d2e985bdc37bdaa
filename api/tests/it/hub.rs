//! The chat hub end to end (source document 003): three reference chat platforms on
//! loopback, each implementing the source's four routes (`GET /api/users`, `POST
//! /api/user`, `POST /api/room`, `POST /api/message`) and recording what it gets, written
//! from the source's slides, not from Pombo's client. Users and rooms propagate, a message
//! reaches the other platforms in the source's shapes, a platform that is down gets what
//! it missed in order and none twice when it is back, a refused forward fails alone,
//! tokens are checked, and tenants' hubs are apart.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::Path,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::support::{
    AppOptions, InProcessWorker, TestApp, WorkerProcess, expect, problem_fields, spawn_app_with,
};

/// What a platform received at one of its routes.
#[derive(Clone, Debug)]
struct Got {
    route: String,
    idempotency_key: Option<String>,
    body: Value,
}

/// A chat platform as the source's apps are: four routes under `/api/`. While `down`, it
/// answers 503 to everything (and keeps nothing of it); a message whose text contains
/// `refuse me` gets a 400. With a `slow` delay it keeps what it got, then answers after
/// the delay.
struct ChatPlatform {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    down: Arc<AtomicBool>,
    slow_ms: Arc<AtomicU64>,
}

impl ChatPlatform {
    async fn start() -> ChatPlatform {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let slow_ms = Arc::new(AtomicU64::new(0));
        let (recorded, is_down, slow) = (got.clone(), down.clone(), slow_ms.clone());
        let down_users = down.clone();
        let app = Router::new()
            .route(
                "/api/users",
                get(move || {
                    let down = down_users.clone();
                    async move {
                        if down.load(Ordering::SeqCst) {
                            return StatusCode::SERVICE_UNAVAILABLE.into_response();
                        }
                        Json(json!([{"id": 1, "name": "Local"}])).into_response()
                    }
                }),
            )
            .route(
                "/api/{route}",
                post(
                    move |Path(route): Path<String>,
                          headers: HeaderMap,
                          Json(body): Json<Value>| {
                        let (recorded, down, slow) =
                            (recorded.clone(), is_down.clone(), slow.clone());
                        async move {
                            if down.load(Ordering::SeqCst) {
                                return StatusCode::SERVICE_UNAVAILABLE.into_response();
                            }
                            if body["text"]
                                .as_str()
                                .is_some_and(|t| t.contains("refuse me"))
                            {
                                return (StatusCode::BAD_REQUEST, "no").into_response();
                            }
                            recorded.lock().unwrap().push(Got {
                                route,
                                idempotency_key: headers
                                    .get("idempotency-key")
                                    .map(|v| v.to_str().unwrap().to_owned()),
                                body,
                            });
                            let delay = slow.load(Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            Json(json!({"status": 200, "message": "ok"})).into_response()
                        }
                    },
                ),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ChatPlatform {
            addr,
            got,
            down,
            slow_ms,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    fn got(&self, route: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.route == route)
            .cloned()
            .collect()
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Waits until `count` arrived at `route`, or fails naming what came.
    async fn wait_for(&self, route: &str, count: usize) -> Vec<Got> {
        let start = Instant::now();
        loop {
            let got = self.got(route);
            if got.len() >= count {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{route}: wanted {count}, got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Removes the platform `id` (which ends its forwarder) and records the forwarder's
/// history as the replay fixture `hub_forward/<case>.json` when `POMBO_RECORD_HISTORIES`
/// asks for it.
async fn remove_and_record(app: &TestApp, id: &Value, case: &str) {
    let id = id.as_str().unwrap();
    expect(app, "DELETE", &format!("/v1/hub/platforms/{id}"), None, 204).await;
    let workflow_id = pombo_contract::hub::forward_workflow_id(id.parse().unwrap());
    crate::support::histories::record(&app.config, "hub_forward", case, &workflow_id).await;
}

/// A platform's call on the source's routes (no API key: its token is in the body).
async fn hub(app: &TestApp, path: &str, body: Value, expected: u16) -> Value {
    let response = app
        .http
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(code, expected, "POST {path}: {answer}");
    answer
}

async fn hub_get(app: &TestApp, path: &str, expected: u16) -> Value {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    let code = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(code, expected, "GET {path}: {answer}");
    answer
}

/// Three reference platforms, to be registered by [`three`].
async fn three_platforms() -> (ChatPlatform, ChatPlatform, ChatPlatform) {
    (
        ChatPlatform::start().await,
        ChatPlatform::start().await,
        ChatPlatform::start().await,
    )
}

/// An app whose outbound rule lets it reach `platforms` on loopback.
async fn app_for(platforms: &[&ChatPlatform]) -> TestApp {
    app_with(platforms, AppOptions::default()).await
}

/// [`app_for`] with other options.
async fn app_with(platforms: &[&ChatPlatform], options: AppOptions) -> TestApp {
    spawn_app_with(AppOptions {
        allowed_private_targets: platforms.iter().map(|p| p.addr.to_string()).collect(),
        ..options
    })
    .await
}

/// Registers `platform` as `name`; its id and token.
async fn register(
    app: &TestApp,
    name: &str,
    platform: &ChatPlatform,
    capabilities: Value,
) -> (String, String) {
    let created = expect(
        app,
        "POST",
        "/v1/hub/platforms",
        Some(json!({"name": name, "endpoint": platform.endpoint(), "capabilities": capabilities})),
        201,
    )
    .await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["token"].as_str().unwrap().to_owned(),
    )
}

/// Three platforms named as in the source, registered; their tokens in that order.
async fn three(app: &TestApp, p: [&ChatPlatform; 3]) -> [String; 3] {
    let (_, gwt) = register(app, "GWT_CHAT", p[0], json!(["audio", "image"])).await;
    let (_, net) = register(app, "net core", p[1], json!(["image"])).await;
    let (_, buas) = register(app, "BuasApp", p[2], json!([])).await;
    [gwt, net, buas]
}

/// A public room of GWT_CHAT's with members on all three platforms.
async fn room(app: &TestApp, gwt_token: &str) -> Value {
    hub(
        app,
        "/hub/room",
        json!({"id": 4, "name": "Los mundialistas", "token": gwt_token, "type": "public",
               "users": [{"GWT_CHAT": [1, 2]}, {"net core": [3, 5]}, {"BuasApp": [6]}]}),
        200,
    )
    .await
}

fn message(token: &str, sender: i64, text: &str) -> Value {
    json!({"roomOriginalPlatform": "GWT_CHAT", "roomId": 4, "senderId": sender, "text": text,
           "token": token})
}

#[tokio::test(flavor = "multi_thread")]
async fn users_rooms_and_messages_reach_the_other_platforms_in_the_sources_shapes() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_for(&[&gwt, &net, &buas]).await;
    let [gwt_token, net_token, _] = three(&app, [&gwt, &net, &buas]).await;

    // A user of BuasApp's... posted by net core here: the others hear of it.
    hub(
        &app,
        "/hub/user",
        json!({"id": 4, "name": "Juan", "token": net_token}),
        200,
    )
    .await;
    for other in [&gwt, &buas] {
        let got = other.wait_for("user", 1).await;
        assert_eq!(
            got[0].body,
            json!({"id": 4, "name": "Juan", "platform": "net core"})
        );
    }
    assert!(
        net.got("user").is_empty(),
        "the sender is not told of its own user"
    );

    room(&app, &gwt_token).await;
    for other in [&net, &buas] {
        let got = other.wait_for("room", 1).await;
        assert_eq!(
            got[0].body,
            json!({"id": 4, "name": "Los mundialistas", "type": "public", "platform": "GWT_CHAT",
                   "users": [{"GWT_CHAT": [1, 2]}, {"net core": [3, 5]}, {"BuasApp": [6]}]})
        );
    }

    let answer = hub(
        &app,
        "/hub/message",
        message(&net_token, 3, "Este es un nuevo mensaje."),
        200,
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    for other in [&gwt, &buas] {
        let got = other.wait_for("message", 1).await;
        assert_eq!(
            got[0].body,
            json!({"roomOriginalPlatform": "GWT_CHAT", "roomId": 4, "senderId": 3,
                   "text": "Este es un nuevo mensaje.", "platform": "net core"})
        );
        assert!(got[0].idempotency_key.is_some(), "{got:?}");
    }
    assert!(
        net.got("message").is_empty(),
        "the sender's platform is not sent its own"
    );

    // The source's listings, by any platform's token.
    let listed = hub_get(&app, &format!("/hub/platforms?token={gwt_token}"), 200).await;
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("GWT_CHAT"), json!("net core"), json!("BuasApp")]
    );
    assert_eq!(listed[0]["supportAudio"], true);
    assert_eq!(listed[2]["supportImage"], false);
    assert_eq!(
        listed[1]["users"],
        json!([{"id": 4, "name": "Juan", "platform": "net core"}])
    );
    let users = hub_get(&app, &format!("/hub/users?token={gwt_token}"), 200).await;
    assert_eq!(
        users,
        json!([{"id": 4, "name": "Juan", "platform": "net core"}])
    );

    // Pombo's own view: the room, its members and the message's delivery everywhere.
    let rooms = expect(&app, "GET", "/v1/hub/rooms", None, 200).await;
    let room = &rooms["data"][0];
    assert_eq!(room["members"]["net core"], json!([3, 5]), "{room}");
    let members_path = format!("/v1/hub/rooms/{}/members", room["id"].as_str().unwrap());
    let members = expect(&app, "GET", &members_path, None, 200).await;
    let net_core = members["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == "net core")
        .unwrap();
    // User 4 (Juan) was told of; 3 and 5 only named as members.
    assert_eq!(
        net_core["users"][0],
        json!({"id": 3, "name": "", "platform": "net core"})
    );
    let path = format!("/v1/hub/rooms/{}/messages", room["id"].as_str().unwrap());
    let history = expect(&app, "GET", &path, None, 200).await;
    let m = &history["data"][0];
    assert_eq!(m["text"], "Este es un nuevo mensaje.");
    assert_eq!(m["platform"], "net core");
    let mut deliveries: Vec<_> = m["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["platform"].as_str().unwrap(),
                d["status"].as_str().unwrap()
            )
        })
        .collect();
    deliveries.sort();
    assert_eq!(deliveries, ["BuasApp delivered", "GWT_CHAT delivered"]);

    // A platform removed: its forwarder ends, what it was owed is dropped.
    let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
    remove_and_record(&app, &listed["data"][0]["id"], "forwarded_then_removed").await;
    let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_that_is_down_gets_what_it_missed_in_order_and_none_twice_when_back() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_for(&[&gwt, &net, &buas]).await;
    let [gwt_token, net_token, buas_token] = three(&app, [&gwt, &net, &buas]).await;
    room(&app, &gwt_token).await;
    buas.wait_for("room", 1).await;

    buas.set_down(true);
    let texts: Vec<String> = (0..6).map(|i| format!("mensaje {i}")).collect();
    for text in &texts {
        hub(&app, "/hub/message", message(&net_token, 3, text), 200).await;
    }
    // The platform that is up has them all, in order; the one down has none yet.
    let got: Vec<_> = gwt
        .wait_for("message", 6)
        .await
        .iter()
        .map(|g| g.body["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, texts);
    let start = Instant::now();
    let platform = loop {
        let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
        let platform = listed["data"][2].clone();
        if platform["status"] == "down" || start.elapsed() > Duration::from_secs(30) {
            break platform;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(platform["status"], "down", "{platform}");
    assert_eq!(platform["backlog"], 6, "{platform}");
    assert!(buas.got("message").is_empty());

    // Back: its ping drains the backlog now, in order, each once.
    buas.set_down(false);
    let pong = hub(&app, "/hub/ping", json!({"token": buas_token}), 200).await;
    assert_eq!(pong["message"], "pong");
    let got = buas.wait_for("message", 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = buas.got("message");
    assert_eq!(got_after.len(), 6, "none twice: {got_after:?}");
    let order: Vec<_> = got
        .iter()
        .map(|g| g.body["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, texts);
    let mut keys: Vec<_> = got
        .iter()
        .map(|g| g.idempotency_key.clone().unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        6,
        "one idempotency key per message and platform"
    );
    let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
    assert_eq!(listed["data"][2]["status"], "up", "{listed}");
    assert_eq!(listed["data"][2]["backlog"], 0, "{listed}");

    // The log tells it too: BuasApp went down, then up; every message was forwarded to
    // both platforms.
    let buas_id = listed["data"][2]["id"].clone();
    let events = expect(
        &app,
        "GET",
        "/v1/events?types=hub.platform.down,hub.platform.up&limit=200",
        None,
        200,
    )
    .await;
    let buas_changes: Vec<_> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["platform_id"] == buas_id)
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        buas_changes,
        ["hub.platform.up", "hub.platform.down", "hub.platform.up"]
    );
    let forwarded = expect(
        &app,
        "GET",
        "/v1/events?types=hub.message.forwarded&limit=200",
        None,
        200,
    )
    .await;
    let to_buas = forwarded["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["platform_id"] == buas_id)
        .count();
    assert_eq!(to_buas, 6, "{forwarded}");
    // Retention deletes what was delivered, and keeps what is still owed.
    let room_id = expect(&app, "GET", "/v1/hub/rooms", None, 200).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = format!("/v1/hub/rooms/{room_id}/messages");
    buas.set_down(true);
    hub(
        &app,
        "/hub/message",
        message(&net_token, 3, "todavía no"),
        200,
    )
    .await;
    gwt.wait_for("message", 7).await;
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let purged = pombo_store::hub::messages::purge(&app.db, future)
        .await
        .unwrap();
    assert_eq!(purged, 6);
    let kept = expect(&app, "GET", &history, None, 200).await;
    let texts: Vec<_> = kept["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [json!("todavía no")], "{kept}");
    buas.set_down(false);

    remove_and_record(&app, &buas_id, "down_then_back").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forward_a_platform_refuses_fails_alone_and_the_rest_follow() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_for(&[&gwt, &net, &buas]).await;
    let [gwt_token, net_token, _] = three(&app, [&gwt, &net, &buas]).await;
    let stored = room(&app, &gwt_token).await;
    for text in ["antes", "refuse me", "después"] {
        hub(&app, "/hub/message", message(&net_token, 5, text), 200).await;
    }
    for platform in [&gwt, &buas] {
        let got: Vec<_> = platform
            .wait_for("message", 2)
            .await
            .iter()
            .map(|g| g.body["text"].clone())
            .collect();
        assert_eq!(got, [json!("antes"), json!("después")]);
    }
    let path = format!("/v1/hub/rooms/{}/messages", stored["id"].as_str().unwrap());
    let history = expect(&app, "GET", &path, None, 200).await;
    let refused = &history["data"][1];
    assert_eq!(refused["text"], "refuse me");
    for delivery in refused["deliveries"].as_array().unwrap() {
        assert_eq!(delivery["status"], "failed", "{delivery}");
        assert!(
            delivery["last_error"].as_str().unwrap().contains("400"),
            "{delivery}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_checked_and_each_tenants_hub_is_its_own() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_for(&[&gwt, &net, &buas]).await;
    let [gwt_token, _, _] = three(&app, [&gwt, &net, &buas]).await;
    let stored = room(&app, &gwt_token).await;

    let wrong = "not-a-token-of-any-platform";
    for (path, body) in [
        ("/hub/user", json!({"id": 1, "name": "x", "token": wrong})),
        ("/hub/message", message(wrong, 1, "hola")),
        ("/hub/ping", json!({"token": wrong})),
    ] {
        let problem = hub(&app, path, body, 401).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("token"),
            "{problem}"
        );
    }
    hub_get(&app, &format!("/hub/users?token={wrong}"), 401).await;
    hub_get(&app, "/hub/platforms", 422).await;

    let other = app.other_tenant_key().await;
    let (code, listed) = app.call_as(&other, "GET", "/v1/hub/platforms", None).await;
    assert_eq!((code, listed["data"].as_array().unwrap().len()), (200, 0));
    let room = format!("/v1/hub/rooms/{}", stored["id"].as_str().unwrap());
    for path in [room.clone(), format!("{room}/messages")] {
        let (code, answer) = app.call_as(&other, "GET", &path, None).await;
        assert_eq!(code, 404, "{path}: {answer}");
    }

    // Guessing tokens is limited per address, like providers' callbacks.
    let mut limited = None;
    for _ in 0..40 {
        let response = app
            .http
            .post(app.url("/hub/ping"))
            .json(&json!({"token": wrong}))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = response.headers().get("retry-after").cloned();
            break;
        }
    }
    assert!(
        limited.is_some(),
        "40 wrong tokens and no 429 with Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registrations_and_posts_are_refused_naming_each_field() {
    let gwt = ChatPlatform::start().await;
    let app = app_for(&[&gwt]).await;
    let problem = expect(
        &app,
        "POST",
        "/v1/hub/platforms",
        Some(json!({"name": "", "endpoint": "http://10.0.0.1/api/",
                    "capabilities": ["image", "sticker"], "token": "short"})),
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["name", "endpoint", "capabilities[1]", "token"],
        "{problem}"
    );
    let (_, token) = register(&app, "GWT_CHAT", &gwt, json!([])).await;
    let again = expect(
        &app,
        "POST",
        "/v1/hub/platforms",
        Some(json!({"name": "GWT_CHAT", "endpoint": gwt.endpoint()})),
        409,
    )
    .await;
    assert!(
        again["detail"].as_str().unwrap().contains("name"),
        "{again}"
    );

    let problem = hub(
        &app,
        "/hub/room",
        json!({"id": 1, "name": "", "token": token, "type": "public",
               "users": [{"GWT_CHAT": [1]}, {"Nope": [2]}]}),
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["name", "users[1].Nope"],
        "{problem}"
    );
    let problem = hub(
        &app,
        "/hub/message",
        json!({"roomOriginalPlatform": "GWT_CHAT", "roomId": 99, "senderId": 1, "text": "hola",
               "token": token}),
        404,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("room"),
        "{problem}"
    );
    let problem = hub(
        &app,
        "/hub/message",
        json!({"roomOriginalPlatform": "Nope", "roomId": 1, "senderId": 1, "text": "",
               "token": token}),
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["text", "roomOriginalPlatform"],
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_forward_loses_nothing() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_with(
        &[&gwt, &net, &buas],
        AppOptions {
            worker: false,
            // How long Temporal waits for a silent (dead) worker's round before another takes it.
            heartbeat_timeout_secs: 2,
            ..Default::default()
        },
    )
    .await;
    let worker = WorkerProcess::spawn(&app.config);
    let [gwt_token, net_token, _] = three(&app, [&gwt, &net, &buas]).await;
    room(&app, &gwt_token).await;
    buas.wait_for("room", 1).await;
    // Slow answers: the kill lands while a forward is in flight.
    buas.slow_ms.store(400, Ordering::SeqCst);
    let texts: Vec<String> = (0..8).map(|i| format!("mensaje {i}")).collect();
    for text in &texts {
        hub(&app, "/hub/message", message(&net_token, 3, text), 200).await;
    }
    buas.wait_for("message", 2).await;
    worker.kill();
    let _next = WorkerProcess::spawn(&app.config);

    // Every message arrives; in order of first arrival; a repeat (the one in flight at the
    // kill, sent again) carries the key it came with the first time.
    let start = Instant::now();
    let got = loop {
        let got = buas.got("message");
        let mut keys: Vec<_> = got.iter().map(|g| g.idempotency_key.clone()).collect();
        keys.sort();
        keys.dedup();
        if keys.len() >= texts.len() {
            break got;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut first_seen: Vec<String> = Vec::new();
    let mut keys: std::collections::HashMap<String, Option<String>> = Default::default();
    for g in &got {
        let text = g.body["text"].as_str().unwrap().to_owned();
        match keys.get(&text) {
            Some(key) => assert_eq!(key, &g.idempotency_key, "a repeat of {text} has a new key"),
            None => {
                keys.insert(text.clone(), g.idempotency_key.clone());
                first_seen.push(text);
            }
        }
    }
    assert_eq!(first_seen, texts);
}

/// Triggers the Temporal Schedule `id` now and waits for its run's outcome.
async fn run_schedule(app: &TestApp, id: &str) -> pombo_contract::hub::HubCheckOutcome {
    use temporalio_client::{WorkflowGetResultOptions, schedules::ScheduleOverlapPolicy};
    let client = app.temporal().await;
    let handle = client.get_schedule_handle(id.to_owned());
    let start = Instant::now();
    // The worker makes the schedule as it starts.
    let before = loop {
        match handle.describe(Default::default()).await {
            Ok(d) => break d.raw().info.clone().unwrap().action_count,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "no schedule {id}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // A run's workflow id ends with its time to the second: one run a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    handle
        .trigger(ScheduleOverlapPolicy::AllowAll, Default::default())
        .await
        .unwrap();
    let started = loop {
        let info = handle
            .describe(Default::default())
            .await
            .unwrap()
            .raw()
            .info
            .clone()
            .unwrap();
        if info.action_count > before {
            break info
                .recent_actions
                .last()
                .unwrap()
                .start_workflow_result
                .clone()
                .unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{id} did not run: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client
        .get_workflow_handle::<pombo_workflows::HubCheckWorkflow>(started.workflow_id)
        .get_result(WorkflowGetResultOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_checks_import_each_platforms_users_and_ping_it_up_or_down() {
    let (gwt, net, buas) = three_platforms().await;
    let app = app_with(
        &[&gwt, &net, &buas],
        AppOptions {
            worker: false,
            ..Default::default()
        },
    )
    .await;
    let mut config = app.config.clone();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    config.hub.ping_schedule_id = format!("hub-ping-test-{unique}");
    config.hub.import_users_schedule_id = format!("hub-import-test-{unique}");
    config.hub.ping_every_secs = 3600;
    config.hub.import_users_every_secs = 3600;
    let _worker = InProcessWorker::start(config.clone());
    let [gwt_token, net_token, _] = three(&app, [&gwt, &net, &buas]).await;

    // Each platform lists one user, "Local" (id 1): the import stores the three and tells
    // each platform of the other two.
    let outcome = run_schedule(&app, &config.hub.import_users_schedule_id).await;
    assert_eq!(
        (outcome.platforms, outcome.answered, outcome.users_changed),
        (3, 3, 3),
        "{outcome:?}"
    );
    let users = hub_get(&app, &format!("/hub/users?token={gwt_token}"), 200).await;
    let platforms: Vec<_> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["platform"].clone())
        .collect();
    assert_eq!(platforms.len(), 3, "{users}");
    let told: Vec<_> = gwt
        .wait_for("user", 2)
        .await
        .iter()
        .map(|g| g.body["platform"].clone())
        .collect();
    assert!(
        told.contains(&json!("net core")) && told.contains(&json!("BuasApp")),
        "{told:?}"
    );
    // A second import changes nothing and tells nobody again.
    let outcome = run_schedule(&app, &config.hub.import_users_schedule_id).await;
    assert_eq!(outcome.users_changed, 0, "{outcome:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gwt.got("user").len(), 2);

    // The ping: BuasApp answers 503, so it is down; back up, the next ping says so.
    room(&app, &gwt_token).await;
    buas.wait_for("room", 1).await;
    buas.set_down(true);
    let outcome = run_schedule(&app, &config.hub.ping_schedule_id).await;
    assert_eq!((outcome.answered, outcome.failed), (2, 1), "{outcome:?}");
    let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
    assert_eq!(listed["data"][2]["status"], "down", "{listed}");
    assert_eq!(listed["data"][0]["status"], "up", "{listed}");
    hub(
        &app,
        "/hub/message",
        message(&net_token, 3, "¿hay alguien?"),
        200,
    )
    .await;
    buas.set_down(false);
    run_schedule(&app, &config.hub.ping_schedule_id).await;
    let listed = expect(&app, "GET", "/v1/hub/platforms", None, 200).await;
    assert_eq!(listed["data"][2]["status"], "up", "{listed}");
    let got = buas.wait_for("message", 1).await;
    assert_eq!(got[0].body["text"], "¿hay alguien?");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whatsapp_contact_in_a_room_talks_with_the_platforms_both_ways() {
    use pombo_fakes::whatsapp_cloud;

    let (gwt, net, buas) = three_platforms().await;
    let app = app_for(&[&gwt, &net, &buas]).await;
    let [gwt_token, net_token, _] = three(&app, [&gwt, &net, &buas]).await;
    let stored = room(&app, &gwt_token).await;
    let room_id = stored["id"].as_str().unwrap();

    // Ana writes to the tenant's WhatsApp number: a conversation, bridged into the room.
    let settings = crate::support::providers::fake_account(&app.fakes, "whatsapp-cloud");
    let wa = crate::support::providers::tenant_account(&app, "wa", &settings).await;
    let write = |wamid: &str, text: &str| {
        whatsapp_cloud::inbound_webhook(
            Some("pombo-test-app-secret"),
            "106540352242922",
            ("5511987650001", "Ana"),
            wamid,
            chrono::Utc::now().timestamp(),
            ("text", json!({"body": text})),
        )
    };
    assert_eq!(app.post_callback(&wa, &write("wamid.1", "oi")).await.0, 200);
    let (_, conversations) = app.call("GET", "/v1/conversations", None).await;
    let conversation_id = conversations["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/hub/rooms/{room_id}/conversations");
    expect(
        &app,
        "POST",
        &path,
        Some(json!({"conversation_id": conversation_id})),
        204,
    )
    .await;

    // What she writes now reaches every platform of the room, as the channel's user.
    assert_eq!(
        app.post_callback(&wa, &write("wamid.2", "¡Hola a todos!"))
            .await
            .0,
        200
    );
    for platform in [&gwt, &net, &buas] {
        let got = platform.wait_for("message", 1).await;
        assert_eq!(got[0].body["text"], "¡Hola a todos!");
        assert_eq!(got[0].body["platform"], "whatsapp");
        assert_eq!(got[0].body["senderName"], "Ana");
        assert_eq!(got[0].body["roomOriginalPlatform"], "GWT_CHAT");
        assert_eq!(got[0].body["roomId"], 4);
    }
    // A repeat of the webhook is one message.
    assert_eq!(
        app.post_callback(&wa, &write("wamid.2", "¡Hola a todos!"))
            .await
            .0,
        200
    );

    // What a platform's user writes reaches her as a WhatsApp reply, once.
    hub(
        &app,
        "/hub/message",
        message(&net_token, 5, "Bienvenida, Ana"),
        200,
    )
    .await;
    let start = Instant::now();
    let sent = loop {
        let sent: Vec<Value> = app
            .fakes
            .requests("whatsapp_cloud")
            .iter()
            .filter(|r| r.path.ends_with("/messages"))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect();
        if !sent.is_empty() {
            break sent;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no WhatsApp reply sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], "5511987650001");
    assert_eq!(sent[0]["text"]["body"], "[net core] #5: Bienvenida, Ana");
    assert_eq!(
        gwt.wait_for("message", 2).await[1].body["text"],
        "Bienvenida, Ana"
    );

    // The room's history shows both, each with its delivery; the conversation, the reply.
    let history = expect(
        &app,
        "GET",
        &format!("/v1/hub/rooms/{room_id}/messages"),
        None,
        200,
    )
    .await;
    let texts: Vec<_> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [json!("¡Hola a todos!"), json!("Bienvenida, Ana")],
        "{history}"
    );
    let to_ana = history["data"][1]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["platform"] == "whatsapp")
        .cloned()
        .unwrap_or_else(|| panic!("no delivery to the conversation: {history}"));
    assert_eq!(to_ana["status"], "delivered", "{history}");
    let (_, messages) = app
        .call(
            "GET",
            &format!("/v1/conversations/{conversation_id}/messages"),
            None,
        )
        .await;
    assert_eq!(messages["data"][0]["direction"], "outbound", "{messages}");
    assert_eq!(
        messages["data"][0]["text"],
        "[net core] #5: Bienvenida, Ana"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_reaches_apps_that_show_it_as_a_file_and_the_others_as_a_link_that_downloads_it() {
    use crate::support::s3::{LocalS3, png_bytes, upload_as};

    let s3 = LocalS3::start().await;
    let (gwt, net, buas) = three_platforms().await;
    let app = app_with(
        &[&gwt, &net, &buas],
        AppOptions {
            storage: Some(s3.storage()),
            ..Default::default()
        },
    )
    .await;
    // GWT_CHAT and net core show images; BuasApp does not.
    let [gwt_token, _, _] = three(&app, [&gwt, &net, &buas]).await;
    let stored = room(&app, &gwt_token).await;
    let png = png_bytes(2048);
    let (code, file) = upload_as(&app, &app.api_key, "gol.png", "image/png", png.clone()).await;
    assert_eq!(code, 201, "{file}");

    let path = format!("/v1/hub/rooms/{}/messages", stored["id"].as_str().unwrap());
    let posted = expect(
        &app,
        "POST",
        &path,
        Some(json!({"text": "¡Gol!", "file_id": file["id"], "sender_name": "Pombo"})),
        202,
    )
    .await;
    assert_eq!(posted["forwarded_to"], 3, "{posted}");

    let shown = gwt.wait_for("message", 1).await;
    let body = &shown[0].body;
    assert_eq!(body["text"], "¡Gol!");
    assert_eq!(body["platform"], "api");
    assert_eq!(body["file"]["contentType"], "image/png");
    assert!(body.get("fileId").is_none(), "{body}");
    let download = reqwest::get(body["file"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap().to_vec(), png);

    let linked = buas.wait_for("message", 1).await;
    let body = &linked[0].body;
    assert!(body.get("file").is_none(), "{body}");
    let text = body["text"].as_str().unwrap();
    let (said, link) = text
        .split_once('\n')
        .unwrap_or_else(|| panic!("no link: {text}"));
    assert_eq!(said, "¡Gol!");
    let download = reqwest::get(link).await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), png);

    // A file of nobody's is named.
    let problem = expect(
        &app,
        "POST",
        &path,
        Some(json!({"text": "x", "file_id": uuid::Uuid::now_v7()})),
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["file_id"]);
}
