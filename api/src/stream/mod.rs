//! The event log, live: `GET /v1/stream` (WebSocket) and `GET /v1/stream/sse` (Server-Sent
//! Events) send a tenant's events as they happen, after first sending what the log holds
//! after the client's cursor (`after`, or SSE's `Last-Event-ID`), so a client that
//! reconnects gets exactly what it missed. `POST /v1/stream/tokens` mints short-lived
//! tokens for browsers, which must not hold an API key.
//!
//! | Part | Where |
//! |---|---|
//! | one process's reader of the log, fanning out to its connections | [`follower`] |
//! | one connection: catch-up, then live, filtered, through a bounded queue | [`session`] |
//! | stream tokens (JWT) | [`token`] |
//! | the routes and the two transports | here |

pub mod follower;
pub mod session;
pub mod token;

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json,
    extract::{
        FromRequestParts, RawQuery, State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{
        IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use pombo_contract::Channel;
use pombo_store::{
    entities::{conversation, provider_account, recipient},
    event_log::Cursor,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::{
    follower::Follower,
    session::{Filter, Frame, Session},
    token::TokenKeys,
};
use crate::{
    auth::{Authorized, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(websocket))
        .routes(routes!(server_sent_events))
        .routes(routes!(create_token))
}

/// What the process keeps for its streams.
pub struct Streams {
    pub follower: Arc<Follower>,
    pub tokens: TokenKeys,
    /// Open connections per tenant.
    open: Mutex<HashMap<Uuid, usize>>,
}

impl Streams {
    pub fn new(db: pombo_store::Db, config: &pombo_config::Config) -> Streams {
        Streams {
            follower: Follower::start(db, Duration::from_millis(config.stream.poll_millis)),
            tokens: TokenKeys::from_config(config),
            open: Mutex::default(),
        }
    }

    /// A connection for `tenant`, if it has fewer than `max` open here.
    fn open(self: &Arc<Self>, tenant: Uuid, max: usize) -> Result<OpenConnection, ApiError> {
        let mut open = self.open.lock().expect("not poisoned");
        let count = open.entry(tenant).or_default();
        if *count >= max {
            return Err(ApiError::RateLimited {
                retry_after_secs: 5,
                limit: max as u32,
                policy: None,
            });
        }
        *count += 1;
        Ok(OpenConnection {
            streams: self.clone(),
            tenant,
        })
    }
}

/// Counts as one of its tenant's connections until dropped.
struct OpenConnection {
    streams: Arc<Streams>,
    tenant: Uuid,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

/// Who opens a stream: a key (or an operator's session) that may read, or a stream token.
struct Caller {
    tenant_id: Uuid,
    /// What the credentials allow (a token's filter; everything for a key).
    allowed: Filter,
    /// A token's expiry (seconds since the epoch): the connection ends then.
    expires: Option<u64>,
}

/// The credentials of a stream request, if it carries any: a `token` parameter, or an
/// `Authorization` header or operator session as for any route.
async fn caller(
    parts: &mut Parts,
    state: &AppState,
    token: Option<&str>,
) -> Result<Option<Caller>, ApiError> {
    if let Some(token) = token {
        return token_caller(state, token).await.map(Some);
    }
    let has_session_cookie = parts
        .headers
        .get(header::COOKIE)
        .is_some_and(|c| !c.is_empty());
    if !parts.headers.contains_key(header::AUTHORIZATION) && !has_session_cookie {
        return Ok(None);
    }
    let tenant = Authorized::<CanRead>::from_request_parts(parts, state).await?;
    Ok(Some(Caller {
        tenant_id: tenant.id,
        allowed: Filter::default(),
        expires: None,
    }))
}

/// The claims of a stream or recipient token, checked: signed here, not expired, and of a
/// tenant still enabled (a token outlives nothing: one disabled since is refused).
pub(crate) async fn checked_token(
    state: &AppState,
    token: &str,
) -> Result<token::Claims, ApiError> {
    let claims = state.streams.tokens.check(token).map_err(|e| match e {
        token::TokenRefused::Expired => {
            ApiError::KeyRefused("the token has expired: ask for a new one")
        }
        token::TokenRefused::Invalid => ApiError::KeyRefused("not a valid token"),
    })?;
    let tenant = pombo_store::tenants::get(&state.db, claims.sub)
        .await
        .map_err(|_| ApiError::KeyRefused("not a valid token"))?;
    if tenant.disabled_at.is_some() {
        return Err(ApiError::TenantDisabled);
    }
    Ok(claims)
}

async fn token_caller(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let claims = checked_token(state, token).await?;
    Ok(Caller {
        tenant_id: claims.sub,
        allowed: claims.filter,
        expires: Some(claims.exp),
    })
}

/// Where a stream starts and what it sends.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this cursor (an event's `cursor`): the events after it are sent first.
    /// Absent: only what happens from now on.
    #[param(value_type = Option<String>, nullable = false)]
    pub after: Option<String>,
    /// Only these event types, comma-separated (see `GET /v1/event-types`).
    #[param(value_type = Option<String>, nullable = false)]
    pub types: Option<String>,
    /// Only events of notifications and conversations on this channel.
    #[param(value_type = Option<Channel>, nullable = false)]
    pub channel: Option<String>,
    /// Only events of this provider account (a gateway instance).
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub instance: Option<String>,
    /// Only events of this conversation.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub conversation: Option<String>,
    /// Only events of notifications to this recipient profile.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub recipient: Option<String>,
    /// A stream token (`POST /v1/stream/tokens`), for clients without an API key.
    #[param(value_type = Option<String>, nullable = false)]
    pub token: Option<String>,
}

impl StreamQuery {
    /// The filter asked for, its parts checked: each must be known, and the ids the
    /// tenant's own.
    async fn filter(&self, state: &AppState, tenant: Uuid) -> Result<Filter, ApiError> {
        let mut errors = Vec::new();
        let filter = FilterFields {
            types: Some(crate::events::split_types(self.types.as_deref())),
            channel: self.channel.clone(),
            instance: self.instance.clone(),
            conversation: self.conversation.clone(),
            recipient: self.recipient.clone(),
        }
        .check(state, tenant, &mut errors)
        .await?;
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    fn cursor(&self, headers: &HeaderMap) -> Result<Option<Cursor>, ApiError> {
        // SSE's reconnection sends the last id it saw; it wins over the URL's `after`.
        let resumed = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty());
        let (field, text) = match (resumed, self.after.as_deref()) {
            (Some(id), _) => ("Last-Event-ID", id),
            (None, Some(after)) => ("after", after),
            (None, None) => return Ok(None),
        };
        Cursor::from_str(text.trim())
            .map(Some)
            .map_err(|_| ApiError::field(field, "must be a cursor from an earlier event"))
    }
}

/// A filter's parts as given (query parameters or a token request), before checking.
struct FilterFields {
    types: Option<Vec<String>>,
    channel: Option<String>,
    instance: Option<String>,
    conversation: Option<String>,
    recipient: Option<String>,
}

impl FilterFields {
    async fn check(
        self,
        state: &AppState,
        tenant: Uuid,
        errors: &mut Vec<FieldError>,
    ) -> Result<Filter, ApiError> {
        let types = self.types.unwrap_or_default();
        crate::events::check_types("types", &types, errors);
        let channel = self.channel.as_deref().and_then(|c| {
            Channel::from_str(c)
                .map_err(|_| errors.push(FieldError::new("channel", "not a channel Pombo has")))
                .ok()
        });
        let mut id = |field: &'static str, text: Option<String>| {
            text.and_then(|t| {
                Uuid::parse_str(t.trim())
                    .map_err(|_| errors.push(FieldError::new(field, "must be a UUID")))
                    .ok()
            })
        };
        let instance = id("instance", self.instance);
        let conversation = id("conversation", self.conversation);
        let recipient = id("recipient", self.recipient);
        // Another tenant's ids are refused as unknown, never filtered on in silence.
        let db = &state.db;
        let checks = [
            (
                "instance",
                "no provider account with this id",
                instance,
                owned::<provider_account::Entity>(
                    db,
                    instance,
                    provider_account::Column::TenantId,
                    tenant,
                )
                .await?,
            ),
            (
                "conversation",
                "no conversation with this id",
                conversation,
                owned::<conversation::Entity>(
                    db,
                    conversation,
                    conversation::Column::TenantId,
                    tenant,
                )
                .await?,
            ),
            (
                "recipient",
                "no recipient with this id",
                recipient,
                owned::<recipient::Entity>(db, recipient, recipient::Column::TenantId, tenant)
                    .await?,
            ),
        ];
        for (field, reason, given, found) in checks {
            if given.is_some() && !found {
                errors.push(FieldError::new(field, reason));
            }
        }
        Ok(Filter {
            types,
            channel,
            instance,
            conversation,
            recipient,
        })
    }
}

/// Whether row `id` of `E` (when given) belongs to `tenant` (its `tenant_column`).
async fn owned<E>(
    db: &pombo_store::Db,
    id: Option<Uuid>,
    tenant_column: E::Column,
    tenant: Uuid,
) -> Result<bool, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    let Some(id) = id else {
        return Ok(true);
    };
    let count = E::find_by_id(id)
        .filter(tenant_column.eq(tenant))
        .count(db)
        .await
        .map_err(pombo_store::StoreError::from)?;
    Ok(count > 0)
}

/// A stream about to be served: its tenant's connection slot, where it starts, what it sends.
struct Opened {
    connection: OpenConnection,
    session: Session,
    after: Option<Cursor>,
}

async fn open(
    state: &AppState,
    caller: Caller,
    query: &StreamQuery,
    headers: &HeaderMap,
) -> Result<Opened, ApiError> {
    let after = query.cursor(headers)?;
    let asked = query.filter(state, caller.tenant_id).await?;
    let filter = asked.under(&caller.allowed).map_err(|part| {
        ApiError::Forbidden(format!(
            "the stream token does not allow this `{part}`: ask for a token that does"
        ))
    })?;
    let connection = state.streams.open(
        caller.tenant_id,
        state.config.stream.max_connections_per_tenant,
    )?;
    Ok(Opened {
        connection,
        session: Session {
            db: state.db.clone(),
            follower: state.streams.follower.clone(),
            tenant_id: caller.tenant_id,
            filter,
            patience: Duration::from_secs(state.config.stream.heartbeat_secs),
            expires: caller.expires.map(|exp| {
                let now = chrono::Utc::now().timestamp().max(0) as u64;
                tokio::time::Instant::now() + Duration::from_secs(exp.saturating_sub(now))
            }),
        },
        after,
    })
}

/// Starts the session's producer; the transport reads the returned queue.
async fn produce(opened: Opened, queue_len: usize) -> (mpsc::Receiver<Frame>, OpenConnection) {
    let (sender, receiver) = mpsc::channel(queue_len);
    let Opened {
        connection,
        session,
        after,
    } = opened;
    let after = match after {
        Some(after) => after,
        // From now on: wherever the log ends as the client connects.
        None => pombo_store::event_log::end(&session.db)
            .await
            .unwrap_or_default(),
    };
    tokio::spawn(session.run(after, sender));
    (receiver, connection)
}

/// The tenant's events, live, over a WebSocket.
///
/// Each event is a text message, the JSON `GET /v1/events` shows (`cursor`, `type`,
/// `occurred_at`, `data`). Control messages have a `type` without a dot: `ready` (what the
/// log held after `after` has been sent; events come as they happen from here), `reset` (the
/// cursor is older than the log keeps: reload, then connect without one), `closing` (the
/// server ends the connection, for example because the client read too slowly; resume with
/// its `cursor`). The server pings every `stream.heartbeat_secs` and closes a connection
/// that has not answered by the next ping.
///
/// Authenticate with the `Authorization` header, a `token` parameter, or, for clients
/// that can set neither, a first message `{"token": "…"}` within 10 s. A tenant holding
/// `stream.max_connections_per_tenant` connections on the process gets a 429.
#[utoipa::path(
    get, path = "/v1/stream", tag = "events",
    params(StreamQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 403, description = "The token does not allow this filter", body = Problem),
        (status = 422, description = "Invalid parameter, naming each", body = Problem),
        (status = 426, description = "Not a WebSocket handshake", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn websocket(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let query: StreamQuery = crate::extract::parse_query(raw.as_deref())?;
    let caller = caller(&mut parts, &state, query.token.as_deref()).await?;
    // With credentials, everything is checked before the handshake, so a refusal is an
    // HTTP problem the client can read (and a bad parameter is a 422 before a missing
    // handshake is a 426).
    let opened = match caller {
        Some(caller) => Some(open(&state, caller, &query, &parts.headers).await?),
        None => None,
    };
    let upgrade = upgrade.map_err(|e| {
        ApiError::UpgradeRequired(format!(
            "this route speaks WebSocket: connect with a WebSocket client ({e}); GET /v1/stream/sse serves the same events over plain HTTP"
        ))
    })?;
    // What a connection authenticated by its first message still needs; nothing of the
    // request is kept past the handshake otherwise (a thousand idle connections add up).
    let pending = opened.is_none().then(|| (state.clone(), query));
    drop(parts);
    let heartbeat = Duration::from_secs(state.config.stream.heartbeat_secs);
    let queue_len = state.config.stream.queue;
    Ok(upgrade
        // A client sends a token at most: small buffers per connection, and nothing large
        // accepted from it (tungstenite's default is 64 MiB a message).
        .read_buffer_size(4096)
        .max_message_size(16 * 1024)
        .max_frame_size(16 * 1024)
        .on_upgrade(move |mut socket| async move {
            let opened = match (opened, pending) {
                (Some(opened), _) => opened,
                (None, Some((state, query))) => {
                    let authenticated = Box::pin(first_message_auth(
                        &state,
                        &mut socket,
                        &query,
                        &HeaderMap::new(),
                    ))
                    .await;
                    match authenticated {
                        Ok(opened) => opened,
                        Err(e) => {
                            let reason: String = e.to_string().chars().take(120).collect();
                            let _ = socket
                                .send(Message::Close(Some(CloseFrame {
                                    code: 1008,
                                    reason: reason.into(),
                                })))
                                .await;
                            return;
                        }
                    }
                }
                (None, None) => return,
            };
            let (frames, connection) = Box::pin(produce(opened, queue_len)).await;
            // Its own task, holding only what it needs while the connection lasts.
            tokio::spawn(serve_websocket(socket, frames, heartbeat, connection));
        })
        .into_response())
}

/// The first message's `{"token": "…"}`, for clients that cannot set a header or a URL
/// parameter.
async fn first_message_auth(
    state: &AppState,
    socket: &mut WebSocket,
    query: &StreamQuery,
    headers: &HeaderMap,
) -> Result<Opened, ApiError> {
    #[derive(Deserialize)]
    struct First {
        token: String,
    }
    let first = tokio::time::timeout(Duration::from_secs(10), socket.recv())
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err(ApiError::Unauthorized);
    };
    let first: First = serde_json::from_str(&text).map_err(|_| ApiError::Unauthorized)?;
    let caller = token_caller(state, &first.token).await?;
    open(state, caller, query, headers).await
}

async fn serve_websocket(
    socket: WebSocket,
    mut frames: mpsc::Receiver<Frame>,
    heartbeat: Duration,
    connection: OpenConnection,
) {
    let (mut out, mut incoming) = socket.split();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut answered = true;
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                let last = frame.is_last();
                let sent = tokio::time::timeout(
                    heartbeat,
                    out.send(Message::Text(frame.text().as_ref().into())),
                )
                .await;
                if !matches!(sent, Ok(Ok(()))) || last {
                    break;
                }
            }
            _ = ping.tick() => {
                if !answered {
                    break;
                }
                answered = false;
                if !matches!(tokio::time::timeout(heartbeat, out.send(Message::Ping(Default::default()))).await, Ok(Ok(()))) {
                    break;
                }
            }
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // Anything from the client shows it is there.
                Some(Ok(_)) => answered = true,
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), out.send(Message::Close(None))).await;
    drop(connection);
}

