//! The provider accounts resource: a tenant registers the accounts that deliver its
//! notifications (`POST/GET/PATCH/DELETE /v1/providers`). Credentials are sealed at rest
//! and never shown again: responses mask them.

use crate::extract::{PathParams, QueryParams};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    outbound::OutboundPolicy,
    providers::{MASK, SendRateLimit},
};
use pombo_providers::ProviderSettings;
use pombo_store::{
    audit,
    provider_accounts::{self, AccountPatch, NewAccount},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Authorized, CanManage, CanRead};

mod instance;

/// A tenant's account, its settings read as the providers' settings.
pub(crate) type Account = provider_accounts::Account<ProviderSettings>;
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::{JsonBody, Tenant},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(callbacks, point_callbacks, stop_callbacks))
        .routes(routes!(instance::read, instance::create, instance::remove))
        .routes(routes!(instance::pairing))
        .routes(routes!(instance::events))
}

/// A provider account as the API shows it: credentials masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub channel: Channel,
    pub priority: i32,
    pub enabled: bool,
    /// The settings, with every credential replaced by `********`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// How fast the account may be sent to, across all workers; absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<SendRateLimit>,
    /// Where the provider is to send this account's delivery reports (the API's
    /// `api.public_url`, else the address this request reached it at), for providers that
    /// send them: set it
    /// in the provider's console, or as Twilio's `status_callback_url`. Callbell and
    /// Evolution sign nothing: add `?secret=<webhook_secret>` to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// On creation only, when this account takes over the channel from the server-wide
    /// accounts: from now on the tenant's messages of this channel go through its own
    /// accounts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /v1/providers`: the tenant's accounts, and the server's own that stand in for them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    /// The tenant's accounts, by channel and failover order.
    pub data: Vec<ProviderView>,
    /// The server-wide accounts (the operator's configuration: `[[providers]]`, `[smtp]`),
    /// which send a channel's messages for a tenant with no enabled account of its own for
    /// that channel. Their settings are the operator's and are not shown.
    pub server_wide: Vec<ServerAccountView>,
}

/// A server-wide account, as a tenant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerAccountView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub channel: Channel,
    /// Whether it sends this tenant's messages of its channel now: true while the tenant
    /// has no enabled account of its own for that channel.
    pub in_use: bool,
}

impl ProviderView {
    /// `headers`: the request's, for the API's address when `api.public_url` is not set.
    fn new(state: &AppState, headers: &HeaderMap, a: Account) -> Self {
        let callback_url = pombo_providers::receives_reports(&a.settings).then(|| {
            let path = format!("/v1/callbacks/{}/{}", a.settings.kind(), a.id);
            crate::callbacks::handler::public_url(state, headers, &path, None)
        });
        ProviderView {
            callback_url,
            notice: None,
            id: a.id,
            kind: a.settings.kind().to_owned(),
            channel: a.settings.channel(),
            settings: a.settings.masked(),
            name: a.name,
            priority: a.priority,
            enabled: a.enabled,
            rate_limit: a.rate_limit,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    /// Unique per tenant: letters, digits, `-` and `_`, up to 64.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: String,
    /// Order within the channel: lower is tried first; the next takes over on failure.
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The provider's settings, tagged by `type` (`twilio`, `sendgrid`, `fcm`, …).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Sends to this account at most this fast, across all workers: a burst queues, each
    /// send waiting for its slot, instead of being refused by the provider.
    #[serde(default)]
    pub rate_limit: Option<SendRateLimit>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub enabled: Option<bool>,
    /// Fields to change, merged into the current settings. A credential given as
    /// `********` (as shown by GET) keeps its current value.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// A new send rate limit; `null` removes it, absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<SendRateLimit>)]
    pub rate_limit: Option<Option<SendRateLimit>>,
}

/// A field that is present, `null` included (`Some(None)`); `#[serde(default)]` makes an
/// absent one `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the accounts of this channel.
    #[param(nullable = false)]
    pub channel: Option<Channel>,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        errors.push(FieldError::new(
            "name",
            "1 to 64 letters, digits, `-` or `_`",
        ));
    }
}

