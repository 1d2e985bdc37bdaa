//! The templates resource: a tenant stores message templates (`POST/GET/PUT/DELETE
//! /v1/templates`) with content variants per locale and channel, versioned: every PUT
//! writes a new version and older ones stay readable, so a notification can say which
//! version it used. `POST /v1/templates/{id}/render` previews every channel variant with
//! sample data, with the encoding and segment count of SMS texts.
//!
//! Variants are checked when saved: each must be valid content of its channel, with valid
//! placeholder syntax. Missing values can only be found with data, at render time.

pub mod sms;

use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::extract::PathParams;
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{Channel, content::Content, render::check_syntax};
use pombo_renderer::{Item, Renderer};
use pombo_store::{
    StoreError,
    templates::{self, Detail, NewTemplate, NextVersion, Template, Variants, Version},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Authorized, CanManage, CanRead, CanSend};
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub use sms::{SmsEncoding, SmsSegments};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(read_version))
        .routes(routes!(preview))
}

/// A template without its content, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateSummary {
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub default_locale: String,
    pub current_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Template> for TemplateSummary {
    fn from(t: Template) -> Self {
        TemplateSummary {
            id: t.id,
            name: t.name,
            description: t.description,
            default_locale: t.default_locale,
            current_version: t.current_version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A version in a template's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionEntry {
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

/// A template with the variants of its current version and its version history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub default_locale: String,
    pub current_version: i32,
    /// Locales of the current version.
    pub locales: Vec<String>,
    /// Channels with a variant in some locale of the current version.
    pub channels: Vec<Channel>,
    /// The current version's content: `{"<locale>": {"<channel>": <content>}}`.
    #[schema(value_type = Object)]
    pub variants: Variants,
    /// Every version, oldest first.
    pub versions: Vec<VersionEntry>,
    /// The category of notifications made from it (recipients' preferences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// What its emails track.
    pub tracking: pombo_contract::tracking::Tracking,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Detail> for TemplateView {
    fn from(d: Detail) -> Self {
        TemplateView {
            id: d.template.id,
            name: d.template.name,
            description: d.template.description,
            default_locale: d.template.default_locale,
            current_version: d.template.current_version,
            locales: d.current.variants.keys().cloned().collect(),
            channels: templates::channels(&d.current.variants),
            variants: d.current.variants,
            versions: d
                .versions
                .into_iter()
                .map(|v| VersionEntry {
                    version: v.version,
                    created_at: v.created_at,
                })
                .collect(),
            category: d.template.category,
            tracking: d.template.tracking,
            created_at: d.template.created_at,
            updated_at: d.template.updated_at,
        }
    }
}

/// One version of a template: what notifications that used it were made from.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub template_id: Uuid,
    pub name: String,
    pub version: i32,
    /// Whether it is the template's current version.
    pub current: bool,
    pub default_locale: String,
    pub locales: Vec<String>,
    pub channels: Vec<Channel>,
    #[schema(value_type = Object)]
    pub variants: Variants,
    pub created_at: DateTime<Utc>,
}

impl VersionView {
    fn new(template: Template, v: Version) -> Self {
        VersionView {
            template_id: template.id,
            name: template.name,
            current: v.version == template.current_version,
            version: v.version,
            default_locale: v.default_locale,
            locales: v.variants.keys().cloned().collect(),
            channels: templates::channels(&v.variants),
            variants: v.variants,
            created_at: v.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// Unique per tenant: letters, digits, `-`, `_` and `.`, up to 64 (not a UUID:
    /// templates are addressed by id or name).
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The category of notifications made from it, for recipients' preferences
    /// (`newsletter`; 1 to 64 of a-z, 0-9, `_`, `-`, `.`). A notification may name its own.
    #[serde(default)]
    pub category: Option<String>,
    /// Whether its emails carry an open pixel and tracked links (a notification may say
    /// otherwise).
    #[serde(default)]
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    /// The locale used when a notification names none, or one without a variant
    /// (`pt-BR` falls back to `pt`, then to this). Must be one of `variants`' locales.
    pub default_locale: String,
    /// Content per locale, then per channel, as a notification's `content` of that
    /// channel, with placeholders: `{"pt-BR": {"email": {"subject": "Olá {{ name }}",
    /// "html": "…"}, "sms": {"text": "…"}}, "en": {…}}`.
    #[schema(value_type = Object)]
    pub variants: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    /// A new description; `""` removes it; absent keeps it.
    #[serde(default)]
    pub description: Option<String>,
    /// A new category; `""` removes it; absent keeps it.
    #[serde(default)]
    pub category: Option<String>,
    /// What its emails track; absent keeps it.
    #[serde(default)]
    pub tracking: Option<pombo_contract::tracking::Tracking>,
    /// Absent keeps the current default locale (which must then be in `variants`).
    #[serde(default)]
    pub default_locale: Option<String>,
    /// The complete content of the new version (not merged with the previous one).
    #[schema(value_type = Object)]
    pub variants: Value,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// Sample values for the placeholders.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// The locale to render for, with fallback (`pt-BR` → `pt` → default).
    #[serde(default)]
    pub locale: Option<String>,
    /// The version to render (default: the current one).
    #[serde(default)]
    pub version: Option<i32>,
}

/// A channel variant, rendered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedVariant {
    /// The locale the variant came from after fallback.
    pub locale: String,
    /// The content with placeholders filled (HTML parts escaped).
    #[schema(value_type = Object)]
    pub content: Value,
    /// For SMS: the encoding and how many messages the text takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSegments>,
}

/// Every channel variant of a template version, rendered with the given data.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderView {
    pub template_id: Uuid,
    pub name: String,
    pub version: i32,
    /// The locale asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Per channel (`email`, `sms`, …).
    pub channels: BTreeMap<String, RenderedVariant>,
}

/// A template a notification is made from (`"template": {"id": "welcome", "locale":
/// "pt-BR"}`), instead of inline `content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The template's id or name.
    #[serde(rename = "id")]
    pub name_or_id: String,
    /// Which version (default: the current one).
    #[serde(default)]
    pub version: Option<i32>,
    /// The recipient's locale, with fallback: `pt-BR` → `pt` → the template's default.
    #[serde(default)]
    pub locale: Option<String>,
}

/// Which template, version and locale a notification's content came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateUsed {
    pub id: Uuid,
    pub version: i32,
    pub locale: String,
    /// The template's category, the notification's unless it names its own.
    pub category: Option<String>,
    /// What its emails track, unless the notification says.
    pub tracking: pombo_contract::tracking::Tracking,
}

