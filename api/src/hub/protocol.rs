//! The source's own protocol (document 003), under `/hub/`, so the apps written for it
//! integrate unchanged: `GET /hub/platforms`, `POST /hub/user`, `POST /hub/room`,
//! `POST /hub/message`, `GET /hub/users`, `GET|POST /hub/ping`, the JSON shapes of the
//! source (camelCase, platform-local integer ids). A platform authenticates with its
//! token: in the body, as the source sends it, or as `?token=` on a `GET`. The token finds
//! the platform and so the tenant's hub; an unknown one is a 401.
//!
//! Each `POST` stores what it says together with everything it owes the other platforms,
//! then answers `{"status": 200, "message": …}`; the forwarders deliver after.

use std::collections::{BTreeMap, HashMap};

use axum::{
    Json,
    extract::{RawQuery, State},
};
use pombo_contract::hub::{Capability, Wake};
use pombo_store::hub::{
    messages,
    platforms::{self, Platform},
    rooms::{self, PostedRoom},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, FieldError, Problem},
    extract::JsonBody,
    state::AppState,
};

/// The routes, limited per client address like the providers' callbacks (their tokens are
/// guessable only by trying: past `api.callback_rate_limit`'s failures an address gets 429s).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(platforms_list))
        .routes(routes!(post_user))
        .routes(routes!(post_room))
        .routes(routes!(post_message))
        .routes(routes!(users))
        .routes(routes!(ping, ping_from))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::callbacks::limit_by_address,
        ))
}

const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 4096;
const MAX_MEMBERS: usize = 1000;

/// The source's answer to a `POST`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HubAnswer {
    pub status: u16,
    pub message: String,
    /// What the hub stored (the user, room or message), for the platform's records.
    pub id: Uuid,
}

async fn platform_of(state: &AppState, token: &str) -> Result<Platform, ApiError> {
    match platforms::by_token(&state.db, token).await {
        Ok(platform) => Ok(platform),
        Err(pombo_store::StoreError::NotFound) => Err(ApiError::KeyRefused(
            "unknown platform token: send the token the hub's registration gave the platform",
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The platform's token.
    pub token: String,
}

fn token_of(raw: Option<&str>) -> Result<String, ApiError> {
    let query: TokenQuery = crate::extract::parse_query(raw)?;
    Ok(query.token)
}

/// A user as the source's apps know it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformUser {
    /// The platform's own id for it.
    pub id: i64,
    pub name: String,
    pub platform: String,
}

/// A platform as `GET /hub/platforms` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformEntry {
    pub name: String,
    pub support_audio: bool,
    pub support_image: bool,
    pub users: Vec<PlatformUser>,
}

/// Every platform of the caller's hub with its users (the source's `GET /platforms`).
#[utoipa::path(
    get, path = "/hub/platforms", tag = "hub-protocol",
    params(TokenQuery),
    responses(
        (status = 200, description = "The platforms and their users", body = Vec<PlatformEntry>),
        (status = 401, description = "Unknown token", body = Problem),
        (status = 422, description = "No `token` parameter", body = Problem),
    )
)]
pub async fn platforms_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<PlatformEntry>>, ApiError> {
    let caller = platform_of(&state, &token_of(raw.as_deref())?).await?;
    let all = platforms::list(&state.db, caller.tenant_id).await?;
    let mut users: HashMap<Uuid, Vec<PlatformUser>> = HashMap::new();
    let names: HashMap<Uuid, &str> = all.iter().map(|p| (p.id, p.name.as_str())).collect();
    for u in rooms::users(&state.db, caller.tenant_id, None).await? {
        let platform = names.get(&u.platform_id).copied().unwrap_or_default();
        users.entry(u.platform_id).or_default().push(PlatformUser {
            id: u.external_id,
            name: u.name,
            platform: platform.to_owned(),
        });
    }
    Ok(Json(
        all.iter()
            .map(|p| PlatformEntry {
                name: p.name.clone(),
                support_audio: p.can(Capability::Audio),
                support_image: p.can(Capability::Image),
                users: users.remove(&p.id).unwrap_or_default(),
            })
            .collect(),
    ))
}

