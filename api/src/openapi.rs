//! The OpenAPI document (served at `/openapi.json`, browsable at `/docs`).
//!
//! Exact, error answers included: each handler's `#[utoipa::path]` lists its success and
//! the problems only it has (a 409 for a taken name, a 422 for data a template lacks…), and
//! [`ProblemResponses`] adds the ones that come from what the route takes, the same for
//! every route: the API key (401, 403, 429), a JSON body (400, 413, 415, 422), a path
//! parameter (404) and a query string (422). Every problem is `application/problem+json`.
//! `make test` holds the document to the server with schemathesis
//! (`scripts/schemathesis.sh`).

use utoipa::{
    Modify, OpenApi,
    openapi::{
        Content, HeaderBuilder, ObjectBuilder, RefOr, ResponseBuilder, Type,
        path::{Operation, ParameterIn},
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
    },
};

use crate::error;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pombo",
        description = "Notification delivery on Temporal: every notification is a durable workflow."
    ),
    components(schemas(error::Problem, error::FieldError)),
    tags(
        (name = "notifications", description = "Send notifications and follow their delivery"),
        (name = "operations", description = "Review, redrive and cancel: the dead-letter queue, as failed workflows"),
        (name = "providers", description = "The provider accounts that deliver a tenant's notifications"),
        (name = "recipients", description = "Stored recipient profiles (sealed at rest): a notification may name one instead of an address"),
        (name = "routing", description = "Per-tenant routing rules that choose a notification's channel and preferred provider account"),
        (name = "templates", description = "Stored message templates per tenant: versioned, with variants per locale and channel"),
        (name = "files", description = "Files uploaded for notifications, kept in S3-compatible object storage, downloaded through presigned URLs"),
        (name = "keys", description = "A tenant's own API keys (scope `manage`)"),
        (name = "admin", description = "Tenants and their keys, for the server's administrators (scope `admin`)"),
        (name = "operators", description = "Operators' sign-in (password and TOTP) for the admin page: a session cookie that then authenticates `read` and `operate` requests for a granted tenant named in `X-Pombo-Tenant`, with `X-CSRF-Token` on changes"),
        (name = "conversations", description = "Two-way messaging: what people write to a tenant's provider accounts, one conversation per contact and account, messages both ways"),
        (name = "analytics", description = "Delivery figures: counts, rates and times per hour or day, per channel, provider, priority, type or template"),
        (name = "events", description = "The event log: every state change of a tenant's notifications, conversations and messages, in order, from a cursor"),
        (name = "webhooks", description = "Webhook subscriptions: endpoints that receive the event log's events, signed the Standard Webhooks way, retried on a schedule, with their attempts, resend and recover"),
        (name = "hub", description = "The chat hub: a tenant's chat platforms, their rooms and each message's delivery on every platform"),
        (name = "hub-protocol", description = "The chat hub's protocol for the platforms themselves (source document 003), each authenticated by its own token"),
        (name = "callbacks", description = "Delivery reports and inbound messages from providers (signed by them, not by an API key)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// The document once the routes have added their paths ([`crate::api_routes`]): the
/// security schemes, and every route's problems from what it takes.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    BearerAuth.modify(&mut document);
    ProblemResponses.modify(&mut document);
    document
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The admin page's alternative to a key: routes needing `read` or `operate` also
        // take a signed-in operator's session, with `X-Pombo-Tenant` and, on changes,
        // `X-CSRF-Token` (see the `operators` tag).
        components.add_security_scheme(
            "operator_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::operators::session::COOKIE,
                "A signed-in operator's session (POST /v1/operator/session)",
            ))),
        );
    }
}

/// Adds to every operation the problems its inputs can produce (see the module's doc), and
/// serves every problem as `application/problem+json`. An answer a handler already
/// declares keeps its own description.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_problems(operation);
                problems_as_problem_json(operation);
                add_operator_session(operation);
            }
        }
    }
}

/// The scope an operation's `security` names, if it is secured by an API key.
fn scope_of(operation: &Operation) -> Option<String> {
    let security = serde_json::to_value(operation.security.as_ref()?).ok()?;
    security[0]["api_key"][0].as_str().map(str::to_owned)
}

