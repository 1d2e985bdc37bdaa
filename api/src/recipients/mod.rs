//! The recipient profiles resource (`POST/GET/PATCH/DELETE /v1/recipients`): a tenant's
//! stored contacts with an address per channel. A notification may name a profile
//! (`"recipient": {"id": …}` or `{"external_id": …}`) instead of giving `to`; its channel
//! then takes the profile's address for it. Every personal field is sealed at rest.

use crate::extract::PathParams;
use axum::{
    Json,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{Channel, outbound::OutboundPolicy, recipient};
use pombo_store::{
    StoreError, provider_accounts,
    recipients::{self, Profile, Recipient},
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Authorized, CanManage, CanRead};
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub mod inbox;
pub mod keywords;
pub mod preferences;
pub mod unsubscribe;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(inbox::list))
        .routes(routes!(inbox::mark))
        .routes(routes!(inbox::create_token))
        .routes(routes!(preferences::read, preferences::replace))
        .routes(routes!(unsubscribe::show, unsubscribe::unsubscribe))
        .routes(routes!(
            preferences::read_defaults,
            preferences::replace_defaults
        ))
}

/// A recipient profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    pub id: Uuid,
    /// The caller's own id for the person: unique per tenant, usable in place of `id`.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    /// E.164; when `null`, WhatsApp messages go to `phone`.
    pub whatsapp: Option<String>,
    /// FCM or APNs device tokens.
    pub push_tokens: Vec<String>,
    pub telegram_chat_id: Option<String>,
    pub instagram_id: Option<String>,
    pub webhook_url: Option<String>,
    /// Used for templates when a notification names no locale.
    pub locale: Option<String>,
    /// IANA time zone: quiet hours and delivery windows are read in it (else UTC).
    pub time_zone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Recipient> for RecipientView {
    fn from(r: Recipient) -> Self {
        let p = r.profile;
        RecipientView {
            id: r.id,
            external_id: p.external_id,
            name: p.name,
            email: p.email,
            phone: p.phone,
            whatsapp: p.whatsapp,
            push_tokens: p.push_tokens,
            telegram_chat_id: p.telegram_chat_id,
            instagram_id: p.instagram_id,
            webhook_url: p.webhook_url,
            locale: p.locale,
            time_zone: p.time_zone,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new profile. Every field is optional; each address is checked in its channel's format.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecipient {
    /// Your own id for the person (1 to 255 characters), unique among your profiles.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// E.164 (`+5511987654321`), for `sms` (and `whatsapp` unless `whatsapp` is given).
    pub phone: Option<String>,
    /// E.164, when WhatsApp uses another number than `phone`.
    pub whatsapp: Option<String>,
    /// FCM or APNs device tokens, up to 20.
    pub push_tokens: Option<Vec<String>>,
    /// A Telegram chat id or `@channelusername`.
    pub telegram_chat_id: Option<String>,
    /// An Instagram-scoped user id.
    pub instagram_id: Option<String>,
    /// An https URL.
    pub webhook_url: Option<String>,
    /// A locale tag (`pt-BR`).
    pub locale: Option<String>,
    /// An IANA time zone (`America/Sao_Paulo`), for quiet hours and delivery windows.
    pub time_zone: Option<String>,
}

/// Changes to a profile: a field given replaces it, `null` removes it, an absent one stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecipient {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub whatsapp: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub push_tokens: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub telegram_chat_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub instagram_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
}

/// Tells `null` (`Some(None)`) from an absent field (`None`, by `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientPage {
    pub data: Vec<RecipientView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const MAX_EXTERNAL_ID: usize = 255;
const MAX_NAME_CHARS: usize = 200;
const MAX_PUSH_TOKENS: usize = 20;

/// Checks every field of `profile`, in place: locales are canonicalised and repeated push
/// tokens dropped. Each problem names its field.
fn check(profile: &mut Profile, rules: &OutboundPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let printable = |s: &str| !s.chars().any(char::is_control);
    if let Some(id) = &profile.external_id
        && (id.is_empty() || id.len() > MAX_EXTERNAL_ID || id.trim() != id || !printable(id))
    {
        errors.push(FieldError::new(
            "external_id",
            format!("1 to {MAX_EXTERNAL_ID} printable characters, without surrounding spaces"),
        ));
    }
    if let Some(name) = &profile.name
        && (name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS || !printable(name))
    {
        errors.push(FieldError::new(
            "name",
            format!("1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    let addresses = [
        ("email", Channel::Email, &profile.email),
        ("phone", Channel::Sms, &profile.phone),
        ("whatsapp", Channel::Whatsapp, &profile.whatsapp),
        (
            "telegram_chat_id",
            Channel::Telegram,
            &profile.telegram_chat_id,
        ),
        ("instagram_id", Channel::Instagram, &profile.instagram_id),
        ("webhook_url", Channel::Webhook, &profile.webhook_url),
    ];
    for (field, channel, value) in addresses {
        if let Some(value) = value
            && let Err(e) = recipient::validate(channel, value, rules)
        {
            errors.push(FieldError::new(field, e.0));
        }
    }
    if profile.push_tokens.len() > MAX_PUSH_TOKENS {
        errors.push(FieldError::new(
            "push_tokens",
            format!("at most {MAX_PUSH_TOKENS} tokens"),
        ));
    }
    for (i, token) in profile.push_tokens.iter().enumerate() {
        if let Err(e) = recipient::validate(Channel::Push, token, rules) {
            errors.push(FieldError::new(format!("push_tokens[{i}]"), e.0));
        }
    }
    let mut seen = std::collections::HashSet::new();
    profile.push_tokens.retain(|t| seen.insert(t.clone()));
    if let Some(zone) = &profile.time_zone
        && let Err(e) = pombo_contract::preferences::time_zone(zone)
    {
        errors.push(FieldError::new("time_zone", e));
    }
    if let Some(tag) = &profile.locale {
        match pombo_store::templates::canonical_locale(tag) {
            Some(canonical) => profile.locale = Some(canonical),
            None => errors.push(FieldError::new(
                "locale",
                format!("`{tag}` is not a locale tag like `pt` or `pt-BR`"),
            )),
        }
    }
    errors
}

impl CreateRecipient {
    /// Every check of a new profile, each problem naming its field: what
    /// `POST /v1/recipients` runs before storing it. Returns the profile canonicalised.
    pub fn check(self, rules: &OutboundPolicy) -> Result<Profile, ApiError> {
        let mut profile = Profile {
            external_id: self.external_id,
            name: self.name,
            email: self.email,
            phone: self.phone,
            whatsapp: self.whatsapp,
            push_tokens: self.push_tokens.unwrap_or_default(),
            telegram_chat_id: self.telegram_chat_id,
            instagram_id: self.instagram_id,
            webhook_url: self.webhook_url,
            locale: self.locale,
            time_zone: self.time_zone,
        };
        let errors = check(&mut profile, rules);
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Create a recipient profile.
#[utoipa::path(
    post, path = "/v1/recipients", tag = "recipients",
    request_body = CreateRecipient,
    responses(
        (status = 201, description = "Created", body = RecipientView),
        (status = 409, description = "The external_id is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<CreateRecipient>,
) -> Result<Response, ApiError> {
    let profile = body.check(&state.config.outbound)?;
    let created = recipients::create(&state.db, tenant.id, profile).await?;
    Ok((StatusCode::CREATED, Json(RecipientView::from(created))).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// The tenant's recipient profiles, newest first.
#[utoipa::path(
    get, path = "/v1/recipients", tag = "recipients",
    params(
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 200, description = "1 to 200, default 50"),
        ("cursor" = Option<Uuid>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of profiles", body = RecipientPage),
        (status = 422, description = "Invalid paging", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RecipientPage>, ApiError> {
    let query: ListQuery = crate::extract::parse_query(raw.as_deref())?;
    let mut errors = Vec::new();
    let (limit, before) =
        crate::paging::parse(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // One more than asked, to know whether another page exists.
    let rows = recipients::list(&state.db, tenant.id, before, limit + 1).await?;
    let (rows, next_cursor) = crate::paging::page(rows, limit, |r| r.id);
    Ok(Json(RecipientPage {
        data: rows.into_iter().map(RecipientView::from).collect(),
        next_cursor,
    }))
}

/// One recipient profile, by our id or by your `external_id`.
#[utoipa::path(
    get, path = "/v1/recipients/{id}", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    responses(
        (status = 200, description = "The profile", body = RecipientView),
        (status = 404, description = "No such profile for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RecipientView>, ApiError> {
    let found = recipients::find(&state.db, tenant.id, &id)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    Ok(Json(found.into()))
}

/// Change a recipient profile. Notifications already accepted keep the address they were
/// given.
#[utoipa::path(
    patch, path = "/v1/recipients/{id}", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    request_body = UpdateRecipient,
    responses(
        (status = 200, description = "The profile", body = RecipientView),
        (status = 404, description = "No such profile for this tenant", body = Problem),
        (status = 409, description = "The external_id is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<UpdateRecipient>,
) -> Result<Json<RecipientView>, ApiError> {
    let current = recipients::find(&state.db, tenant.id, &id)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    let mut profile = current.profile;
    let set = |field: &mut Option<String>, change: Option<Option<String>>| {
        if let Some(value) = change {
            *field = value;
        }
    };
    set(&mut profile.external_id, body.external_id);
    set(&mut profile.name, body.name);
    set(&mut profile.email, body.email);
    set(&mut profile.phone, body.phone);
    set(&mut profile.whatsapp, body.whatsapp);
    set(&mut profile.telegram_chat_id, body.telegram_chat_id);
    set(&mut profile.instagram_id, body.instagram_id);
    set(&mut profile.webhook_url, body.webhook_url);
    set(&mut profile.locale, body.locale);
    set(&mut profile.time_zone, body.time_zone);
    if let Some(tokens) = body.push_tokens {
        profile.push_tokens = tokens.unwrap_or_default();
    }
    let errors = check(&mut profile, &state.config.outbound);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let updated = recipients::update(&state.db, tenant.id, current.id, profile)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    Ok(Json(updated.into()))
}

/// Remove a recipient profile. Notifications already sent to it keep their address and
/// its id.
#[utoipa::path(
    delete, path = "/v1/recipients/{id}", tag = "recipients",
    params(("id" = String, Path, description = "The profile's id, or else its external_id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such profile for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let found = recipients::find(&state.db, tenant.id, &id)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    recipients::delete(&state.db, tenant.id, found.id)
        .await
        .map_err(ApiError::unless_found("recipient"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// A notification's recipient profile: `{"id": …}` or `{"external_id": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientRef {
    /// The profile's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Or your own id for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The tenant's profile a notification names; an unknown one is a 422 at the field that
/// named it.
pub async fn named(
    state: &AppState,
    tenant_id: Uuid,
    named: &RecipientRef,
) -> Result<Recipient, ApiError> {
    match (&named.id, &named.external_id) {
        (Some(_), Some(_)) => Err(ApiError::field(
            "recipient",
            "give `id` or `external_id`, not both",
        )),
        (None, None) => Err(ApiError::field("recipient", "give `id` or `external_id`")),
        (Some(id), None) => {
            let unknown = || ApiError::field("recipient.id", format!("no recipient `{id}`"));
            let uuid = Uuid::parse_str(id).map_err(|_| unknown())?;
            match recipients::get(&state.db, tenant_id, uuid).await {
                Err(StoreError::NotFound) => Err(unknown()),
                other => Ok(other?),
            }
        }
        (None, Some(external_id)) => {
            match recipients::by_external_id(&state.db, tenant_id, external_id).await {
                Err(StoreError::NotFound) => Err(ApiError::field(
                    "recipient.external_id",
                    format!("no recipient with external_id `{external_id}`"),
                )),
                other => Ok(other?),
            }
        }
    }
}

/// The profile's device token for a push: the first one a provider account that would
/// deliver it can reach (the tenant's own push accounts, or else the server's), so that a
/// profile with an APNs and an FCM token and only an FCM account gets the FCM one. When
/// none can, the first token (its notification then fails with the routing's reason).
pub async fn push_token(
    state: &AppState,
    tenant_id: Uuid,
    profile: &Profile,
) -> Result<Option<String>, ApiError> {
    let Some(first) = profile.push_tokens.first() else {
        return Ok(None);
    };
    let own = provider_accounts::for_channel(
        &state.db,
        state.keyring.as_deref(),
        tenant_id,
        Channel::Push,
    )
    .await?;
    let settings: Vec<_> = if own.is_empty() {
        state
            .config
            .providers
            .iter()
            .map(|p| p.settings.clone())
            .filter(|s| s.channel() == Channel::Push)
            .collect()
    } else {
        own.into_iter().map(|a| a.settings).collect()
    };
    let reachable = profile
        .push_tokens
        .iter()
        .find(|token| settings.iter().any(|s| s.can_reach(token)));
    Ok(Some(reachable.unwrap_or(first).clone()))
}
