//! The routing rules resource (`POST/GET/PATCH/DELETE /v1/routing-rules`): a tenant's
//! ordered rules that choose a notification's channel and the provider account to try
//! first (see [`pombo_contract::routing`] for how they are evaluated, and [`target`] for
//! where: when the API accepts a notification).

pub mod target;

use std::collections::HashMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::extract::PathParams;
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use pombo_contract::{
    Channel,
    routing::{Action, Conditions},
};
use pombo_store::routing_rules::{self, NewRule, RoutingRule, RulePatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Authorized, CanManage, CanRead};
use crate::{
    error::{ApiError, FieldError, Problem},
    extract::JsonBody,
    state::AppState,
};

pub use target::Target;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

/// A routing rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingRuleView {
    pub id: Uuid,
    pub name: String,
    /// Evaluation order: lower first; the first rule that applies decides.
    pub position: i32,
    pub enabled: bool,
    pub conditions: Conditions,
    pub action: Action,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RoutingRule> for RoutingRuleView {
    fn from(r: RoutingRule) -> Self {
        RoutingRuleView {
            id: r.id,
            name: r.name,
            position: r.position,
            enabled: r.enabled,
            conditions: r.conditions,
            action: r.action,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new rule. It applies when every condition holds and the request is open to the
/// channel it chooses; the first that applies decides.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoutingRule {
    /// Unique per tenant: letters, digits, `-` and `_`, up to 64.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: String,
    /// Evaluation order, lower first (default: after the last rule).
    #[serde(default)]
    pub position: Option<i32>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Default: none, so the rule always applies.
    #[serde(default)]
    pub conditions: Conditions,
    pub action: Action,
}

fn yes() -> bool {
    true
}

/// Changes to a rule; `conditions` and `action`, when given, replace the current ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoutingRule {
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub conditions: Option<Conditions>,
    pub action: Option<Action>,
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

/// Checks a rule as a whole, canonicalising its conditions: the pure checks, then its
/// provider account against the tenant's `accounts`. An account that does not exist is
/// an error only in a new `action` (`new_action`): a rule whose account was deleted since
/// can still be edited or disabled (until then it chooses its `channel`, if it has one,
/// without the preference).
fn check_rule(
    conditions: &mut Conditions,
    action: &Action,
    new_action: bool,
    accounts: &HashMap<Uuid, Channel>,
    errors: &mut Vec<FieldError>,
) {
    let found = conditions
        .normalize()
        .into_iter()
        .chain(action.check(conditions));
    errors.extend(found.map(|e| FieldError::new(e.field, e.reason)));
    let Some(id) = action.provider_account_id else {
        return;
    };
    let field = "action.provider_account_id";
    match accounts.get(&id) {
        None if !new_action => {}
        None => errors.push(FieldError::new(
            field,
            format!("no provider account `{id}` for this tenant"),
        )),
        Some(&of_account) => {
            if let Some(channel) = action.channel
                && channel != of_account
            {
                errors.push(FieldError::new(
                    field,
                    format!("the account delivers `{of_account}`, not `{channel}`"),
                ));
            } else if let Some(list) = &conditions.channel_in
                && !list.contains(&of_account)
            {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "the account delivers `{of_account}`, which is not among \
                         `conditions.channel_in`: the rule could never apply"
                    ),
                ));
            }
        }
    }
}