fn check_rate_limit(rate_limit: Option<&SendRateLimit>, errors: &mut Vec<FieldError>) {
    if let Some(Err(reason)) = rate_limit.map(SendRateLimit::check) {
        errors.push(FieldError::new("rate_limit.per_second", reason));
    }
}

/// The settings in `value`, checked: their shape, and every endpoint against the outbound
/// rule (a literal private address or a local name is refused now; a name that resolves
/// to one is refused by the worker when it connects).
fn parse_settings(
    value: &Value,
    outbound: &OutboundPolicy,
    errors: &mut Vec<FieldError>,
) -> Option<ProviderSettings> {
    let settings: ProviderSettings = match serde_path_to_error::deserialize(value) {
        Ok(s) => s,
        Err(e) => {
            let path = e.path().to_string();
            let reason = e.into_inner().to_string();
            errors.push(FieldError::new(
                crate::extract::field_path("settings", &path, &reason),
                reason,
            ));
            return None;
        }
    };
    let found_before = errors.len();
    for (field, refused) in settings.refused_endpoints(outbound) {
        errors.push(FieldError::new(
            format!("settings.{field}"),
            refused.to_string(),
        ));
    }
    // The send's own rules (a Twilio SID's shape, a key that parses, a sender): an account
    // that cannot send is refused now rather than failing the tenant's next notification.
    if errors.len() == found_before
        && let Err(e) = pombo_providers::Client::check_settings(&settings)
    {
        errors.push(setting_error(&settings, &e));
    }
    for field in settings.secret_fields() {
        if value.get(&field).and_then(Value::as_str) == Some(MASK) {
            errors.push(FieldError::new(
                format!("settings.{field}"),
                "give the credential itself, not the mask",
            ));
        }
    }
    Some(settings)
}

impl CreateProvider {
    /// Every check of a new account, each problem naming its field: what
    /// `POST /v1/providers` runs before storing it. Returns the settings parsed.
    pub fn check(&self, outbound: &OutboundPolicy) -> Result<ProviderSettings, ApiError> {
        let mut errors = Vec::new();
        check_name(&self.name, &mut errors);
        check_rate_limit(self.rate_limit.as_ref(), &mut errors);
        let settings = parse_settings(&self.settings, outbound, &mut errors);
        settings
            .filter(|_| errors.is_empty())
            .ok_or(ApiError::Validation(errors))
    }
}