/// The unrendered content of `channel` from a tenant's template, for a notification that
/// names one, and which version and locale it came from. Errors point at the request's
/// `template` fields (422): an unknown template, version or locale, or no variant for the
/// channel.
pub async fn content_for_notification(
    state: &AppState,
    tenant_id: Uuid,
    template: &TemplateRef,
    channel: Channel,
) -> Result<(Value, TemplateUsed), ApiError> {
    let locale = template
        .locale
        .as_deref()
        .map(|l| requested_locale("template.locale", l))
        .transpose()
        .map_err(|e| ApiError::Validation(vec![e]))?;
    if template.version.is_some_and(|v| v < 1) {
        return Err(ApiError::field("template.version", "versions start at 1"));
    }
    let resolved = templates::resolve(
        &state.db,
        tenant_id,
        &template.name_or_id,
        template.version,
        locale.as_deref(),
        channel,
    )
    .await
    .map_err(|e| match e {
        StoreError::NotFound => ApiError::field(
            "template.id",
            format!("no template with id or name `{}`", template.name_or_id),
        ),
        StoreError::Template(reason) => ApiError::field("template", reason),
        e => e.into(),
    })?;
    Ok((
        resolved.content,
        TemplateUsed {
            tracking: resolved.tracking,
            category: resolved.category.clone(),
            id: resolved.template_id,
            version: resolved.version,
            locale: resolved.locale_used,
        },
    ))
}

/// A locale given in a request, canonicalised (`pt_br` → `pt-BR`).
fn requested_locale(field: &str, tag: &str) -> Result<String, FieldError> {
    templates::canonical_locale(tag).ok_or_else(|| {
        FieldError::new(
            field,
            format!("`{tag}` is not a locale tag like `pt` or `pt-BR`"),
        )
    })
}

const MAX_DESCRIPTION_CHARS: usize = 1000;

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        errors.push(FieldError::new(
            "name",
            "1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    } else if name.parse::<Uuid>().is_ok() {
        errors.push(FieldError::new(
            "name",
            "must not be a UUID: it would be taken for a template id",
        ));
    }
}

