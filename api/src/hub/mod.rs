//! The chat hub (source document 003): a tenant registers its chat platforms here
//! (`/v1/hub/platforms`: name, the base of its API, what it can show, a token) and reads
//! its rooms, their members and their history with each platform's delivery status. The
//! platforms themselves speak the source's protocol under `/hub/` ([`protocol`]), each
//! with its own token; registering a fourth platform needs no code, which was the
//! source's one non-functional requirement.
//!
//! What a platform posts is stored with everything it owes the others (`pombo_store::hub`)
//! before the answer; one forwarder workflow per platform delivers those forwards in
//! order, and keeps them while the platform is down (`pombo_workflows::HubForwardWorkflow`).

pub mod bridge;
pub mod protocol;

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::hub::{Capability, ForwardStatus, PlatformStatus, Wake};
use pombo_store::hub::{
    forwards, messages,
    platforms::{self, NewPlatform, Platform},
    rooms::{self, Room},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{Authorized, CanManage, CanRead},
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, PathParams},
    state::AppState,
};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_platforms, create_platform))
        .routes(routes!(read_platform, delete_platform))
        .routes(routes!(platform_users))
        .routes(routes!(list_rooms))
        .routes(routes!(read_room))
        .routes(routes!(room_members))
        .routes(routes!(room_messages, post_room_message))
        .routes(routes!(bridge::bridge_conversation))
        .merge(protocol::router(state))
}

const MAX_NAME: usize = 64;
const MAX_URL: usize = 2048;
const MIN_TOKEN: usize = 16;
const MAX_TOKEN: usize = 128;

/// A chat platform of the tenant's hub.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformView {
    pub id: Uuid,
    /// The name other platforms know it by (`roomOriginalPlatform`, `platform`).
    pub name: String,
    /// The base of its API: the hub POSTs to `{endpoint}user`, `room` and `message`.
    pub endpoint: String,
    pub capabilities: Vec<Capability>,
    /// `up` after a forward it took, `down` after one it could not take.
    pub status: PlatformStatus,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Forwards waiting for it (kept while it is down; delivered in order when it is back).
    pub backlog: u64,
    pub created_at: DateTime<Utc>,
}

async fn view(state: &AppState, p: Platform) -> Result<PlatformView, ApiError> {
    let backlog = forwards::backlog(&state.db, p.id).await?;
    Ok(PlatformView {
        id: p.id,
        name: p.name,
        endpoint: p.endpoint,
        capabilities: p.capabilities,
        status: p.status,
        last_success_at: p.last_success_at,
        last_failure_at: p.last_failure_at,
        last_error: p.last_error,
        backlog,
        created_at: p.created_at,
    })
}

/// A new platform: its token is shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPlatform {
    #[serde(flatten)]
    pub platform: PlatformView,
    /// What the platform sends as `token` on the `/hub/` routes.
    pub token: String,
}

/// A chat platform to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatform {
    /// 1 to 64 characters, unique in the tenant's hub.
    pub name: String,
    /// The base of its API (`https://chat.example/api/`), checked by the outbound rule
    /// (plain `http` and private hosts only when listed in
    /// `outbound.allowed_private_targets`).
    pub endpoint: String,
    /// What it can show: `audio`, `image`, `video`, `file`, `groups`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// 16 to 128 characters; generated when absent.
    pub token: Option<String>,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            format!("1 to {MAX_NAME} characters, no control characters"),
        ));
    }
}

