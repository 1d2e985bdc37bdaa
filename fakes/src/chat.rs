//! Fake chat platforms of the source document 003 (an integration hub for three chat
//! apps), written from its slides: each app implements `GET /api/users`, `POST /api/user`,
//! `POST /api/room` and `POST /api/message` and answers `{"status": 200, "message": …}`.
//! Any number of platforms live side by side, one per name: `/chat/{platform}/api/…`
//! (register a platform with the hub with the endpoint `http://127.0.0.1:4010/chat/<name>/api/`).
//! What each received is in the fakes' inbox (`/_fake/requests?provider=chat`), with its
//! path naming the platform and the route.
//!
//! `GET /api/users` answers two users of the platform (ids 1 and 2), so an import of users
//! has something to import.

use axum::{
    Json, Router,
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::FakeState;

pub fn router() -> Router<FakeState> {
    Router::new()
        .route("/{platform}/api/users", get(users))
        .route("/{platform}/api/{route}", post(receive))
}

/// The apps answer errors as they answer success: a status and a message.
pub fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "message": message})),
    )
        .into_response()
}

async fn users(Path(platform): Path<String>) -> Json<Value> {
    Json(json!([
        {"id": 1, "name": format!("Ana ({platform})")},
        {"id": 2, "name": format!("Bruno ({platform})")},
    ]))
}

async fn receive(Path((_, route)): Path<(String, String)>, Json(body): Json<Value>) -> Response {
    let wanted: &[&str] = match route.as_str() {
        "user" => &["id", "name", "platform"],
        "room" => &["id", "name", "type", "users", "platform"],
        "message" => &[
            "roomOriginalPlatform",
            "roomId",
            "senderId",
            "text",
            "platform",
        ],
        _ => return error(StatusCode::NOT_FOUND, "no such route"),
    };
    if let Some(missing) = wanted.iter().find(|f| body.get(**f).is_none()) {
        return error(StatusCode::BAD_REQUEST, &format!("`{missing}` is missing"));
    }
    Json(json!({"status": 200, "message": "ok"})).into_response()
}