fn check_description(description: Option<&str>, errors: &mut Vec<FieldError>) {
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        errors.push(FieldError::new(
            "description",
            format!("must have at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
}

/// A stored locale key must be written canonically, so that fallback finds it.
fn check_locale_tag(field: &str, tag: &str) -> Result<(), FieldError> {
    match templates::canonical_locale(tag) {
        Some(canonical) if canonical == tag => Ok(()),
        Some(canonical) => Err(FieldError::new(field, format!("write it as `{canonical}`"))),
        None => Err(FieldError::new(
            field,
            format!("`{tag}` is not a locale tag like `pt` or `pt-BR`"),
        )),
    }
}

/// Moves a content error's path (`content.subject`) under the variant it is about
/// (`variants.pt-BR.email.subject`).
fn under(prefix: &str, field: &str) -> String {
    match field.strip_prefix("content") {
        Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{field}"),
    }
}

/// Checks `variants` (`{"<locale>": {"<channel>": <content>}}`): locale tags, channel
/// names, and every content as its channel's, placeholder syntax included. Returns them
/// normalised when all is well.
fn check_variants(value: &Value, errors: &mut Vec<FieldError>) -> Option<Variants> {
    let Some(locales) = value.as_object() else {
        errors.push(FieldError::new(
            "variants",
            "must be an object of locales, each an object of channels",
        ));
        return None;
    };
    if locales.is_empty() {
        errors.push(FieldError::new("variants", "give at least one locale"));
        return None;
    }
    let before = errors.len();
    let mut variants = Variants::new();
    for (locale, channels) in locales {
        let path = format!("variants.{locale}");
        if let Err(e) = check_locale_tag(&path, locale) {
            errors.push(e);
            continue;
        }
        let Some(channels) = channels.as_object().filter(|c| !c.is_empty()) else {
            errors.push(FieldError::new(
                path,
                "must be an object of channels (`email`, `sms`, …) with at least one",
            ));
            continue;
        };
        let mut by_channel = BTreeMap::new();
        for (name, content) in channels {
            let path = format!("{path}.{name}");
            let Ok(channel) = name.parse::<Channel>() else {
                let known: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                errors.push(FieldError::new(
                    path,
                    format!("unknown channel; one of {}", known.join(", ")),
                ));
                continue;
            };
            let parsed = match Content::parse(channel, content) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(FieldError::new(under(&path, &e.field), e.reason));
                    continue;
                }
            };
            let found: Vec<FieldError> = parsed
                .check()
                .into_iter()
                .map(|e| FieldError::new(under(&path, &e.field), e.reason))
                .chain(
                    check_syntax(&parsed)
                        .into_iter()
                        .map(|e| FieldError::new(under(&path, &e.field), e.reason)),
                )
                .collect();
            if found.is_empty() {
                by_channel.insert(name.clone(), parsed.to_value());
            }
            errors.extend(found);
        }
        variants.insert(locale.clone(), by_channel);
    }
    (errors.len() == before).then_some(variants)
}

/// The default locale must be a locale of `variants` (the request's, checked or not).
fn check_default_locale(default_locale: &str, variants: &Value) -> Option<FieldError> {
    if let Err(e) = check_locale_tag("default_locale", default_locale) {
        return Some(e);
    }
    match variants.as_object() {
        Some(v) if !v.contains_key(default_locale) => Some(FieldError::new(
            "default_locale",
            format!(
                "no variants for `{default_locale}`: give them under `variants.{default_locale}`"
            ),
        )),
        _ => None,
    }
}

impl CreateTemplate {
    /// Every check of a new template, each problem naming its field: what
    /// `POST /v1/templates` runs before storing it. Returns the variants normalised.
    pub fn check(&self) -> Result<Variants, ApiError> {
        let mut errors = Vec::new();
        check_name(&self.name, &mut errors);
        check_description(self.description.as_deref(), &mut errors);
        check_category(self.category.as_deref(), &mut errors);
        let variants = check_variants(&self.variants, &mut errors);
        errors.extend(check_default_locale(&self.default_locale, &self.variants));
        variants
            .filter(|_| errors.is_empty())
            .ok_or(ApiError::Validation(errors))
    }
}

fn check_category(category: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(category) = category
        && !pombo_contract::preferences::valid_category(category)
    {
        errors.push(FieldError::new(
            "category",
            "1 to 64 characters of a-z, 0-9, `_`, `-`, `.`",
        ));
    }
}

/// A template lookup: an unknown version or locale is as missing as an unknown template.
fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::Template(reason) => ApiError::NotFound(reason),
        e => ApiError::unless_found("template")(e),
    }
}