/// Routes needing an operator's scope (`read`, `operate`) also take an operator's session:
/// declared here, once, from `auth::OPERATOR_SCOPES`, as the alternative to the API key.
fn add_operator_session(operation: &mut Operation) {
    let Some(scope) = scope_of(operation) else {
        return;
    };
    if !crate::auth::OPERATOR_SCOPES
        .iter()
        .any(|s| s.as_str() == scope)
    {
        return;
    }
    if let Some(security) = operation.security.as_mut() {
        security.push(SecurityRequirement::new("operator_session", [scope]));
    }
}

fn add_problems(operation: &mut Operation) {
    let scope = scope_of(operation);
    // Tenant routes and the hub's protocol (authenticated by a token in the body) read
    // their JSON body with `JsonBody` (the batch route with its own larger limit, to the
    // same effect); the provider callbacks read theirs raw and declare their answers
    // themselves.
    let hub_protocol = operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == "hub-protocol"));
    let json_body = (scope.is_some() || hub_protocol)
        && operation
            .request_body
            .as_ref()
            .is_some_and(|body| body.content.contains_key("application/json"));
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
    let (in_path, in_query) = (takes(ParameterIn::Path), takes(ParameterIn::Query));

    let mut problems: Vec<(u16, String)> = Vec::new();
    if let Some(scope) = &scope {
        problems.push((
            401,
            "No API key, or an unknown, revoked or expired one (`WWW-Authenticate: Bearer`)".into(),
        ));
        problems.push((
            403,
            format!("The key lacks the `{scope}` scope, or its tenant is disabled"),
        ));
        problems.push((
            429,
            "Over the tenant's request rate (`api.rate_limit`): retry after `Retry-After` seconds"
                .into(),
        ));
    }
    if hub_protocol {
        problems.push((
            429,
            "Over the client address's rate or failed tokens (`api.callback_rate_limit`): retry after `Retry-After` seconds"
                .into(),
        ));
    }
    if json_body {
        problems.push((400, "Malformed JSON (`detail` says where)".into()));
        problems.push((413, "Body larger than the limit (`detail` says it)".into()));
        problems.push((
            415,
            "Not JSON: send `Content-Type: application/json`".into(),
        ));
        problems.push((
            422,
            "Invalid fields: `errors` names each with its reason".into(),
        ));
    }
    if in_path {
        problems.push((404, "Nothing of this tenant's has that id".into()));
    }
    if in_query {
        problems.push((
            422,
            "Invalid query parameters: `errors` names each with its reason".into(),
        ));
    }

    let responses = &mut operation.responses.responses;
    for (status, description) in problems {
        let status = status.to_string();
        if responses.contains_key(&status) {
            continue;
        }
        let mut response = ResponseBuilder::new()
            .description(description)
            .content(crate::error::PROBLEM_JSON, problem_content());
        match status.as_str() {
            "401" => {
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("`Bearer`"))
                        .build(),
                );
            }
            "429" => {
                for (name, description) in [
                    ("Retry-After", "Seconds until a request is allowed again"),
                    (
                        "RateLimit-Limit",
                        "Requests allowed at once (`api.rate_limit.burst`)",
                    ),
                    ("RateLimit-Remaining", "0"),
                    (
                        "RateLimit-Reset",
                        "Seconds until a request is allowed again",
                    ),
                ] {
                    response = response.header(
                        name,
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::Integer))
                            .description(Some(description))
                            .build(),
                    );
                }
            }
            _ => {}
        }
        responses.insert(status, RefOr::T(response.build()));
    }
}

fn problem_content() -> Content {
    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
        "Problem",
    ))))
}

/// `body = Problem` in a handler's attribute says `application/json`: the server says
/// `application/problem+json`.
fn problems_as_problem_json(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let is_problem = response.content.get("application/json").is_some_and(
            |c| matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem")),
        );
        if is_problem && let Some(content) = response.content.shift_remove("application/json") {
            response
                .content
                .insert(crate::error::PROBLEM_JSON.to_owned(), content);
        }
    }
}
