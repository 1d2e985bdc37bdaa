//! `POST|GET /v1/callbacks/{type}/{account}`: finds the provider account, lets its module
//! verify and parse the callback, records every event, and signals the workflows.
//!
//! The database write is the durable acceptance: once it is done the provider gets its
//! 2xx. A callback about a message id we do not know yet (the provider outran our own
//! record of the send) is parked and applied when the send is recorded.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::{
    delivery::{DeliveryUpdate, ProviderEvent},
    providers::ProviderSettings,
};
use pombo_store::{
    events::{self, NewEvent},
    notifications, provider_accounts,
};
use serde_json::json;
use uuid::Uuid;

use super::{CallbackError, CallbackRequest};
use crate::{error::ApiError, state::AppState};

/// The account a callback names, with its settings.
struct Account {
    name: String,
    /// `Some` for a tenant's account: only that tenant's notifications match.
    tenant_id: Option<Uuid>,
    settings: ProviderSettings,
}

async fn account(state: &AppState, kind: &str, key: &str) -> Result<Account, ApiError> {
    let unknown = || ApiError::NotFound("no such provider account".into());
    let account = if let Ok(id) = key.parse::<Uuid>() {
        match provider_accounts::get_by_id(&state.db, state.keyring.as_deref(), id).await {
            Ok(a) => Account {
                name: a.name,
                tenant_id: Some(a.tenant_id),
                settings: a.settings,
            },
            Err(pombo_store::StoreError::NotFound) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        }
    } else {
        let a = state
            .config
            .providers
            .iter()
            .find(|a| a.name == key)
            .ok_or_else(unknown)?;
        Account {
            name: a.name.clone(),
            tenant_id: None,
            settings: a.settings.clone(),
        }
    };
    if account.settings.kind() != kind {
        return Err(unknown());
    }
    Ok(account)
}

/// The URL the provider called, as it sees it.
fn public_url(state: &AppState, headers: &HeaderMap, path: &str, query: Option<&str>) -> String {
    let base = match &state.config.api.public_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    }
}

fn parse(
    req: &CallbackRequest<'_>,
    settings: &ProviderSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    use super::*;
    match settings {
        ProviderSettings::Twilio(s) => twilio::parse(req, s),
        ProviderSettings::Sendgrid(s) => sendgrid::parse(req, s),
        ProviderSettings::Mailgun(s) => mailgun::parse(req, s),
        ProviderSettings::WhatsappCloud(s) => whatsapp_cloud::parse(req, s),
        ProviderSettings::Instagram(s) => instagram::parse(req, s),
        ProviderSettings::Callbell(s) => callbell::parse(req, s),
        ProviderSettings::Evolution(s) => evolution::parse(req, s),
        ProviderSettings::Waha(s) => waha::parse(req, s),
        other => Err(CallbackError::Malformed(format!(
            "`{}` sends no delivery callbacks",
            other.kind()
        ))),
    }
}

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        match e {
            CallbackError::BadSignature(reason) => {
                tracing::warn!(%reason, "callback refused");
                ApiError::Unauthorized
            }
            CallbackError::Malformed(reason) => ApiError::field("body", reason),
        }
    }
}

/// Receive a provider's delivery report.
#[utoipa::path(
    post, path = "/v1/callbacks/{type}/{account}", tag = "callbacks",
    params(
        ("type" = String, Path, description = "Provider type: twilio, sendgrid, mailgun, whatsapp_cloud, instagram, callbell, evolution, waha"),
        ("account" = String, Path, description = "The provider account: a tenant account's id, or a server-wide account's name"),
    ),
    request_body(content = String, description = "The provider's own payload", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded"),
        (status = 401, description = "Missing or forged signature", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
        (status = 422, description = "Not the provider's payload", body = crate::error::Problem),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    Path((kind, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = account(&state, &kind, &key).await?;
    let path = format!("/v1/callbacks/{kind}/{key}");
    let url = public_url(&state, &headers, &path, query.as_deref());
    let request = CallbackRequest {
        method: &method,
        url: &url,
        headers: &headers,
        query: query.as_deref(),
        body: &body,
    };

    // Meta checks a webhook URL with a GET handshake before using it.
    if method == Method::GET {
        let verify_token = match &account.settings {
            ProviderSettings::WhatsappCloud(s) => s.verify_token.as_ref(),
            ProviderSettings::Instagram(s) => s.verify_token.as_ref(),
            _ => return Err(ApiError::MethodNotAllowed),
        };
        let challenge = super::meta_challenge(&request, verify_token)?;
        return Ok((StatusCode::OK, challenge).into_response());
    }

    let provider = account.settings.kind();
    let parsed = parse(&request, &account.settings).inspect_err(|e| {
        let outcome = match e {
            CallbackError::BadSignature(_) => "refused",
            CallbackError::Malformed(_) => "malformed",
        };
        callback_counted(provider, outcome);
    })?;
    let mut matched = 0;
    for event in &parsed {
        let found = notifications::by_provider_message_id(
            &state.db,
            &account.name,
            account.tenant_id,
            &event.provider_message_id,
        )
        .await?;
        let Some(n) = found else {
            events::park(&state.db, &account.name, account.tenant_id, event).await?;
            callback_counted(provider, "parked");
            tracing::info!(
                provider = %account.name,
                message_id = %event.provider_message_id,
                "callback for an unknown message id parked"
            );
            continue;
        };
        matched += 1;
        let recorded = events::record(
            &state.db,
            n.id,
            NewEvent::from_provider(&account.name, event),
        )
        .await?;
        callback_counted(provider, "recorded");
        if recorded.new {
            state
                .dispatcher
                .signal_delivery(
                    n.id,
                    DeliveryUpdate {
                        status: recorded.status,
                        occurred_at: event.occurred_at.unwrap_or_else(chrono::Utc::now),
                        source: format!("provider:{}", account.name),
                    },
                )
                .await;
        }
    }
    // The same answer whether or not ids matched: a caller learns nothing about ids.
    Ok(Json(json!({"received": parsed.len(), "matched_now": matched})).into_response())
}

/// `pombo_callbacks_total{provider, outcome}`: one callback event, or one refused or
/// malformed callback.
fn callback_counted(provider: &'static str, outcome: &'static str) {
    metrics::counter!("pombo_callbacks_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}
