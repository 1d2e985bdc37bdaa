//! The OpenAPI document (served at `/openapi.json`, browsable at `/docs`).

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    batches, callbacks, error, files, health, notifications, operators, providers, recipients,
    routing_rules, templates, tenants,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pombo",
        description = "Notification delivery on Temporal: every notification is a durable workflow."
    ),
    paths(
        notifications::create,
        notifications::read,
        notifications::list,
        batches::create,
        batches::read,
        batches::members,
        notifications::timeline::list_events,
        notifications::timeline::report_status,
        notifications::admin::retry_one,
        notifications::admin::retry_many,
        notifications::admin::cancel,
        notifications::admin::audit_log,
        providers::create,
        providers::list,
        providers::read,
        providers::update,
        providers::remove,
        recipients::create,
        recipients::list,
        recipients::read,
        recipients::update,
        recipients::remove,
        routing_rules::create,
        routing_rules::list,
        routing_rules::read,
        routing_rules::update,
        routing_rules::remove,
        templates::create,
        templates::list,
        templates::read,
        templates::read_version,
        templates::update,
        templates::remove,
        templates::preview,
        files::upload,
        files::read,
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::update_tenant,
        tenants::list_tenant_keys,
        tenants::create_tenant_key,
        tenants::revoke_tenant_key,
        tenants::list_own_keys,
        tenants::create_own_key,
        tenants::revoke_own_key,
        operators::sign_in,
        operators::read_session,
        operators::sign_out,
        callbacks::handler::receive,
        health::healthz,
        health::readyz,
    ),
    components(schemas(error::Problem, error::FieldError)),
    modifiers(&BearerAuth),
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
        (name = "callbacks", description = "Delivery reports from providers (signed by them, not by an API key)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

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