/// The tenant's events, live, as Server-Sent Events.
///
/// Each event is an SSE event named by its type, with the event's cursor as its `id` and
/// the JSON `GET /v1/events` shows as its data. A browser's `EventSource` reconnects by
/// itself with `Last-Event-ID` and gets exactly what it missed. Also sent: `ready` (caught
/// up), `reset` (the cursor is older than the log keeps), `closing` (resume from its
/// `cursor`). A comment line every `stream.heartbeat_secs` keeps proxies from closing it.
/// A tenant holding `stream.max_connections_per_tenant` connections gets a 429.
#[utoipa::path(
    get, path = "/v1/stream/sse", tag = "events",
    params(StreamQuery),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 403, description = "The token does not allow this filter", body = Problem),
        (status = 422, description = "Invalid parameter, naming each", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn server_sent_events(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let query: StreamQuery = crate::extract::parse_query(raw.as_deref())?;
    let caller = caller(&mut parts, &state, query.token.as_deref())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let opened = open(&state, caller, &query, &parts.headers).await?;
    let (frames, connection) = produce(opened, state.config.stream.queue).await;
    let events = futures::stream::unfold(
        (frames, Some(connection), false),
        |(mut frames, connection, done)| async move {
            if done {
                return None;
            }
            let frame = frames.recv().await?;
            let mut event = SseEvent::default()
                .event(frame.name())
                .data(frame.text().as_ref());
            if let Some(id) = frame.id() {
                event = event.id(id.to_string());
            }
            let last = frame.is_last();
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (frames, connection, last),
            ))
        },
    );
    let heartbeat = Duration::from_secs(state.config.stream.heartbeat_secs);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response())
}