/// Register a provider account.
#[utoipa::path(
    post, path = "/v1/providers", tag = "providers",
    request_body = CreateProvider,
    responses(
        (status = 201, description = "Created", body = ProviderView),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateProvider>,
) -> Result<Response, ApiError> {
    let settings = body.check(&state.config.outbound)?;
    let account = provider_accounts::create(
        &state.db,
        state.keyring.as_deref(),
        tenant.id,
        NewAccount {
            name: body.name,
            priority: body.priority,
            enabled: body.enabled,
            settings,
            rate_limit: body.rate_limit,
        },
    )
    .await?;
    record(
        &state,
        &tenant,
        "provider.created",
        account.id,
        json!({"name": account.name, "type": account.settings.kind()}),
    )
    .await?;
    let channel = account.settings.channel();
    let enabled = account.enabled;
    let mut view = ProviderView::new(&state, &headers, account);
    if enabled {
        view.notice = takes_over(&state, tenant.id, channel, view.id).await?;
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The server-wide accounts (`[[providers]]`, then `[smtp]` when enabled): name, type and
/// channel.
fn server_accounts(
    config: &pombo_config::Config,
) -> impl Iterator<Item = (&str, &'static str, Channel)> {
    let smtp = config
        .smtp
        .enabled
        .then_some(("smtp", "smtp", Channel::Email));
    config
        .providers
        .iter()
        .map(|p| (p.name.as_str(), p.settings.kind(), p.settings.channel()))
        .chain(smtp)
}

/// When `account` is the tenant's only enabled account of `channel` and server-wide
/// accounts sent that channel until now, says so: a tenant's accounts replace the
/// server's for their channel, which surprises whoever adds a first account to try it.
async fn takes_over(
    state: &AppState,
    tenant: Uuid,
    channel: Channel,
    account: Uuid,
) -> Result<Option<String>, ApiError> {
    let server_wide: Vec<&str> = server_accounts(&state.config)
        .filter(|(_, _, c)| *c == channel)
        .map(|(name, _, _)| name)
        .collect();
    if server_wide.is_empty() {
        return Ok(None);
    }
    let own: Vec<Account> =
        provider_accounts::list(&state.db, state.keyring.as_deref(), tenant, Some(channel)).await?;
    if own.iter().any(|a| a.enabled && a.id != account) {
        return Ok(None);
    }
    Ok(Some(format!(
        "this account now sends the tenant's {channel} messages in place of the server-wide \
         account(s) {}; disable or delete it to go back to them",
        server_wide.join(", ")
    )))
}

/// The tenant's provider accounts, by channel and failover order.
#[utoipa::path(
    get, path = "/v1/providers", tag = "providers",
    params(ListQuery),
    responses(
        (status = 200, description = "The tenant's accounts (`data`) and the server-wide ones that send for the channels it has none of (`server_wide`)", body = ProviderList),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<ProviderList>, ApiError> {
    let accounts = provider_accounts::list(
        &state.db,
        state.keyring.as_deref(),
        tenant.id,
        query.channel,
    )
    .await?;
    let data: Vec<ProviderView> = accounts
        .into_iter()
        .map(|a| ProviderView::new(&state, &headers, a))
        .collect();
    let config = &state.config;
    let server_wide = server_accounts(config)
        .filter(|(_, _, channel)| query.channel.is_none_or(|asked| asked == *channel))
        .map(|(name, kind, channel)| ServerAccountView {
            name: name.to_owned(),
            kind: kind.to_owned(),
            channel,
            in_use: !data.iter().any(|a| a.enabled && a.channel == channel),
        })
        .collect();
    Ok(Json(ProviderList { data, server_wide }))
}

/// One provider account.
#[utoipa::path(
    get, path = "/v1/providers/{id}", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = ProviderView),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    headers: HeaderMap,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<ProviderView>, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    Ok(Json(ProviderView::new(&state, &headers, account)))
}

/// Where the provider sends the account's callbacks, as the provider says.
///
/// For providers with an API for their webhook (Telegram, Evolution, WAHA); others are
/// configured in their console with the account's `callback_url`.
#[utoipa::path(
    get, path = "/v1/providers/{id}/callbacks", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "What the provider has", body = pombo_providers::Callbacks),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no API for its callbacks", body = Problem),
        (status = 424, description = "The provider refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn callbacks(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<pombo_providers::Callbacks>, ApiError> {
    let account = tenant_account(&state, tenant.id, id).await?;
    setup_callbacks(&state, &account, pombo_providers::CallbackSetup::Read)
        .await
        .map(Json)
}

/// Point the provider's callbacks at Pombo.
///
/// For providers with an API for their webhook: sets the account's `callback_url` there,
/// with the secret Pombo checks the callbacks with (Telegram's `setWebhook` with
/// `secret_token`; Evolution's `webhook/set` with `?secret=<webhook_secret>` in the URL;
/// WAHA's session webhook with `webhook_secret` as its HMAC key, which restarts the
/// session), for the events Pombo reads. Answers with what the provider then has. Doing it
/// again is harmless.
#[utoipa::path(
    put, path = "/v1/providers/{id}/callbacks", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "What the provider now has", body = pombo_providers::Callbacks),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no API for its callbacks", body = Problem),
        (status = 422, description = "The account lacks the secret its callbacks would be checked with, naming the setting", body = Problem),
        (status = 424, description = "The provider refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn point_callbacks(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    headers: HeaderMap,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<pombo_providers::Callbacks>, ApiError> {
    change_callbacks(&state, &tenant, &headers, id, Change::Point).await
}

/// Which way [`change_callbacks`] changes them.
#[derive(Clone, Copy)]
enum Change {
    Point,
    Stop,
}