/// Every user of the caller's hub (the source's `GET /users`).
#[utoipa::path(
    get, path = "/hub/users", tag = "hub-protocol",
    params(TokenQuery),
    responses(
        (status = 200, description = "Every platform's users", body = Vec<PlatformUser>),
        (status = 401, description = "Unknown token", body = Problem),
        (status = 422, description = "No `token` parameter", body = Problem),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<PlatformUser>>, ApiError> {
    let caller = platform_of(&state, &token_of(raw.as_deref())?).await?;
    let names: HashMap<Uuid, String> = platforms::list(&state.db, caller.tenant_id)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    Ok(Json(
        rooms::users(&state.db, caller.tenant_id, None)
            .await?
            .into_iter()
            .map(|u| PlatformUser {
                id: u.external_id,
                name: u.name,
                platform: names.get(&u.platform_id).cloned().unwrap_or_default(),
            })
            .collect(),
    ))
}

fn check_text(field: &str, text: &str, max: usize, errors: &mut Vec<FieldError>) {
    let chars = text.chars().count();
    if chars == 0 || chars > max {
        errors.push(FieldError::new(field, format!("1 to {max} characters")));
    }
}

/// A user of the calling platform (the source's `POST /user`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserPost {
    /// The platform's own id for the user.
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// Tell the hub of a user: every other platform gets `{"id", "name", "platform"}` at its
/// `POST /api/user`.
#[utoipa::path(
    post, path = "/hub/user", tag = "hub-protocol",
    request_body = UserPost,
    responses(
        (status = 200, description = "Stored; the other platforms are told", body = HubAnswer),
        (status = 401, description = "Unknown token", body = Problem),
        (status = 422, description = "Invalid fields, each named", body = Problem),
    )
)]
pub async fn post_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<UserPost>,
) -> Result<Json<HubAnswer>, ApiError> {
    let from = platform_of(&state, &body.token).await?;
    let mut errors = Vec::new();
    check_text("name", &body.name, MAX_NAME, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (user, others) = rooms::post_user(&state.db, &from, body.id, &body.name).await?;
    super::wake(&state, from.tenant_id, others, Wake::Forward);
    Ok(Json(HubAnswer {
        status: 200,
        message: "user stored; the other platforms are told".into(),
        id: user.id,
    }))
}

/// `private` or `public`, as the source's rooms are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    Private,
    Public,
}

impl RoomType {
    fn as_str(self) -> &'static str {
        match self {
            RoomType::Private => "private",
            RoomType::Public => "public",
        }
    }
}

/// A room of the calling platform (the source's `POST /room`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoomPost {
    /// The platform's own id for the room.
    pub id: i64,
    pub name: String,
    pub token: String,
    #[serde(rename = "type")]
    pub kind: RoomType,
    /// Members by platform name: `[{"GWT_CHAT": [1, 2, 3]}, {"net core": [3, 5, 9]}]`.
    pub users: Vec<BTreeMap<String, Vec<i64>>>,
}