impl CreateRoutingRule {
    /// Every check of a new rule, each problem naming its field, against the tenant's
    /// provider `accounts` (id → channel): what `POST /v1/routing-rules` runs before storing
    /// it. Canonicalises the conditions in place.
    pub fn check(&mut self, accounts: &HashMap<Uuid, Channel>) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        check_name(&self.name, &mut errors);
        check_rule(
            &mut self.conditions,
            &self.action,
            true,
            accounts,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Create a routing rule.
#[utoipa::path(
    post, path = "/v1/routing-rules", tag = "routing",
    request_body = CreateRoutingRule,
    responses(
        (status = 201, description = "Created", body = RoutingRuleView),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid fields (an empty action, an unknown provider account, …)", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    JsonBody(mut body): JsonBody<CreateRoutingRule>,
) -> Result<Response, ApiError> {
    let accounts = routing_rules::account_channels(&state.db, tenant.id).await?;
    body.check(&accounts)?;
    let rule = routing_rules::create(
        &state.db,
        tenant.id,
        NewRule {
            name: body.name,
            position: body.position,
            enabled: body.enabled,
            conditions: body.conditions,
            action: body.action,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(RoutingRuleView::from(rule))).into_response())
}

/// The tenant's routing rules, in evaluation order.
#[utoipa::path(
    get, path = "/v1/routing-rules", tag = "routing",
    responses(
        (status = 200, description = "The rules, in evaluation order", body = RoutingRuleList),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
) -> Result<Json<RoutingRuleList>, ApiError> {
    let rules = routing_rules::list(&state.db, tenant.id).await?;
    Ok(Json(RoutingRuleList {
        data: rules.into_iter().map(RoutingRuleView::from).collect(),
    }))
}

/// `GET /v1/routing-rules`: every rule at once (a tenant has few), in the `data` of every
/// list of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingRuleList {
    pub data: Vec<RoutingRuleView>,
}

/// One routing rule.
#[utoipa::path(
    get, path = "/v1/routing-rules/{id}", tag = "routing",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule", body = RoutingRuleView),
        (status = 404, description = "No such rule for this tenant", body = Problem),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn read(
    State(state): State<AppState>,
    tenant: Authorized<CanRead>,
    PathParams(id): PathParams<String>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    let rule = routing_rules::get(&state.db, tenant.id, rule_id(&id)?)
        .await
        .map_err(ApiError::unless_found("routing rule"))?;
    Ok(Json(rule.into()))
}

/// Change a routing rule. Notifications already accepted keep what their rule decided.
#[utoipa::path(
    patch, path = "/v1/routing-rules/{id}", tag = "routing",
    params(("id" = Uuid, Path, description = "Rule id")),
    request_body = UpdateRoutingRule,
    responses(
        (status = 200, description = "The rule", body = RoutingRuleView),
        (status = 404, description = "No such rule for this tenant", body = Problem),
        (status = 409, description = "The name is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn update(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<UpdateRoutingRule>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    let id = rule_id(&id)?;
    let current = routing_rules::get(&state.db, tenant.id, id)
        .await
        .map_err(ApiError::unless_found("routing rule"))?;
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(name, &mut errors);
    }
    // The rule as it will be, checked whole: new conditions must suit the kept action.
    let mut conditions = body.conditions.unwrap_or(current.conditions);
    let new_action = body.action.is_some();
    let action = body.action.unwrap_or(current.action);
    let accounts = routing_rules::account_channels(&state.db, tenant.id).await?;
    check_rule(&mut conditions, &action, new_action, &accounts, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rule = routing_rules::update(
        &state.db,
        tenant.id,
        id,
        RulePatch {
            name: body.name,
            position: body.position,
            enabled: body.enabled,
            conditions: Some(conditions),
            action: Some(action),
        },
    )
    .await
    .map_err(ApiError::unless_found("routing rule"))?;
    Ok(Json(rule.into()))
}

/// Remove a routing rule.
#[utoipa::path(
    delete, path = "/v1/routing-rules/{id}", tag = "routing",
    params(("id" = Uuid, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such rule for this tenant", body = Problem),
    ),
    security(("api_key" = ["manage"]))
)]
pub async fn remove(
    State(state): State<AppState>,
    tenant: Authorized<CanManage>,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    routing_rules::delete(&state.db, tenant.id, rule_id(&id)?)
        .await
        .map_err(ApiError::unless_found("routing rule"))?;
    Ok(StatusCode::NO_CONTENT)
}

fn rule_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such routing rule".into()))
}