/// Register a chat platform in the tenant's hub.
#[utoipa::path(
    post, path = "/v1/hub/platforms", tag = "hub",
    request_body = CreatePlatform,
    responses(
        (status = 201, description = "Registered; the answer holds its token", body = CreatedPlatform),
        (status = 409, description = "A platform of that name (or with that token) exists", body = Problem),
        (status = 422, description = "Invalid fields, each named", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create_platform(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<CreatePlatform>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    check_name(&body.name, &mut errors);
    if body.endpoint.len() > MAX_URL {
        errors.push(FieldError::new(
            "endpoint",
            format!("at most {MAX_URL} characters"),
        ));
    } else if let Err(refused) = state.config.outbound.check_url(&body.endpoint) {
        errors.push(FieldError::new("endpoint", refused.to_string()));
    }
    let mut capabilities = Vec::new();
    for (i, name) in body.capabilities.iter().enumerate() {
        match name.parse::<Capability>() {
            Ok(c) if !capabilities.contains(&c) => capabilities.push(c),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(format!("capabilities[{i}]"), e)),
        }
    }
    if let Some(token) = &body.token {
        let chars = token.chars().count();
        if !(MIN_TOKEN..=MAX_TOKEN).contains(&chars) || token.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "token",
                format!("{MIN_TOKEN} to {MAX_TOKEN} characters, no control characters"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let token = body
        .token
        .unwrap_or_else(|| format!("hub_{}", pombo_store::tenants::random_secret()));
    let platform = platforms::create(
        &state.db,
        NewPlatform {
            tenant_id: tenant.id,
            name: body.name,
            endpoint: body.endpoint,
            capabilities,
            token: token.clone(),
        },
    )
    .await?;
    pombo_store::audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        "hub.platform.create",
        Some(platform.id.to_string()),
        json!({"name": platform.name, "endpoint": platform.endpoint}),
    )
    .await?;
    let created = CreatedPlatform {
        platform: view(&state, platform).await?,
        token,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The tenant's platforms.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformList {
    pub data: Vec<PlatformView>,
}

/// The chat platforms of the tenant's hub, oldest first.
#[utoipa::path(
    get, path = "/v1/hub/platforms", tag = "hub",
    responses((status = 200, description = "Every platform", body = PlatformList)),
    security(("api_key" = ["read"]))
)]
pub async fn list_platforms(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
) -> Result<Json<PlatformList>, ApiError> {
    let mut data = Vec::new();
    for p in platforms::list(&state.db, tenant.id).await? {
        data.push(view(&state, p).await?);
    }
    Ok(Json(PlatformList { data }))
}

fn platform_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such hub platform".into()))
}