/// What a stream token may see; absent parts allow everything of that kind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStreamToken {
    /// Event types the token allows.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    pub channel: Option<String>,
    /// A provider account (gateway instance) id.
    pub instance: Option<String>,
    pub conversation: Option<String>,
    /// A recipient profile id.
    pub recipient: Option<String>,
    /// Seconds it stays valid: 1 to `stream.token_max_secs` (3600 by default); default 900.
    pub expires_in: Option<u64>,
}

/// A stream token.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamToken {
    /// Pass it as `token` to `GET /v1/stream` or `GET /v1/stream/sse`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// What it allows.
    pub filter: Filter,
}

/// A short-lived token a browser opens the stream with, limited to a filter.
///
/// Made by the tenant's backend (with its key) and handed to a browser, which must never
/// hold an API key. A connection with the token may narrow its filter, never widen it.
#[utoipa::path(
    post, path = "/v1/stream/tokens", tag = "events",
    request_body = CreateStreamToken,
    responses(
        (status = 201, description = "The token", body = StreamToken),
        (status = 422, description = "Invalid fields, naming each", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn create_token(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    JsonBody(body): JsonBody<CreateStreamToken>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let secs = state
        .streams
        .tokens
        .lifetime(body.expires_in)
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    let filter = FilterFields {
        types: body.types,
        channel: body.channel,
        instance: body.instance,
        conversation: body.conversation,
        recipient: body.recipient,
    }
    .check(&state, tenant.id, &mut errors)
    .await?;
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (token, expires) = state.streams.tokens.mint(tenant.id, filter.clone(), secs);
    let expires_at = DateTime::from_timestamp(expires as i64, 0).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(StreamToken {
            token,
            expires_at,
            filter,
        }),
    )
        .into_response())
}
