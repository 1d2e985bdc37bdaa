//! `POST|GET /v1/callbacks/{type}/{account}`: finds the provider account, lets its module
//! verify and parse the callback, records every event, and signals the workflows.
//!
//! Every report is authenticated: a forged `failed` would fire paid fallbacks and a forged
//! `read` suppress them. An account may be saved without its callback secret (it can still
//! send), but every report through it is refused with a 401 problem naming the missing
//! setting (`app_secret`, `webhook_public_key`, `webhook_signing_key`, `webhook_secret`,
//! Twilio's `auth_token`), server-wide accounts included; a report that fails the check gets
//! a 401 naming the check. Nothing of a refused report is recorded.
//!
//! A report only reaches what its account sent: a tenant account's reports match that
//! account's (and tenant's) notifications by id, never by name alone, parked or not.
//!
//! The database write is the durable acceptance: once it is done the provider gets its
//! 2xx. A callback about a message id we do not know yet (the provider outran our own
//! record of the send) is parked and applied when the send is recorded; past
//! [`events::MAX_PARKED_PER_ACCOUNT`] parked for the account, it is dropped, still with a
//! 2xx (an error would make the provider retry it, for hours, which only adds load, and
//! tells the caller which ids are unknown).

use crate::extract::{PathParams, RawBody};
use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use pombo_contract::conversation::InboundMessage;
use pombo_contract::delivery::ProviderEvent;
use pombo_providers::ProviderSettings;
use pombo_store::{
    conversations::{self, Through},
    events::{self, NewEvent, Parked},
    notifications::{self, ReportAccount},
    provider_accounts, tenants,
};
use uuid::Uuid;

use super::{CallbackError, CallbackRequest};
use crate::{error::ApiError, state::AppState};

/// The account a callback names, with its settings.
pub(crate) struct Account {
    name: String,
    /// `Some((tenant id, account id))` for a tenant's account: only the notifications that
    /// account sent (so only its tenant's) match.
    pub(crate) tenant_account: Option<(Uuid, Uuid)>,
    /// A server-wide account's `inbound_tenant`: whose conversations get its inbound messages.
    inbound_tenant: Option<String>,
    pub(crate) settings: ProviderSettings,
}

impl Account {
    fn reporting(&self) -> ReportAccount<'_> {
        ReportAccount {
            name: &self.name,
            tenant_account: self.tenant_account,
        }
    }
}

/// The `kind` account a callback path names; any other is not found.
async fn account(state: &AppState, kind: &str, key: &str) -> Result<Account, ApiError> {
    find_account(state, key)
        .await?
        .filter(|account| account.settings.kind() == kind)
        .ok_or_else(|| ApiError::NotFound("no such provider account".into()))
}