/// Store a template (its version 1).
#[utoipa::path(
    post, path = "/v1/templates", tag = "templates",
    request_body = CreateTemplate,
    responses(
        (status = 201, description = "Created", body = TemplateView),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid fields, e.g. `variants.pt-BR.email.subject`", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(body): JsonBody<CreateTemplate>,
) -> Result<Response, ApiError> {
    let variants = body.check()?;
    let detail = templates::create(
        &state.db,
        tenant.id,
        NewTemplate {
            name: body.name,
            description: body.description.filter(|d| !d.is_empty()),
            category: body.category,
            tracking: body.tracking.unwrap_or_default(),
            default_locale: body.default_locale,
            variants,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(TemplateView::from(detail))).into_response())
}

/// The tenant's templates, by name.
#[utoipa::path(
    get, path = "/v1/templates", tag = "templates",
    responses(
        (status = 200, description = "The templates", body = TemplateList),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
) -> Result<Json<TemplateList>, ApiError> {
    let found = templates::list(&state.db, tenant.id).await?;
    Ok(Json(TemplateList {
        data: found.into_iter().map(TemplateSummary::from).collect(),
    }))
}

/// `GET /v1/templates`: every template at once, in the `data` of every list of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    pub data: Vec<TemplateSummary>,
}

/// A template: its current version's variants and its version history.
#[utoipa::path(
    get, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "No such template for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<TemplateView>, ApiError> {
    let detail = templates::get(&state.db, tenant.id, &id)
        .await
        .map_err(not_found)?;
    Ok(Json(detail.into()))
}