/// One platform of the tenant's hub.
#[utoipa::path(
    get, path = "/v1/hub/platforms/{id}", tag = "hub",
    params(("id" = Uuid, Path, description = "Platform id")),
    responses(
        (status = 200, description = "The platform", body = PlatformView),
        (status = 404, description = "No such platform for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read_platform(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<PlatformView>, ApiError> {
    let platform = platforms::get(&state.db, tenant.id, platform_id(&id)?)
        .await
        .map_err(ApiError::unless_found("hub platform"))?;
    Ok(Json(view(&state, platform).await?))
}

/// Remove a platform: what it was still owed is dropped and its forwarder ends; its
/// users, rooms and messages stay in the others' history.
#[utoipa::path(
    delete, path = "/v1/hub/platforms/{id}", tag = "hub",
    params(("id" = Uuid, Path, description = "Platform id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such platform for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn delete_platform(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let id = platform_id(&id)?;
    platforms::delete(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("hub platform"))?;
    pombo_store::audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        "hub.platform.delete",
        Some(id.to_string()),
        json!({}),
    )
    .await?;
    // Its forwarder sees the platform gone and ends.
    wake(&state, tenant.id, vec![id], Wake::PlatformUp);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HubUserList {
    pub data: Vec<protocol::PlatformUser>,
}

/// The users a platform has told the hub of.
#[utoipa::path(
    get, path = "/v1/hub/platforms/{id}/users", tag = "hub",
    params(("id" = Uuid, Path, description = "Platform id")),
    responses(
        (status = 200, description = "Its users, by id", body = HubUserList),
        (status = 404, description = "No such platform for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn platform_users(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<HubUserList>, ApiError> {
    let platform = platforms::get(&state.db, tenant.id, platform_id(&id)?)
        .await
        .map_err(ApiError::unless_found("hub platform"))?;
    let data = rooms::users(&state.db, tenant.id, Some(platform.id))
        .await?
        .into_iter()
        .map(|u| protocol::PlatformUser {
            id: u.external_id,
            name: u.name,
            platform: platform.name.clone(),
        })
        .collect();
    Ok(Json(HubUserList { data }))
}

/// A room of the hub.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    pub id: Uuid,
    /// The platform that created it, and its id there (`roomOriginalPlatform`, `roomId`).
    pub platform: String,
    pub room_id: i64,
    pub name: String,
    /// `private` or `public`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its members: each platform's name with its users' ids.
    pub members: BTreeMap<String, Vec<i64>>,
    /// Conversations bridged into it (`POST /v1/hub/rooms/{id}/conversations`).
    pub conversations: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Platform names by id, for views.
async fn names(state: &AppState, tenant_id: Uuid) -> Result<BTreeMap<Uuid, String>, ApiError> {
    Ok(platforms::list(&state.db, tenant_id)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

/// What a room's message is sent as when the tenant posts it (`POST
/// /v1/hub/rooms/{id}/messages`): the platform name the apps see.
pub const TENANT_PLATFORM: &str = "api";

fn name_of(names: &BTreeMap<Uuid, String>, id: Uuid) -> String {
    if id.is_nil() {
        return TENANT_PLATFORM.to_owned();
    }
    names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| "(removed)".to_owned())
}

async fn room_view(
    state: &AppState,
    names: &BTreeMap<Uuid, String>,
    room: Room,
) -> Result<RoomView, ApiError> {
    let members = rooms::members(&state.db, room.id)
        .await?
        .into_iter()
        .map(|(platform, ids)| (name_of(names, platform), ids))
        .collect();
    let conversations = pombo_store::hub::bridge::conversations_of(&state.db, room.id).await?;
    Ok(RoomView {
        conversations,
        id: room.id,
        platform: name_of(names, room.platform_id),
        room_id: room.external_id,
        name: room.name,
        kind: room.kind,
        members,
        created_at: room.created_at,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub data: Vec<RoomView>,
}

/// The rooms of the tenant's hub, oldest first.
#[utoipa::path(
    get, path = "/v1/hub/rooms", tag = "hub",
    responses((status = 200, description = "Every room", body = RoomList)),
    security(("api_key" = ["read"]))
)]
pub async fn list_rooms(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
) -> Result<Json<RoomList>, ApiError> {
    let names = names(&state, tenant.id).await?;
    let mut data = Vec::new();
    for room in rooms::list(&state.db, tenant.id).await? {
        data.push(room_view(&state, &names, room).await?);
    }
    Ok(Json(RoomList { data }))
}

fn room_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such room".into()))
}

/// One room with its members.
#[utoipa::path(
    get, path = "/v1/hub/rooms/{id}", tag = "hub",
    params(("id" = Uuid, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room", body = RoomView),
        (status = 404, description = "No such room for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read_room(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoomView>, ApiError> {
    let room = rooms::get(&state.db, tenant.id, room_id(&id)?)
        .await
        .map_err(ApiError::unless_found("room"))?;
    let names = names(&state, tenant.id).await?;
    Ok(Json(room_view(&state, &names, room).await?))
}

/// A room's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMembers {
    /// Each platform's name with its users' ids (and their names, when the platform told
    /// the hub of them).
    pub platforms: Vec<PlatformMembers>,
    /// Conversations bridged into the room.
    pub conversations: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformMembers {
    pub platform: String,
    pub users: Vec<protocol::PlatformUser>,
}

/// A room's members: the users of each platform, and the bridged conversations.
#[utoipa::path(
    get, path = "/v1/hub/rooms/{id}/members", tag = "hub",
    params(("id" = Uuid, Path, description = "Room id")),
    responses(
        (status = 200, description = "The room's members", body = RoomMembers),
        (status = 404, description = "No such room for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn room_members(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoomMembers>, ApiError> {
    let room = rooms::get(&state.db, tenant.id, room_id(&id)?)
        .await
        .map_err(ApiError::unless_found("room"))?;
    let names = names(&state, tenant.id).await?;
    let known: std::collections::HashMap<(Uuid, i64), String> =
        rooms::users(&state.db, tenant.id, None)
            .await?
            .into_iter()
            .map(|u| ((u.platform_id, u.external_id), u.name))
            .collect();
    let platforms = rooms::members(&state.db, room.id)
        .await?
        .into_iter()
        .map(|(platform_id, ids)| {
            let platform = name_of(&names, platform_id);
            PlatformMembers {
                users: ids
                    .into_iter()
                    .map(|id| protocol::PlatformUser {
                        id,
                        name: known.get(&(platform_id, id)).cloned().unwrap_or_default(),
                        platform: platform.clone(),
                    })
                    .collect(),
                platform,
            }
        })
        .collect();
    let conversations = pombo_store::hub::bridge::conversations_of(&state.db, room.id).await?;
    Ok(Json(RoomMembers {
        platforms,
        conversations,
    }))
}

/// What became of a message on one platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDelivery {
    pub platform: String,
    pub status: ForwardStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A message of a room's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMessage {
    pub id: Uuid,
    /// The sender's platform and its id there.
    pub platform: String,
    pub sender_id: i64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// One per platform it is forwarded to.
    pub deliveries: Vec<MessageDelivery>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMessagePage {
    pub data: Vec<RoomMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1 to 200, default 50.
    #[param(value_type = Option<u64>, nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>, nullable = false)]
    pub cursor: Option<String>,
}

/// A room's messages, oldest first, each with its delivery status on every platform.
#[utoipa::path(
    get, path = "/v1/hub/rooms/{id}/messages", tag = "hub",
    params(("id" = Uuid, Path, description = "Room id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of the room's history", body = RoomMessagePage),
        (status = 404, description = "No such room for this tenant", body = Problem),
        (status = 422, description = "Invalid paging, naming each bad parameter", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn room_messages(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RoomMessagePage>, ApiError> {
    let query: HistoryQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let (limit, after) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let room = rooms::get(&state.db, tenant.id, room_id(&id)?)
        .await
        .map_err(ApiError::unless_found("room"))?;
    let mut names = names(&state, tenant.id).await?;
    // A bridged conversation goes by its channel's name (`whatsapp`), as the platforms
    // know it.
    for id in pombo_store::hub::bridge::conversations_of(&state.db, room.id).await? {
        if let Ok(c) = pombo_store::conversations::get(&state.db, tenant.id, id).await {
            names.insert(id, c.channel.as_str().to_owned());
        }
    }
    let rows = messages::history(&state.db, room.id, after, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |d| d.message.id);
    let data = rows
        .into_iter()
        .map(|d| RoomMessage {
            id: d.message.id,
            platform: name_of(&names, d.message.platform_id),
            sender_id: d.message.sender_id,
            text: d.message.text,
            created_at: d.message.created_at,
            deliveries: d
                .forwards
                .into_iter()
                .map(|f| MessageDelivery {
                    platform: name_of(&names, f.platform_id),
                    status: f.status,
                    attempts: f.attempts,
                    last_error: f.last_error,
                    delivered_at: f.delivered_at,
                })
                .collect(),
        })
        .collect();
    Ok(Json(RoomMessagePage { data, next_cursor }))
}

/// A message the tenant posts into a room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRoomMessage {
    /// 1 to 4096 characters.
    pub text: String,
    /// A file of the tenant's (`POST /v1/files`): apps that can show its kind (an image to
    /// an app with `image`) get it as `file` with a link; the others get the link in the
    /// text. Links are made when each app is sent the message.
    pub file_id: Option<Uuid>,
    /// Who the apps see as the sender (`senderName`; at most 200 characters).
    pub sender_name: Option<String>,
}

/// A message posted.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostedRoomMessage {
    pub id: Uuid,
    /// Apps and bridged conversations it goes to.
    pub forwarded_to: usize,
}

/// Post a message into a room as the tenant (platform `api`, sender 0), with a file if
/// given: forwarded like an app's message, in order, to every app and bridged
/// conversation of the room.
#[utoipa::path(
    post, path = "/v1/hub/rooms/{id}/messages", tag = "hub",
    params(("id" = Uuid, Path, description = "Room id")),
    request_body = PostRoomMessage,
    responses(
        (status = 202, description = "Stored; on its way to the room's apps", body = PostedRoomMessage),
        (status = 404, description = "No such room for this tenant", body = Problem),
        (status = 422, description = "Invalid fields (an unknown file, …), each named", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn post_room_message(
    State(state): State<AppState>,
    tenant: Authorized<crate::auth::CanSend>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<PostRoomMessage>,
) -> Result<(StatusCode, Json<PostedRoomMessage>), ApiError> {
    let room = rooms::get(&state.db, tenant.id, room_id(&id)?)
        .await
        .map_err(ApiError::unless_found("room"))?;
    let mut errors = Vec::new();
    let chars = body.text.chars().count();
    if chars == 0 || chars > 4096 {
        errors.push(FieldError::new("text", "1 to 4096 characters"));
    }
    if body
        .sender_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > 200)
    {
        errors.push(FieldError::new("sender_name", "at most 200 characters"));
    }
    if let Some(file_id) = body.file_id
        && pombo_store::files::get_for_tenant(&state.db, tenant.id, file_id)
            .await?
            .is_none()
    {
        errors.push(FieldError::new("file_id", "no such file of this tenant's"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let origin = platforms::get(&state.db, tenant.id, room.platform_id)
        .await
        .map(|p| p.name)
        .unwrap_or_default();
    let mut forwarded = json!({
        "roomOriginalPlatform": origin,
        "roomId": room.external_id,
        "senderId": 0,
        "text": body.text,
        "platform": TENANT_PLATFORM,
        "senderName": body.sender_name,
    });
    if let Some(file_id) = body.file_id {
        forwarded[pombo_contract::hub::FILE_ID_FIELD] = json!(file_id);
    }
    let posted = messages::post(
        &state.db,
        messages::Sender::Tenant,
        &room,
        0,
        &body.text,
        &forwarded,
    )
    .await?;
    let forwarded_to = posted.platforms.len() + posted.to_conversations.len();
    wake(&state, tenant.id, posted.platforms, Wake::Forward);
    bridge::send_in_background(
        &state,
        posted.to_conversations.iter().map(|(f, _)| *f).collect(),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(PostedRoomMessage {
            id: posted.message.id,
            forwarded_to,
        }),
    ))
}

/// Wakes the forwarders of `platforms` in the background: the forwards are stored, so the
/// caller's answer need not wait for Temporal (a wake lost here is the worker's sweep's).
///
/// Wakes are coalesced per platform in this process: while one is on its way, further ones
/// only ask for one more after it (a forwarder's round reads every pending forward, so one
/// signal after the last store is enough). A burst of 500 messages is then a few signals
/// per forwarder, not 500 (`make bench` scenario 12 measured what 500 cost).
pub(crate) fn wake(state: &AppState, tenant_id: Uuid, platforms: Vec<Uuid>, why: Wake) {
    for platform_id in platforms {
        if !waking::claim(platform_id, why) {
            continue;
        }
        let dispatcher = state.dispatcher.clone();
        let temporal = state.config.temporal.clone();
        let heartbeat = state.config.delivery.heartbeat_timeout_secs;
        tokio::spawn(async move {
            let mut why = why;
            loop {
                match dispatcher.client().await {
                    Ok(client) => {
                        if let Err(e) = pombo_starter::hub::wake(
                            &client,
                            &temporal,
                            heartbeat,
                            tenant_id,
                            platform_id,
                            why,
                        )
                        .await
                        {
                            tracing::debug!(%platform_id, error = %e, "hub forwarder not woken; the sweep will");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %format!("{e:#}"), "hub forwarder not woken: no Temporal");
                    }
                }
                match waking::next(platform_id) {
                    Some(again) => why = again,
                    None => return,
                }
            }
        });
    }
}

/// The wakes on their way, per platform, and whether another was asked for meanwhile.
mod waking {
    use std::{
        collections::HashMap,
        sync::{LazyLock, Mutex},
    };

    use pombo_contract::hub::Wake;
    use uuid::Uuid;

    static PENDING: LazyLock<Mutex<HashMap<Uuid, Option<Wake>>>> = LazyLock::new(Default::default);

    /// Whether the caller is to send this wake: `false` when one is on its way (this one is
    /// then owed after it, `PlatformUp` winning over `Forward`).
    pub fn claim(platform_id: Uuid, why: Wake) -> bool {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(&platform_id) {
            Some(again) => {
                if *again != Some(Wake::PlatformUp) {
                    *again = Some(why);
                }
                false
            }
            None => {
                pending.insert(platform_id, None);
                true
            }
        }
    }

    /// After a wake went: the one owed next, or `None` (and the platform is free again).
    pub fn next(platform_id: Uuid) -> Option<Wake> {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(&platform_id) {
            Some(again @ Some(_)) => again.take(),
            _ => {
                pending.remove(&platform_id);
                None
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn wakes_while_one_is_on_its_way_become_one_more_after_it() {
            let platform = Uuid::now_v7();
            assert!(claim(platform, Wake::Forward));
            for _ in 0..100 {
                assert!(!claim(platform, Wake::Forward));
            }
            assert!(!claim(platform, Wake::PlatformUp));
            assert!(!claim(platform, Wake::Forward));
            assert_eq!(next(platform), Some(Wake::PlatformUp));
            assert_eq!(next(platform), None);
            // Free again.
            assert!(claim(platform, Wake::Forward));
            assert_eq!(next(platform), None);
        }
    }
}