/// The provider account `key` names: a tenant account's id, or a server-wide account's
/// name (as callback paths and conversations name them). `None` when there is none.
pub(crate) async fn find_account(state: &AppState, key: &str) -> Result<Option<Account>, ApiError> {
    if let Ok(id) = key.parse::<Uuid>() {
        return match provider_accounts::get_by_id(&state.db, state.keyring.as_deref(), id).await {
            Ok(a) => Ok(Some(Account {
                name: a.name,
                tenant_account: Some((a.tenant_id, a.id)),
                inbound_tenant: None,
                settings: a.settings,
            })),
            Err(pombo_store::StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    Ok(state
        .config
        .providers
        .iter()
        .find(|a| a.name == key)
        .map(|a| Account {
            name: a.name.clone(),
            tenant_account: None,
            inbound_tenant: a.inbound_tenant.clone(),
            settings: a.settings.clone(),
        }))
}

/// The URL the provider called (or is to call), as it sees it: `api.public_url`, else the
/// request's `Host` over http.
pub(crate) fn public_url(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
) -> String {
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

/// The problem a refused callback of a `kind` account gets: which setting is missing or
/// which check failed, never a secret's value.
fn refusal(kind: &str, e: CallbackError) -> ApiError {
    match e {
        CallbackError::NoSecret(setting) => {
            tracing::warn!(
                provider = kind,
                setting,
                "callback refused: the account has no secret"
            );
            ApiError::CallbackNoSecret(format!(
                "this {kind} account has no `{setting}`; delivery reports are refused until it is set"
            ))
        }
        CallbackError::BadSignature(reason) => {
            tracing::warn!(provider = kind, %reason, "callback refused");
            ApiError::CallbackSignature(format!("the {kind} callback failed its check: {reason}"))
        }
        CallbackError::Malformed(reason) => ApiError::field("body", reason),
    }
}

/// Answer Meta's webhook verification (WhatsApp Cloud and Instagram accounts).
///
/// Meta checks a callback URL with a `GET` carrying `hub.mode=subscribe`, the account's
/// `verify_token` and a challenge to echo. Other providers' accounts answer 405.
#[utoipa::path(
    get, path = "/v1/callbacks/{type}/{account}", tag = "callbacks",
    params(
        ("type" = String, Path, description = "`whatsapp_cloud` or `instagram`"),
        ("account" = String, Path, description = "The provider account: a tenant account's id, or a server-wide account's name"),
        ("hub.mode" = Option<String>, Query, description = "`subscribe`"),
        ("hub.verify_token" = Option<String>, Query, description = "The account's `verify_token`"),
        ("hub.challenge" = Option<String>, Query, description = "Echoed back when the token matches"),
    ),
    responses(
        (status = 200, description = "The challenge, echoed", body = String, content_type = "text/plain"),
        (status = 401, description = "The account has no `verify_token` (type `callback-secret-missing`), or the token does not match (type `callback-signature`)", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
        (status = 405, description = "The account's provider has no such handshake", body = crate::error::Problem),
        (status = 422, description = "Not `hub.mode=subscribe` with a `hub.challenge`", body = crate::error::Problem),
        (status = 429, description = "Too many callbacks, or failed authentications, from this client address; see `Retry-After`", body = crate::error::Problem),
        (status = 503, description = "A tenant account's secrets cannot be opened: encryption at rest is not configured (`encryption.keys`)", body = crate::error::Problem),
    )
)]
pub async fn handshake(
    state: State<AppState>,
    path: PathParams<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    receive(
        state,
        path,
        query,
        Method::GET,
        headers,
        RawBody(Default::default()),
    )
    .await
}

/// Receive a provider's delivery report.
#[utoipa::path(
    post, path = "/v1/callbacks/{type}/{account}", tag = "callbacks",
    params(
        ("type" = String, Path, description = "Provider type: twilio, sendgrid, mailgun, whatsapp_cloud, instagram, callbell, evolution, waha"),
        ("account" = String, Path, description = "The provider account: a tenant account's id, or a server-wide account's name"),
    ),
    request_body(
        description = "The provider's own payload: JSON, or a form (Twilio, Mailgun's legacy webhooks)",
        content(
            (serde_json::Value = "application/json"),
            (std::collections::HashMap<String, String> = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "Recorded", body = Receipt),
        (status = 401, description = "Not authenticated: the account has no callback secret (type `callback-secret-missing`, naming the setting), or the signature or secret is missing or wrong (type `callback-signature`, naming the check)", body = crate::error::Problem),
        (status = 404, description = "No such account", body = crate::error::Problem),
        (status = 413, description = "Body larger than `api.max_body_bytes`", body = crate::error::Problem),
        (status = 422, description = "Not the provider's payload", body = crate::error::Problem),
        (status = 429, description = "Too many callbacks, or failed authentications, from this client address; see `Retry-After`", body = crate::error::Problem),
        (status = 503, description = "A tenant account's secrets cannot be opened: encryption at rest is not configured (`encryption.keys`)", body = crate::error::Problem),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    PathParams((kind, key)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let account = account(&state, &kind, &key).await?;
    let provider = account.settings.kind();
    // Before anything else, the handshake included: an account without its secret
    // authenticates nothing.
    pombo_providers::required_secret(&account.settings).map_err(|e| {
        callback_counted(provider, "no_secret");
        refusal(provider, e)
    })?;
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
        let Some(challenge) = pombo_providers::handshake(&request, &account.settings) else {
            return Err(ApiError::MethodNotAllowed);
        };
        let challenge = challenge.map_err(|e| refusal(provider, e))?;
        return Ok((StatusCode::OK, challenge).into_response());
    }

    let parsed = pombo_providers::parse_callback(&request, &account.settings).map_err(|e| {
        let outcome = match e {
            CallbackError::NoSecret(_) => "no_secret",
            CallbackError::BadSignature(_) => "refused",
            CallbackError::Malformed(_) => "malformed",
        };
        callback_counted(provider, outcome);
        refusal(provider, e)
    })?;
    let mut matched = 0;
    for event in &parsed.reports {
        let found = find(&state, &account, event).await?;
        let Some(n) = found else {
            if event.provider_message_id.is_empty() {
                // Only our own id came back, and it matched nothing of this account's.
                callback_counted(provider, "unmatched");
                continue;
            }
            match events::park(&state.db, account.reporting(), event).await? {
                Parked::Kept => {
                    callback_counted(provider, "parked");
                    tracing::info!(
                        provider = %account.name,
                        message_id = %event.provider_message_id,
                        "callback for an unknown message id parked"
                    );
                }
                Parked::Dropped => {
                    callback_counted(provider, "dropped");
                    tracing::warn!(
                        provider = %account.name,
                        message_id = %event.provider_message_id,
                        cap = events::MAX_PARKED_PER_ACCOUNT,
                        "callback for an unknown message id dropped: the account has too many parked"
                    );
                }
            }
            continue;
        };
        matched += 1;
        state
            .dispatcher
            .record_and_signal(
                &state.db,
                n.id,
                NewEvent::from_provider(&account.name, event),
            )
            .await?;
        callback_counted(provider, "recorded");
    }
    let messages = receive_messages(&state, &account, &parsed.messages).await?;
    keep_instance_state(&state, &account, &key, &request).await?;
    // The same answer whether or not ids matched: a caller learns nothing about ids.
    Ok(Json(Receipt {
        received: parsed.reports.len(),
        matched_now: matched,
        messages,
    })
    .into_response())
}

/// Keeps what a gateway's callback says of its instance (`connection.update`,
/// `session.status`), the newest event winning, for the instance's view.
async fn keep_instance_state(
    state: &AppState,
    account: &Account,
    key: &str,
    request: &CallbackRequest<'_>,
) -> Result<(), ApiError> {
    let updates = pombo_providers::gateway::instance_updates(request, &account.settings)
        .map_err(|e| refusal(account.settings.kind(), e))?;
    for update in updates {
        pombo_store::instance_states::record(
            &state.db,
            key,
            account.tenant_account.map(|(tenant, _)| tenant),
            update.connection.as_str(),
            &update.gateway_state,
            update.occurred_at.unwrap_or_else(chrono::Utc::now),
        )
        .await?;
    }
    Ok(())
}

/// Stores what people sent in the callback, each in its conversation with the account,
/// before the provider hears 2xx. Returns how many were new (repeats are stored once).
async fn receive_messages(
    state: &AppState,
    account: &Account,
    messages: &[InboundMessage],
) -> Result<usize, ApiError> {
    if messages.is_empty() {
        return Ok(0);
    }
    let provider = account.settings.kind();
    let (tenant_id, account_id) = match (account.tenant_account, &account.inbound_tenant) {
        (Some((tenant, id)), _) => (tenant, Some(id)),
        (None, Some(name)) => {
            let tenant = tenants::by_name(&state.db, name)
                .await?
                .ok_or_else(|| ApiError::field(
                    "inbound_tenant",
                    format!("the server-wide account `{}` names the tenant `{name}`, which does not exist", account.name),
                ))?;
            (tenant.id, None)
        }
        (None, None) => {
            callback_counted(provider, "inbound_unrouted");
            tracing::warn!(
                provider = %account.name,
                "inbound messages refused: the server-wide account has no inbound_tenant"
            );
            return Err(ApiError::field(
                "inbound_tenant",
                format!(
                    "the server-wide account `{}` has no `inbound_tenant`: its inbound messages are refused until one is set (the provider retries them)",
                    account.name
                ),
            ));
        }
    };
    let through = Through {
        tenant_id,
        channel: account.settings.channel(),
        account: &account.name,
        account_id,
    };
    let now = chrono::Utc::now();
    let mut new = 0;
    for message in messages {
        let received = conversations::receive(&state.db, through, message, now).await?;
        if received.new {
            new += 1;
            callback_counted(provider, "inbound");
            crate::recipients::keywords::heard(state, tenant_id, through.channel, message).await?;
            crate::hub::bridge::inbound_received(state, tenant_id, received.conversation_id).await;
        } else {
            callback_counted(provider, "inbound_repeat");
        }
    }
    Ok(new)
}

/// What a delivery report's answer says.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// Events the report carried.
    pub received: usize,
    /// Of those, events that matched a notification now (the others are parked or dropped).
    pub matched_now: usize,
    /// Messages people sent that were stored now (a repeated webhook's are stored once).
    pub messages: usize,
}

/// The notification a report is about: the one its account sent with that message id, or,
/// when the report carries our own notification id and the send captured no message id,
/// that notification if its account sent it.
async fn find(
    state: &AppState,
    account: &Account,
    event: &ProviderEvent,
) -> Result<Option<notifications::Notification>, ApiError> {
    if !event.provider_message_id.is_empty()
        && let Some(n) = notifications::by_provider_message_id(
            &state.db,
            account.reporting(),
            &event.provider_message_id,
        )
        .await?
    {
        return Ok(Some(n));
    }
    let Some(id) = event.notification_id else {
        return Ok(None);
    };
    Ok(notifications::by_own_id_without_message_id(&state.db, account.reporting(), id).await?)
}

/// `pombo_callbacks_total{provider, outcome}`: one callback event (`recorded`, `parked`,
/// `dropped`, `unmatched`), or one refused (`refused`, `no_secret`) or malformed callback.
fn callback_counted(provider: &'static str, outcome: &'static str) {
    metrics::counter!("pombo_callbacks_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}