/// Create (or change the name and members of) a room: each other platform with members
/// in it gets the room at its `POST /api/room`.
#[utoipa::path(
    post, path = "/hub/room", tag = "hub-protocol",
    request_body = RoomPost,
    responses(
        (status = 200, description = "Stored; the members' platforms are told", body = HubAnswer),
        (status = 401, description = "Unknown token", body = Problem),
        (status = 422, description = "Invalid fields (an unknown platform name, …), each named", body = Problem),
    )
)]
pub async fn post_room(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RoomPost>,
) -> Result<Json<HubAnswer>, ApiError> {
    let from = platform_of(&state, &body.token).await?;
    let mut errors = Vec::new();
    check_text("name", &body.name, MAX_NAME, &mut errors);
    let by_name: HashMap<String, Uuid> = platforms::list(&state.db, from.tenant_id)
        .await?
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect();
    let mut members: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    let mut count = 0;
    for (i, entry) in body.users.iter().enumerate() {
        for (name, ids) in entry {
            count += ids.len();
            match by_name.get(name) {
                Some(id) => members.entry(*id).or_default().extend(ids),
                None => errors.push(FieldError::new(
                    format!("users[{i}].{name}"),
                    "no platform of that name in this hub",
                )),
            }
        }
    }
    if count > MAX_MEMBERS {
        errors.push(FieldError::new(
            "users",
            format!("at most {MAX_MEMBERS} members"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let targets: Vec<Uuid> = members.keys().copied().filter(|p| *p != from.id).collect();
    let forwarded = json!({
        "id": body.id,
        "name": body.name,
        "type": body.kind.as_str(),
        "users": body.users,
        "platform": from.name,
    });
    let room = rooms::post_room(
        &state.db,
        &from,
        PostedRoom {
            external_id: body.id,
            name: body.name,
            kind: body.kind.as_str().to_owned(),
            members,
            body: forwarded,
        },
    )
    .await?;
    super::wake(&state, from.tenant_id, targets, Wake::Forward);
    Ok(Json(HubAnswer {
        status: 200,
        message: "room stored; its members' platforms are told".into(),
        id: room.id,
    }))
}

/// A message to a room (the source's `POST /message`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePost {
    /// The name of the platform that created the room.
    pub room_original_platform: String,
    /// The room's id on that platform.
    pub room_id: i64,
    /// The sender, by the calling platform's id.
    pub sender_id: i64,
    pub text: String,
    pub token: String,
}

/// Post a message to a room: stored, then forwarded in order to every other platform with
/// members in the room, at its `POST /api/message`, as `{"roomOriginalPlatform",
/// "roomId", "senderId", "text", "platform"}` (`platform`: the sender's). A platform that
/// is down gets it when it is back.
#[utoipa::path(
    post, path = "/hub/message", tag = "hub-protocol",
    request_body = MessagePost,
    responses(
        (status = 200, description = "Stored; forwarded to the room's other platforms", body = HubAnswer),
        (status = 401, description = "Unknown token", body = Problem),
        (status = 403, description = "The calling platform has no members in the room", body = Problem),
        (status = 404, description = "No such room", body = Problem),
        (status = 422, description = "Invalid fields, each named", body = Problem),
    )
)]
pub async fn post_message(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MessagePost>,
) -> Result<Json<HubAnswer>, ApiError> {
    let from = platform_of(&state, &body.token).await?;
    let mut errors = Vec::new();
    check_text("text", &body.text, MAX_TEXT, &mut errors);
    let origin = platforms::list(&state.db, from.tenant_id)
        .await?
        .into_iter()
        .find(|p| p.name == body.room_original_platform);
    if origin.is_none() {
        errors.push(FieldError::new(
            "roomOriginalPlatform",
            "no platform of that name in this hub",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let origin = origin.expect("checked above");
    let room = rooms::by_origin(&state.db, origin.id, body.room_id)
        .await
        .map_err(ApiError::unless_found("room"))?;
    let members = rooms::members(&state.db, room.id).await?;
    if room.platform_id != from.id && !members.contains_key(&from.id) {
        return Err(ApiError::Forbidden(
            "the calling platform has no members in this room".into(),
        ));
    }
    let forwarded = json!({
        "roomOriginalPlatform": origin.name,
        "roomId": body.room_id,
        "senderId": body.sender_id,
        "text": body.text,
        "platform": from.name,
    });
    let posted = messages::post(
        &state.db,
        messages::Sender::Platform(&from),
        &room,
        body.sender_id,
        &body.text,
        &forwarded,
    )
    .await?;
    let count = posted.platforms.len() + posted.to_conversations.len();
    super::wake(&state, from.tenant_id, posted.platforms, Wake::Forward);
    let to_conversations = posted.to_conversations.iter().map(|(id, _)| *id).collect();
    super::bridge::send_in_background(&state, to_conversations);
    Ok(Json(HubAnswer {
        status: 200,
        message: format!("message stored; forwarded to {count} platform(s)"),
        id: posted.message.id,
    }))
}

/// The source's answer to a ping.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pong {
    pub status: u16,
    pub message: String,
}

/// Is the hub up? (the source's `GET /ping`).
#[utoipa::path(
    get, path = "/hub/ping", tag = "hub-protocol",
    responses((status = 200, description = "The hub is up", body = Pong))
)]
pub async fn ping() -> Json<Pong> {
    Json(Pong {
        status: 200,
        message: "pong".into(),
    })
}

/// A platform's ping.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PingPost {
    pub token: String,
}

/// A platform says it is up (the source's `POST /ping`): what it is owed is sent now, in
/// order, instead of at its forwarder's next try.
#[utoipa::path(
    post, path = "/hub/ping", tag = "hub-protocol",
    request_body = PingPost,
    responses(
        (status = 200, description = "Noted; its backlog drains", body = Pong),
        (status = 401, description = "Unknown token", body = Problem),
    )
)]
pub async fn ping_from(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PingPost>,
) -> Result<Json<Pong>, ApiError> {
    let from = platform_of(&state, &body.token).await?;
    platforms::record_health(&state.db, from.id, Ok(())).await?;
    super::wake(&state, from.tenant_id, vec![from.id], Wake::PlatformUp);
    Ok(Json(Pong {
        status: 200,
        message: "pong".into(),
    }))
}