/// Points the account's callbacks at its callback URL, or stops them, and audits it.
async fn change_callbacks(
    state: &AppState,
    tenant: &Authorized<CanManage>,
    headers: &HeaderMap,
    id: Uuid,
    change: Change,
) -> Result<Json<pombo_providers::Callbacks>, ApiError> {
    let account = tenant_account(state, tenant.id, id).await?;
    let url = ProviderView::new(state, headers, account.clone())
        .callback_url
        .ok_or_else(|| no_callback_api(&account))?;
    let (setup, action) = match change {
        Change::Point => (
            pombo_providers::CallbackSetup::Point { url: &url },
            "provider.callbacks_pointed",
        ),
        Change::Stop => (
            pombo_providers::CallbackSetup::Remove { url: &url },
            "provider.callbacks_stopped",
        ),
    };
    let now = setup_callbacks(state, &account, setup).await?;
    let details = json!({"name": account.name, "type": account.settings.kind()});
    record(state, tenant, action, id, details).await?;
    Ok(Json(now))
}

/// Stop the provider's callbacks to Pombo.
///
/// For providers with an API for their webhook: Telegram's `deleteWebhook`; Evolution's
/// webhook disabled (it has no delete) when it points at Pombo; Pombo's webhook taken out
/// of the WAHA session's (which restarts it; its other webhooks stay). Answers with what the
/// provider then has. Doing it again is harmless.
#[utoipa::path(
    delete, path = "/v1/providers/{id}/callbacks", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "What the provider now has", body = pombo_providers::Callbacks),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The provider has no API for its callbacks", body = Problem),
        (status = 424, description = "The provider refused, or could not be reached", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn stop_callbacks(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    headers: HeaderMap,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<pombo_providers::Callbacks>, ApiError> {
    change_callbacks(&state, &tenant, &headers, id, Change::Stop).await
}

fn no_callback_api(account: &Account) -> ApiError {
    ApiError::Conflict(format!(
        "`{}` has no API for its callbacks: set the account's `callback_url` in its console",
        account.settings.kind()
    ))
}

/// The tenant's account `id` (another tenant's is not found).
pub(crate) async fn tenant_account(
    state: &AppState,
    tenant: Uuid,
    id: Uuid,
) -> Result<Account, ApiError> {
    provider_accounts::get(&state.db, state.keyring.as_deref(), tenant, id)
        .await
        .map_err(ApiError::unless_found("provider account"))
}

/// The account's client, through the guarded clients (a tenant's account is held to the
/// outbound rule); settings that cannot work are a 422 naming the setting.
pub(crate) fn tenant_client(
    state: &AppState,
    account: &Account,
) -> Result<pombo_providers::Client, ApiError> {
    pombo_providers::Client::new(
        &account.settings,
        &state.providers,
        pombo_providers::outbound::Trust::Tenant,
    )
    .map_err(|e| ApiError::Validation(vec![setting_error(&account.settings, &e)]))
}

/// A setting that cannot work, named as the request names it (`settings.<field>`), its
/// reason without the provider's name it starts with.
fn setting_error(settings: &ProviderSettings, e: &pombo_providers::SetupError) -> FieldError {
    let prefix = format!("{}: ", settings.kind());
    let reason = e.message.strip_prefix(&prefix).unwrap_or(&e.message);
    let field = e
        .field
        .map_or("settings".to_owned(), |f| format!("settings.{f}"));
    FieldError::new(field, reason)
}

/// Calls the provider about its callbacks.
async fn setup_callbacks(
    state: &AppState,
    account: &Account,
    setup: pombo_providers::CallbackSetup<'_>,
) -> Result<pombo_providers::Callbacks, ApiError> {
    match tenant_client(state, account)?.callbacks(setup).await {
        Ok(Some(callbacks)) => Ok(callbacks),
        Ok(None) => Err(no_callback_api(account)),
        Err(pombo_providers::CallbackSetupError::Setting(e)) => {
            Err(ApiError::Validation(vec![setting_error(
                &account.settings,
                &e,
            )]))
        }
        Err(pombo_providers::CallbackSetupError::Provider(e)) => {
            Err(ApiError::Provider(e.to_string()))
        }
    }
}

/// Change a provider account: its name, order, enabled flag, or settings.
#[utoipa::path(
    patch, path = "/v1/providers/{id}", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = UpdateProvider,
    responses(
        (status = 200, description = "The account", body = ProviderView),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 409, description = "The name is taken, or the change would switch channels", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    headers: HeaderMap,
    PathParams(id): PathParams<Uuid>,
    JsonBody(body): JsonBody<UpdateProvider>,
) -> Result<Json<ProviderView>, ApiError> {
    let keyring = state.keyring.as_deref();
    let current: Account = provider_accounts::get(&state.db, keyring, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("provider account"))?;
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(name, &mut errors);
    }
    check_rate_limit(body.rate_limit.flatten().as_ref(), &mut errors);
    let settings = match &body.settings {
        None => None,
        // Another provider type: the settings are replaced, not merged.
        Some(Value::Object(changes))
            if changes
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| kind != current.settings.kind()) =>
        {
            parse_settings(
                &Value::Object(changes.clone()),
                &state.config.outbound,
                &mut errors,
            )
        }
        Some(Value::Object(changes)) => {
            let mut merged = serde_json::to_value(&current.settings).expect("settings serialise");
            let secrets = current.settings.secret_fields();
            let target = merged.as_object_mut().expect("settings are an object");
            let mut kept = Vec::new();
            for (key, value) in changes {
                let keeps_secret = secrets.contains(key) && value.as_str() == Some(MASK);
                if !keeps_secret {
                    target.insert(key.clone(), value.clone());
                }
            }
            for field in secrets {
                let given = changes
                    .get(&field)
                    .is_some_and(|v| v.as_str() != Some(MASK));
                if !given && target.get(&field).is_some_and(|v| !v.is_null()) {
                    kept.push(field);
                }
            }
            let parsed = parse_settings(&merged, &state.config.outbound, &mut errors);
            // Credentials go where the endpoints say: moving them needs the tenant to
            // give them again, so a stolen key that can edit accounts cannot redirect the
            // stored secrets to a server of its choosing.
            if let Some(new) = &parsed
                && new.endpoints() != current.settings.endpoints()
            {
                for field in kept {
                    errors.push(FieldError::new(
                        format!("settings.{field}"),
                        "give this credential again: the account's endpoint changes, and stored \
                         credentials only go to the endpoint they were given for",
                    ));
                }
            }
            parsed
        }
        Some(_) => {
            errors.push(FieldError::new("settings", "must be a JSON object"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Which fields changed, never their values (credentials among them).
    let mut changed: Vec<String> = [
        ("name", body.name.is_some()),
        ("priority", body.priority.is_some()),
        ("enabled", body.enabled.is_some()),
        ("rate_limit", body.rate_limit.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(field, _)| field.to_owned())
    .collect();
    if let Some(Value::Object(fields)) = &body.settings {
        changed.extend(fields.keys().map(|k| format!("settings.{k}")));
    }
    let account = provider_accounts::update(
        &state.db,
        keyring,
        tenant.id,
        id,
        AccountPatch {
            name: body.name,
            priority: body.priority,
            enabled: body.enabled,
            settings,
            rate_limit: body.rate_limit,
        },
    )
    .await?;
    record(
        &state,
        &tenant,
        "provider.updated",
        account.id,
        json!({"name": account.name, "type": account.settings.kind(), "changed": changed}),
    )
    .await?;
    Ok(Json(ProviderView::new(&state, &headers, account)))
}

/// Remove a provider account. Notifications already routed to it fail over to the next.
#[utoipa::path(
    delete, path = "/v1/providers/{id}", tag = "providers",
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such account for this tenant", body = Problem),
        (status = 503, description = "Encryption at rest is not configured (`encryption.keys`)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<Uuid>,
) -> Result<StatusCode, ApiError> {
    // For the audit log; an account that cannot be read (no keyring) is still removed.
    let details = provider_accounts::get::<ProviderSettings>(
        &state.db,
        state.keyring.as_deref(),
        tenant.id,
        id,
    )
    .await
    .map(|a| json!({"name": a.name, "type": a.settings.kind()}))
    .unwrap_or_else(|_| json!({}));
    provider_accounts::delete(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("provider account"))?;
    record(&state, &tenant, "provider.deleted", id, details).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Provider accounts hold a tenant's credentials: every change goes to the audit log,
/// with the account's name and what changed, never a value.
async fn record(
    state: &AppState,
    tenant: &Tenant,
    action: &str,
    account_id: Uuid,
    details: Value,
) -> Result<(), ApiError> {
    audit::record(
        &state.db,
        tenant.id,
        &tenant.actor(),
        tenant.key_id,
        action,
        Some(account_id.to_string()),
        details,
    )
    .await?;
    Ok(())
}