/// One version of a template, current or not.
#[utoipa::path(
    get, path = "/v1/templates/{id}/versions/{version}", tag = "templates",
    params(
        ("id" = String, Path, description = "Template id or name"),
        ("version" = i32, Path, description = "Version number, from 1"),
    ),
    responses(
        (status = 200, description = "The version", body = VersionView),
        (status = 404, description = "No such template or version", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read_version(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams((id, version)): PathParams<(String, String)>,
) -> Result<Json<VersionView>, ApiError> {
    let Ok(number) = version.parse::<i32>() else {
        return Err(ApiError::NotFound(format!("no version `{version}`")));
    };
    let (template, v) = templates::get_version(&state.db, tenant.id, &id, Some(number))
        .await
        .map_err(not_found)?;
    Ok(Json(VersionView::new(template, v)))
}

/// Replace a template's content: writes a new version and makes it current. Older
/// versions stay readable and usable.
#[utoipa::path(
    put, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    request_body = UpdateTemplate,
    responses(
        (status = 200, description = "The template, at its new version", body = TemplateView),
        (status = 404, description = "No such template for this tenant", body = Problem),
        (status = 409, description = "Another change was saved meanwhile; retry", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<UpdateTemplate>,
) -> Result<Json<TemplateView>, ApiError> {
    let current = templates::find(&state.db, tenant.id, &id)
        .await
        .map_err(not_found)?;
    let mut errors = Vec::new();
    check_description(body.description.as_deref(), &mut errors);
    check_category(
        body.category.as_deref().filter(|c| !c.is_empty()),
        &mut errors,
    );
    let variants = check_variants(&body.variants, &mut errors);
    let default_locale = body.default_locale.unwrap_or(current.default_locale);
    errors.extend(check_default_locale(&default_locale, &body.variants));
    let Some(variants) = variants.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let detail = templates::update(
        &state.db,
        tenant.id,
        &current.id.to_string(),
        NextVersion {
            description: body.description,
            category: body.category,
            tracking: body.tracking,
            default_locale,
            variants,
        },
    )
    .await
    .map_err(not_found)?;
    Ok(Json(detail.into()))
}

/// Delete a template and all its versions. Notifications made from it keep their content.
#[utoipa::path(
    delete, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such template for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    templates::delete(&state.db, tenant.id, &id)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Preview a template: every channel variant rendered with sample data, in the best locale
/// for `locale`, and the encoding and segment count of SMS texts. A placeholder without a
/// value is a 422 naming the variant's field and the placeholder.
#[utoipa::path(
    post, path = "/v1/templates/{id}/render", tag = "templates",
    params(("id" = String, Path, description = "Template id or name")),
    request_body = RenderRequest,
    responses(
        (status = 200, description = "Every channel variant, rendered", body = RenderView),
        (status = 503, description = "Rendering ran past its deadline: the server is busy, retry", body = Problem),
        (status = 404, description = "No such template for this tenant", body = Problem),
        (status = 422, description = "Invalid fields, or data missing for a placeholder", body = Problem),
    ),
    security(("api_key" = ["send"]))
)]
pub async fn preview(
    State(state): State<AppState>,
    tenant: Authorized<CanSend>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<RenderRequest>,
) -> Result<Json<RenderView>, ApiError> {
    let template = templates::find(&state.db, tenant.id, &id)
        .await
        .map_err(not_found)?;
    let mut errors = Vec::new();
    let locale = match body
        .locale
        .as_deref()
        .map(|l| requested_locale("locale", l))
    {
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        other => other.transpose().ok().flatten(),
    };
    if body.data.as_ref().is_some_and(|d| !d.is_object()) {
        errors.push(FieldError::new("data", "must be a JSON object"));
    }
    if body.version.is_some_and(|v| v < 1) {
        errors.push(FieldError::new("version", "versions start at 1"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (template, version) =
        templates::get_version(&state.db, tenant.id, &template.id.to_string(), body.version)
            .await
            .map_err(|e| match e {
                StoreError::Template(reason) => ApiError::field("version", reason),
                e => not_found(e),
            })?;
    let number = version.version;
    let rendered = render_all(
        &state.renderer,
        &version,
        locale.as_deref(),
        body.data.as_ref(),
    )
    .await?;
    Ok(Json(RenderView {
        template_id: template.id,
        name: template.name,
        version: number,
        locale,
        channels: rendered,
    }))
}

/// Renders the variant of every channel of `version` for `locale`, in one job of
/// `renderer`; all failures at once.
async fn render_all(
    renderer: &Renderer,
    version: &Version,
    locale: Option<&str>,
    data: Option<&Value>,
) -> Result<BTreeMap<String, RenderedVariant>, ApiError> {
    let mut picked = Vec::new();
    for channel in templates::channels(&version.variants) {
        let Some((locale_used, content)) =
            templates::pick(&version.variants, &version.default_locale, locale, channel)
        else {
            // Only in locales the fallback does not reach (`pt-BR` when `pt` is asked).
            continue;
        };
        let parsed = Content::parse(channel, content).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!(
                "stored template {} version {}: {e}",
                version.template_id,
                version.version
            ))
        })?;
        picked.push((channel, locale_used, parsed));
    }
    let items = picked
        .iter()
        .map(|(_, _, content)| Item::new(content, data))
        .collect();
    let answers = renderer.render_many(items).await?;
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for ((channel, locale_used, _), answer) in picked.into_iter().zip(answers) {
        let path = format!("variants.{locale_used}.{channel}");
        let rendered = match answer {
            Ok(r) => r,
            Err(e) => {
                errors.push(FieldError::new(under(&path, &e.field), e.reason));
                continue;
            }
        };
        let after: Vec<FieldError> = rendered
            .check()
            .into_iter()
            .map(|e| {
                FieldError::new(
                    under(&path, &e.field),
                    format!("after rendering: {}", e.reason),
                )
            })
            .collect();
        if !after.is_empty() {
            errors.extend(after);
            continue;
        }
        let sms = match &rendered {
            Content::Sms(t) => Some(sms::segments(&t.text)),
            _ => None,
        };
        out.insert(
            channel.as_str().to_owned(),
            RenderedVariant {
                locale: locale_used,
                content: rendered.to_value(),
                sms,
            },
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(value: Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let result = check_variants(&value, &mut errors);
        assert_eq!(result.is_some(), errors.is_empty());
        errors
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn content_paths_move_under_their_variant() {
        let p = "variants.pt-BR.email";
        assert_eq!(under(p, "content.subject"), "variants.pt-BR.email.subject");
        assert_eq!(under(p, "content"), "variants.pt-BR.email");
        assert_eq!(
            under("variants.en.whatsapp", "content.template.parameters[0]"),
            "variants.en.whatsapp.template.parameters[0]"
        );
    }

    #[test]
    fn valid_variants_are_normalised() {
        let mut errors = Vec::new();
        let v = check_variants(
            &json!({
                "pt-BR": {"email": {"subject": "Olá {{ name }}", "html": "<p>{{ name }}</p>", "text": null}},
                "en": {"sms": {"text": "Hi {{ name }}"},
                       "whatsapp": {"template": {"name": "welcome", "language": "en_US", "parameters": ["{{ name }}"]}},
                       "push": {"title": "Hi", "body": "{{ n }} new", "data": {"k": "v"}}},
            }),
            &mut errors,
        )
        .unwrap();
        assert_eq!(errors, []);
        assert_eq!(
            v["pt-BR"]["email"],
            json!({"subject": "Olá {{ name }}", "html": "<p>{{ name }}</p>"})
        );
        assert_eq!(v["en"].len(), 3);
    }

    #[test]
    fn every_wrong_variant_is_named_by_its_path() {
        let errors = errors_of(json!({
            "pt-BR": {"email": {"subject": "", "html": "<p>hi</p>"}, "fax": {}},
            "en": {"sms": {"text": "Hi {{ name"}, "push": {"title": "t"}},
            "pt_br": {"sms": {"text": "x"}},
            "portuguese": {"sms": {"text": "x"}},
            "fr": {},
            "es": {"whatsapp": {"text": "a", "template": {"name": "n", "language": "es"}}},
        }));
        let mut got = fields(&errors);
        got.sort();
        assert_eq!(
            got,
            [
                "variants.en.push.body",
                "variants.en.sms.text",
                "variants.es.whatsapp",
                "variants.fr",
                "variants.portuguese",
                "variants.pt-BR.email.subject",
                "variants.pt-BR.fax",
                "variants.pt_br",
            ],
            "{errors:?}"
        );
        let syntax = errors
            .iter()
            .find(|e| e.field == "variants.en.sms.text")
            .unwrap();
        assert!(syntax.reason.contains("syntax"), "{}", syntax.reason);
        let case = errors.iter().find(|e| e.field == "variants.pt_br").unwrap();
        assert!(case.reason.contains("`pt-BR`"), "{}", case.reason);
        assert_eq!(fields(&errors_of(json!({}))), ["variants"]);
        assert_eq!(fields(&errors_of(json!([]))), ["variants"]);
    }

    #[test]
    fn the_default_locale_must_have_variants() {
        let v = json!({"en": {"sms": {"text": "x"}}});
        assert_eq!(check_default_locale("en", &v), None);
        assert_eq!(
            check_default_locale("pt", &v).unwrap().field,
            "default_locale"
        );
        assert!(check_default_locale("en_US", &json!({"en_US": {}})).is_some());
    }

    #[test]
    fn names_are_checked() {
        for (name, ok) in [
            ("welcome", true),
            ("order.shipped-v2_x", true),
            ("", false),
            ("with space", false),
            (&"x".repeat(65), false),
            ("0190a0b2-7c3e-7000-8000-000000000000", false),
        ] {
            let mut errors = Vec::new();
            check_name(name, &mut errors);
            assert_eq!(errors.is_empty(), ok, "{name}: {errors:?}");
        }
    }

    #[tokio::test]
    async fn preview_renders_every_channel_with_fallback_and_sms_segments() {
        let variants: Variants = serde_json::from_value(json!({
            "en": {"email": {"subject": "Hi {{ name }}", "html": "<b>{{ name }}</b>", "text": "{{ name }}"},
                   "sms": {"text": "Hi {{ name }}"}},
            "pt": {"sms": {"text": "Olá {{ name }}"}},
        }))
        .unwrap();
        let version = Version {
            template_id: Uuid::nil(),
            version: 1,
            default_locale: "en".into(),
            variants,
            created_at: Utc::now(),
        };
        let data = json!({"name": "<Ana>"});
        // In process: this checks the picking and the paths, the render children have tests
        // of their own (`renderer/tests`).
        let renderer = Renderer::in_process();
        let out = render_all(&renderer, &version, Some("pt-BR"), Some(&data))
            .await
            .unwrap();
        assert_eq!(out["email"].locale, "en");
        assert_eq!(out["email"].content["html"], "<b>&lt;Ana&gt;</b>");
        assert_eq!(out["email"].content["text"], "<Ana>");
        assert_eq!(out["sms"].locale, "pt");
        let sms = out["sms"].sms.unwrap();
        assert_eq!((sms.encoding, sms.segments), (SmsEncoding::Ucs2, 1));

        let Err(ApiError::Validation(errors)) =
            render_all(&renderer, &version, None, Some(&json!({}))).await
        else {
            panic!("missing data is refused")
        };
        let mut got = fields(&errors);
        got.sort();
        // Each variant stops at its first failing field.
        assert_eq!(got, ["variants.en.email.subject", "variants.en.sms.text"]);
        assert!(errors[0].reason.contains("name"), "{}", errors[0].reason);
    }
}
